//! `skycamp up --processes`: every service as its own OS process (`skycamp serve <service>`),
//! sharing the data dir and its event log, so one can be killed and started again on its own.
//! This process only supervises: it forwards SIGTERM/Ctrl-C to every child and waits for them.
//! A child that dies is reported, not restarted (that is the orchestrator's job in a cluster).

use std::process::Stdio;

use tokio::process::{Child, Command};

use crate::app::{Service, Settings};

/// The command line of `skycamp serve <service>` for `settings` (the URLs point at the siblings).
pub fn serve_args(settings: &Settings, service: Service) -> Vec<String> {
    let mut args =
        vec!["serve".into(), service.name().into(), "--data-dir".into(), settings.data_dir.display().to_string()];
    args.extend(["--bind".into(), settings.bind.to_string()]);
    for s in Service::ALL {
        args.push(format!("--{}-port", s.name()));
        args.push(settings.ports[&s].to_string());
        if s != Service::Gateway {
            args.push(format!("--{}-url", s.name()));
            args.push(format!("http://{}:{}", settings.bind, settings.ports[&s]));
        }
    }
    args
}

/// Starts every service as a child process running this same executable.
pub fn spawn_all(settings: &Settings, passthrough: &[String]) -> anyhow::Result<Vec<(Service, Child)>> {
    let exe = std::env::current_exe()?;
    Service::ALL
        .iter()
        .map(|&s| {
            let child = Command::new(&exe)
                .args(serve_args(settings, s))
                .args(passthrough)
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .spawn()?;
            tracing::info!(service = s.name(), pid = child.id(), "service process started");
            Ok((s, child))
        })
        .collect()
}

/// Waits for SIGTERM/Ctrl-C (forwarding SIGTERM to every child) or for a child to exit.
pub async fn supervise(mut children: Vec<(Service, Child)>) -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let first_exit = async {
        let waits = children.iter_mut().map(|(s, c)| Box::pin(async move { (*s, c.wait().await) }));
        futures::future::select_all(waits).await.0
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
        (service, status) = first_exit => tracing::error!(service = service.name(), ?status, "service process exited; stopping the rest"),
    }
    for (s, child) in &children {
        if let Some(pid) = child.id() {
            tracing::info!(service = s.name(), pid, "sending SIGTERM");
            let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status().await;
        }
    }
    for (s, mut child) in children {
        let status = child.wait().await?;
        tracing::info!(service = s.name(), ?status, "service process stopped");
    }
    Ok(())
}
