//! Where messages go: a small port with a log adapter and a webhook adapter.

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::Message;

/// Delivers one message; an error means "try again later".
#[async_trait]
pub trait Sender: Send + Sync + 'static {
    async fn send(&self, message: &Message) -> anyhow::Result<()>;
}

/// Writes messages to the log (the default; nothing leaves the machine).
pub struct Log;

#[async_trait]
impl Sender for Log {
    async fn send(&self, m: &Message) -> anyhow::Result<()> {
        tracing::info!(message_id = m.id, phone = %m.phone, topic = %m.topic, text = %m.text, "message delivered to the log");
        Ok(())
    }
}

/// POSTs each message as JSON to a URL; any non-2xx answer is retried later.
pub struct Webhook {
    http: reqwest::Client,
    url: String,
}

impl Webhook {
    pub fn new(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self { http: reqwest::Client::builder().timeout(timeout).build()?, url: url.to_owned() })
    }
}

#[async_trait]
impl Sender for Webhook {
    async fn send(&self, m: &Message) -> anyhow::Result<()> {
        self.http.post(&self.url).json(m).send().await?.error_for_status()?;
        Ok(())
    }
}
