//! `skycamp up --processes`: every service as its own OS process (`skycamp serve <service>`),
//! sharing the data dir and its event log, so one can be killed and started again on its own.
//! With `--instances N` (PostgreSQL and Kafka only) every service runs N times.
//! This process only supervises: it forwards SIGTERM/Ctrl-C to every child and waits for them.
//! A child that dies is reported, not restarted (that is the orchestrator's job in a cluster).

use std::collections::BTreeMap;
use std::process::Stdio;

use tokio::process::{Child, Command};

use crate::app::{Service, Settings};

/// Where each instance of each service listens.
pub type Layout = BTreeMap<Service, Vec<u16>>;

/// `instances` instances of every service: the service's port, then 100 higher per instance
/// (gateway 8080, 8180, …; reservation 8081, 8181, …).
pub fn layout(settings: &Settings, instances: u16) -> anyhow::Result<Layout> {
    Service::ALL
        .iter()
        .map(|&s| {
            let ports = (0..instances)
                .map(|k| {
                    settings.ports[&s]
                        .checked_add(100 * k)
                        .ok_or_else(|| anyhow::anyhow!("{} instances of {} run out of ports", instances, s.name()))
                })
                .collect::<anyhow::Result<Vec<u16>>>()?;
            Ok((s, ports))
        })
        .collect()
}

/// The command line of `skycamp serve <service>` for instance `k` of `layout`: its own port, and
/// every instance of every sibling as that sibling's URL list.
pub fn instance_args(settings: &Settings, layout: &Layout, service: Service, k: usize) -> Vec<String> {
    let mut args =
        vec!["serve".into(), service.name().into(), "--data-dir".into(), settings.data_dir.display().to_string()];
    args.extend(["--bind".into(), settings.bind.to_string()]);
    args.extend(["--port".into(), layout[&service][k].to_string()]);
    if settings.auth.mode == crate::app::AuthMode::Off {
        // `up` runs open on purpose (and says so); its children are told the same explicitly.
        args.push("--insecure".into());
    }
    for s in Service::ALL {
        if s != Service::Gateway {
            let urls: Vec<String> = layout[&s].iter().map(|p| format!("http://{}:{p}", settings.bind)).collect();
            args.push(format!("--{}-url", s.name()));
            args.push(urls.join(","));
        }
    }
    args
}

/// The command line of `skycamp serve <service>` for `settings` (the URLs point at the siblings).
pub fn serve_args(settings: &Settings, service: Service) -> Vec<String> {
    let one_each: Layout = Service::ALL.iter().map(|s| (*s, vec![settings.ports[s]])).collect();
    instance_args(settings, &one_each, service, 0)
}

/// The secrets a child process needs, as its environment: secrets never travel on a command line
/// (other users can read it in `ps`).
pub fn child_env(settings: &Settings) -> Vec<(&'static str, String)> {
    let mut env = vec![(crate::config::INTERNAL_KEY, settings.internal_key.expose())];
    env.extend(crate::config::database_url(settings).map(|url| ("SKYCAMP_DATABASE_URL", url.to_owned())));
    env
}

/// Starts every instance of every service in `layout` as a child process running this same
/// executable, with `settings` (see [`crate::config::child_env`]) in its environment.
pub fn spawn_all(
    settings: &Settings,
    layout: &Layout,
    env: &[(String, String)],
) -> anyhow::Result<Vec<(Service, Child)>> {
    let exe = std::env::current_exe()?;
    let mut children = Vec::new();
    for &s in &Service::ALL {
        for k in 0..layout[&s].len() {
            let child = Command::new(&exe)
                .args(instance_args(settings, layout, s, k))
                .envs(env.iter().map(|(k, v)| (k, v)))
                .envs(child_env(settings))
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .spawn()?;
            tracing::info!(
                service = s.name(),
                instance = k,
                port = layout[&s][k],
                pid = child.id(),
                "service process started"
            );
            children.push((s, child));
        }
    }
    Ok(children)
}

/// Waits for SIGTERM/Ctrl-C (forwarding SIGTERM to every child), or until every instance of some
/// service has exited; an instance that dies while others of its service run is only reported.
pub async fn supervise(mut children: Vec<(Service, Child)>, mut signals: crate::app::Signals) -> anyhow::Result<()> {
    loop {
        let exited = {
            let waits =
                children.iter_mut().enumerate().map(|(i, (s, c))| Box::pin(async move { (i, *s, c.wait().await) }));
            let first_exit = futures::future::select_all(waits);
            tokio::select! {
                _ = signals.wait() => None,
                ((i, service, status), _, _) = first_exit => Some((i, service, status)),
            }
        };
        let Some((i, service, status)) = exited else { break };
        children.remove(i);
        let left = children.iter().filter(|(s, _)| *s == service).count();
        if left == 0 {
            tracing::error!(
                service = service.name(),
                ?status,
                "the last instance of a service exited; stopping the rest"
            );
            break;
        }
        tracing::error!(service = service.name(), ?status, left, "a service instance exited; the others carry on");
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
