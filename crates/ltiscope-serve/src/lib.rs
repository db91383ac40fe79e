//! The HTTP collector, `ltiscope serve`: the only crate that knows HTTP.
//!
//! Endpoints: `POST /caliper` (Caliper Sensor API, what Blackboard Learn's Caliper Event Store
//! registration points at) and `GET /caliper` (its endpoint configuration); `POST`/`PUT
//! /xapi/statements` (any xAPI client or LRS forwarder); `POST /brightspace` (the Brightspace
//! Data Streams webhook); `GET /healthz`, `/readyz`, `/metrics`; the reports API under
//! `/api/v1` ([`api`], described by [`openapi`]) and the dashboard at `/`.
//!
//! Every ingest request goes through the same write path as `ltiscope import`
//! (`ltiscope_pipeline::Pipeline`), then to the single [`writer`] thread, and is answered only
//! after its group commit: a 2xx means durably stored. The queue in front of the writer is
//! bounded; when full the answer is 503 with `Retry-After`.

pub mod api;
pub mod auth;
mod dashboard;
mod error;
mod handlers;
pub mod metrics;
pub mod openapi;
pub mod writer;

pub use error::ApiError;

use auth::{KeyRing, Keys};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use ltiscope_pipeline::Pipeline;
use metrics::Metrics;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use writer::Writer;

/// Limits and tuning of the collector.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted (compressed size).
    pub max_body_bytes: usize,
    /// Largest body after gzip inflation.
    pub max_inflated_bytes: usize,
    /// Time allowed to receive the request headers.
    pub header_timeout: Duration,
    /// Time allowed to receive the request body.
    pub body_timeout: Duration,
    /// Seconds clients are told to wait when the queue is full.
    pub retry_after_seconds: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 10 * 1024 * 1024,
            max_inflated_bytes: 50 * 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            retry_after_seconds: 2,
        }
    }
}

/// Shared state of all requests.
pub struct AppState {
    /// Parse and redact.
    pub pipeline: Pipeline,
    /// The group-commit writer.
    pub writer: Writer,
    /// Active keys, reloaded from the store while serving.
    pub keys: Keys,
    /// Counters and histograms.
    pub metrics: Arc<Metrics>,
    /// Limits.
    pub limits: Limits,
    /// The reports API and dashboard: read handles and report options.
    pub reads: api::ReadSide,
}

/// The router, for serving and for in-process tests.
pub fn router(state: Arc<AppState>) -> axum::Router {
    handlers::routes(state)
}

/// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests finish (up
/// to 30 s) and returns. Headers must arrive within `limits.header_timeout` (slow senders are
/// cut off), bodies within `limits.body_timeout`.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let header_timeout = state.limits.header_timeout;
    let reload = tokio::spawn(reload_keys(Arc::clone(&state)));
    let app = router(state);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin or exit.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    reload.abort();
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(30)) => {
            tracing::warn!("connections still open after 30 s; closing");
        }
    }
    Ok(())
}

/// How often the key ring is reloaded from the store.
pub const KEY_RELOAD: Duration = Duration::from_secs(5);

/// Reloads the key ring from the store every [`KEY_RELOAD`], through a read handle. A failed
/// reload keeps the ring in force (and says so in the log).
async fn reload_keys(state: Arc<AppState>) {
    loop {
        tokio::time::sleep(KEY_RELOAD).await;
        match state.reads.readers.with(|store| store.keys()).await {
            Ok(Ok(rows)) => state.keys.replace(KeyRing::from_stored(&rows)),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "reloading api keys failed; keeping the keys in force")
            }
            Err(e) => {
                tracing::warn!(error = ?e, "reloading api keys failed; keeping the keys in force")
            }
        }
    }
}
