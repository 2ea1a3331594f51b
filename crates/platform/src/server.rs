//! The HTTP/1.1 server every service runs: hyper with limits a hostile client cannot outlast.
//!
//! - **Connection cap**: at most [`ClientLimits::max_connections`] connections at once; one more
//!   is answered `503` (problem+json, `Retry-After`) and closed, so idle or slow clients can never
//!   hold more memory than the cap allows.
//! - **Header read timeout**, which in hyper also bounds how long a kept-alive connection may sit
//!   idle before its next request: a client that sends half a header, or nothing, is cut off.
//! - **Body read deadline**: the whole body must arrive within [`ClientLimits::body_timeout`] of
//!   the head; a body read after that fails with [`BodyTimeout`], answered `408`.
//! - **Bounded buffers**: the request head may be at most [`MAX_HEAD_BYTES`]. hyper answers an
//!   oversized or malformed head itself with an empty `431`/`414`/`400`; [`ProblemIo`] rewrites those
//!   answers into problem documents like every other error.
//!
//! Graceful shutdown: when the token is cancelled the listener closes, in-flight requests finish
//! and kept-alive connections close after their current response.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// Largest request head (request line and headers) a server reads; more is a `431`.
pub const MAX_HEAD_BYTES: usize = 32 * 1024;

/// How long and how many: what one server allows its clients (`SKYCAMP_HTTP_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    /// Connections open at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// How long a client may take to send a request head, and how long a kept-alive connection
    /// may sit idle waiting for its next request (hyper uses one timer for both).
    pub header_timeout: Duration,
    /// How long a client may take to send a whole request body, counted from its head.
    pub body_timeout: Duration,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self { max_connections: 1024, header_timeout: Duration::from_secs(10), body_timeout: Duration::from_secs(10) }
    }
}

/// Serves `app` on `listener` until `shutdown`, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
    limits: ClientLimits,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(MAX_HEAD_BYTES)
        .max_buf_size(2 * MAX_HEAD_BYTES)
        .keep_alive(true);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of file descriptors and the like: wait a moment rather than spin.
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(turn_away(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        // Every request carries the peer address (per-client limits read it), and its body reads
        // are under the connection's deadline.
        let body_timeout = limits.body_timeout;
        let service = TowerToHyperService::new(app.clone().map_request(move |request: Request<Incoming>| {
            let mut request = request.map(|body| Body::new(DeadlineBody::new(body, body_timeout)));
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        }));
        let connection = http.serve_connection(TokioIo::new(ProblemIo::new(stream)), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Answers a connection over the cap with a 503 problem and closes it, without waiting on a
/// client that does not read.
async fn turn_away(mut stream: TcpStream) {
    let answer = problem_bytes(StatusCode::SERVICE_UNAVAILABLE, "too many connections; try again shortly", true);
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(&answer).await?;
        stream.shutdown().await
    })
    .await;
}

/// A complete HTTP/1.1 problem+json response that closes the connection.
fn problem_bytes(status: StatusCode, detail: &str, retry: bool) -> Vec<u8> {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    })
    .to_string();
    let retry = if retry { "retry-after: 1\r\n" } else { "" };
    format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\n{retry}connection: close\r\n\r\n{body}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes()
}

/// The error a body read gets once the connection's body deadline has passed.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimeout;

/// True when `err` (or its cause) is a [`BodyTimeout`].
pub fn is_body_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(e) = cause {
        if e.is::<BodyTimeout>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// A request body that fails with [`BodyTimeout`] when it has not fully arrived by a deadline.
pub struct DeadlineBody<B> {
    inner: B,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl<B> DeadlineBody<B> {
    pub fn new(inner: B, within: Duration) -> Self {
        Self { inner, deadline: Box::pin(tokio::time::sleep(within)) }
    }
}

impl<B> HttpBody for DeadlineBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        ready!(self.deadline.as_mut().poll(cx));
        Poll::Ready(Some(Err(Box::new(BodyTimeout))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The connection's byte stream, with hyper's own error answers made into problem documents.
///
/// hyper answers a request head it cannot parse (too large: 431; malformed: 400) with a status
/// line and an empty body, and offers no hook to change it. Such an answer is recognisable on the
/// way out (one of those statuses, `content-length: 0`, nothing after the head; every answer of
/// ours has a body) and is replaced by the same status with a problem+json body. hyper closes the
/// connection after it, so nothing follows on the wire.
pub struct ProblemIo<T> {
    inner: T,
    /// A replacement answer still being written: the bytes and how many went out.
    pending: Option<(Vec<u8>, usize)>,
}

impl<T> ProblemIo<T> {
    pub fn new(inner: T) -> Self {
        Self { inner, pending: None }
    }
}

impl<T: AsyncWrite + Unpin> ProblemIo<T> {
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, sent)) = &mut self.pending {
            if *sent == bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *sent += n;
        }
        Poll::Ready(Ok(()))
    }
}

/// The problem document standing in for hyper's empty answer in `buf`, if `buf` is one.
fn replacement_for(buf: &[u8]) -> Option<Vec<u8>> {
    let head = buf.strip_prefix(b"HTTP/1.1 ").or_else(|| buf.strip_prefix(b"HTTP/1.0 "))?;
    let (status, detail) = match head.get(..4)? {
        b"431 " => (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "the request head is too large"),
        b"414 " => (StatusCode::URI_TOO_LONG, "the request URI is too long"),
        b"400 " => (StatusCode::BAD_REQUEST, "the request could not be parsed as HTTP/1.1"),
        _ => return None,
    };
    let lower = buf.to_ascii_lowercase();
    let empty = lower.windows(19).any(|w| w == b"\r\ncontent-length: 0") && lower.ends_with(b"\r\n\r\n");
    empty.then(|| problem_bytes(status, detail, false))
}

impl<T: AsyncRead + Unpin> AsyncRead for ProblemIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ProblemIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if let Some(answer) = replacement_for(buf) {
            self.pending = Some((answer, 0));
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_empty_error_answers_are_replaced_and_ours_are_not() {
        let hyper_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let replaced = String::from_utf8(replacement_for(hyper_431).unwrap()).unwrap();
        assert!(replaced.starts_with("HTTP/1.1 431 "), "{replaced}");
        assert!(replaced.contains("application/problem+json") && replaced.contains("\"status\":431"));
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ncontent-length: 80\r\n\r\n";
        assert!(replacement_for(ours).is_none());
        assert!(replacement_for(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
    }
}
