//! `ltiscope serve`: the collector with its API and dashboard, the background rollup
//! refresher and the retention it enforces.

use super::{Derived, create_key, now, open_store, refresh_rollups};
use crate::args::ServeArgs;
use crate::settings::Settings;
use anyhow::Context;
use ltiscope_ingest::generate::{Generator, Options, Platform};
use ltiscope_model::Timestamp;
use ltiscope_pipeline::Pipeline;
use ltiscope_serve::auth::Scope;
use ltiscope_store::Store;

/// How often the collector rolls up what it stored.
const ROLLUP_REFRESH: std::time::Duration = std::time::Duration::from_secs(10);

pub(super) fn serve(a: ServeArgs, settings: &Settings) -> anyhow::Result<()> {
    let server = settings.server(&a)?;
    let pipeline = settings.pipeline()?;
    let mut store = open_store(settings, Derived::Follow(&pipeline))?;
    if let Some(launches) = a.demo {
        load_demo(&mut store, &pipeline, launches)?;
    }
    // The collector's writer and the report readers share one memory budget.
    store.set_memory_limit(settings.db_memory_bytes)?;
    // Reports read through their own handles, beside the writer.
    let readers = (0..2)
        .map(|_| store.reader())
        .collect::<Result<Vec<_>, _>>()
        .context("opening read handles on the database")?;
    // Rollups are refreshed in the background, so a report rarely has to wait for one; the
    // retention purge runs on the same thread, so the two never overlap in this process.
    let mut refresher = store
        .reader()
        .context("opening the rollup refresher's handle on the database")?;
    let retention = server
        .keep_days
        .map(|days| Retention::new(days, settings.reports.options.timezone));
    // Stopped (and joined) before the process exits: a refresh still running while the
    // database is torn down at exit crashed the process after a clean shutdown.
    let (stop_refresher, stopped) = std::sync::mpsc::channel::<()>();
    let refresher = std::thread::Builder::new()
        .name("rollups".into())
        .spawn(move || {
            let mut retention = retention;
            loop {
                if let Some(r) = &mut retention {
                    r.enforce(&mut refresher);
                }
                if let Err(e) = refresher.refresh_rollups() {
                    tracing::warn!(error = %e, "refreshing report rollups failed; retrying later");
                }
                if !matches!(
                    stopped.recv_timeout(ROLLUP_REFRESH),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                ) {
                    break;
                }
            }
        })
        .context("starting the rollup refresher")?;
    let active: Vec<_> = store
        .keys()?
        .into_iter()
        .filter(|k| k.revoked_at.is_none())
        .collect();
    if !active
        .iter()
        .any(|k| k.scope.starts_with("ingest:") || k.scope == "admin")
    {
        // Never anonymous: a local trial gets a generated key instead.
        let scope = Scope::Ingest("any".into());
        let (key, id) = create_key(&mut store, "generated at first start", &scope)?;
        eprintln!(
            "no ingest keys configured: created key #{id} (ingest:any), shown once:\n\n    {key}\n\nsend it as `Authorization: Bearer <key>`; manage keys with `ltiscope keys`"
        );
    }
    if !active
        .iter()
        .any(|k| k.scope == "read" || k.scope == "admin")
    {
        // The dashboard needs a read key; a local trial gets one, printed once.
        let name = "dashboard, generated at first start";
        let (key, id) = create_key(&mut store, name, &Scope::Read)?;
        eprintln!(
            "no read keys configured: created key #{id} (read) for the dashboard and API, shown once:\n\n    {key}\n"
        );
    }
    let keys =
        ltiscope_serve::auth::Keys::new(ltiscope_serve::auth::KeyRing::from_stored(&store.keys()?));
    // A checkpoint runs inside a commit and holds every waiting request; rarer, larger ones
    // cost less in all (256 MiB against 16 MiB: 1.7x the throughput and a shorter tail over
    // 600,000 events, see docs/benchmarks-history.md).
    store.set_checkpoint_threshold(server.checkpoint_bytes)?;
    // One DuckDB thread in the collector: with two, the writer and the inbox mover spun on a
    // mutex while DuckDB's worker compressed their commits (a third of the mover's CPU), and
    // on two cores that CPU is the parsers'. At 32 senders: 14-21% less server CPU and 15-25%
    // more events/s; reports from the rollups as fast, over raw launch records 1.7-3.5x
    // slower (docs/benchmarks-history.md, "One DuckDB thread in the collector").
    store.set_threads(1)?;
    eprintln!(
        "ltiscope serve: store={} pii={} listen=http://{} max_body_bytes={} queue={} commit_window={}ms header_timeout={}s body_timeout={}s tool_rules={} timezone={} suppress_below={} keep_days={}",
        settings.store,
        settings.pii.as_str(),
        server.listen,
        server.max_body_bytes,
        server.queue,
        server.commit_window.as_millis(),
        server.header_timeout.as_secs(),
        server.body_timeout.as_secs(),
        settings.tool_rules.len(),
        settings.reports.options.timezone.name(),
        settings
            .reports
            .options
            .suppress_below
            .map_or("off".to_owned(), |k| k.to_string()),
        server.keep_days.map_or("all".to_owned(), |d| d.to_string())
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let metrics = std::sync::Arc::new(ltiscope_serve::metrics::Metrics::default());
    let (writer, writer_thread) = ltiscope_serve::writer::Writer::spawn(
        store,
        ltiscope_serve::writer::WriterConfig {
            queue: server.queue,
            window: server.commit_window,
            max_group_events: 20_000,
        },
        std::sync::Arc::clone(&metrics),
    )
    .context("starting the writer thread")?;
    let limits = ltiscope_serve::Limits {
        max_body_bytes: server.max_body_bytes,
        header_timeout: server.header_timeout,
        body_timeout: server.body_timeout,
        ..ltiscope_serve::Limits::default()
    };
    let state = std::sync::Arc::new(ltiscope_serve::AppState {
        pipeline,
        writer,
        keys,
        metrics,
        limits,
        reads: ltiscope_serve::api::ReadSide {
            readers: ltiscope_serve::api::Readers::new(readers),
            options: settings.reports.options.clone(),
            defaults: settings.reports.params(now()),
            keep_days: server.keep_days,
        },
    });
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(server.listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {} (in use? choose another with --listen)",
                    server.listen
                )
            })?;
        let addr = listener.local_addr()?;
        eprintln!("listening on http://{addr}");
        eprintln!(
            "dashboard at http://{addr}/ · reports API under /api/v1 · ingest at /caliper, /xapi/statements, /brightspace"
        );
        ltiscope_serve::serve(listener, state, shutdown_signal()).await?;
        anyhow::Ok(())
    })?;
    // Every request handle is gone: the writer commits what is queued, then stops.
    drop(runtime);
    let _store = writer_thread
        .join()
        .map_err(|_| anyhow::anyhow!("the writer thread panicked"))?;
    drop(stop_refresher);
    refresher
        .join()
        .map_err(|_| anyhow::anyhow!("the rollup refresher panicked"))?;
    eprintln!("stopped; everything acknowledged is stored");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    eprintln!("shutting down: finishing requests in flight");
}

/// Loads generated demo launches into an empty database, so a newcomer sees data at once.
fn load_demo(store: &mut Store, pipeline: &Pipeline, launches: u64) -> anyhow::Result<()> {
    if store.has_launches()? {
        eprintln!("--demo: the database already has launches; not loading demo data");
        return Ok(());
    }
    eprintln!("--demo: loading {launches} generated launches ...");
    // A term that ended today, so "last 90 days" views are full.
    let mut opts = Options::new(Platform::Mixed, launches, 1);
    opts.days = 105;
    opts.start = now() - chrono::Duration::days(105);
    let received = now();
    let mut lines = Vec::new();
    let mut total = ltiscope_store::WriteOutcome::default();
    let mut flush = |lines: &mut Vec<u8>, store: &mut Store| -> anyhow::Result<()> {
        let batch = pipeline.prepare_lines(lines, 1, None, received, "demo");
        total += store.write(&batch)?;
        lines.clear();
        Ok(())
    };
    for (i, doc) in Generator::new(opts).enumerate() {
        lines.extend_from_slice(doc.as_bytes());
        lines.push(b'\n');
        if i % 5000 == 4999 {
            flush(&mut lines, store)?;
        }
    }
    flush(&mut lines, store)?;
    eprintln!(
        "--demo: stored {} launch records, {} other events",
        total.launches, total.non_lti
    );
    refresh_rollups(store)?;
    Ok(())
}

/// The collector's retention: everything that happened before the first of the kept days
/// is deleted, at start and whenever a day passes.
struct Retention {
    keep_days: u32,
    timezone: ltiscope_report::Tz,
    /// The cutoff of the last purge that succeeded.
    done: Option<Timestamp>,
}

impl Retention {
    fn new(keep_days: u32, timezone: ltiscope_report::Tz) -> Self {
        Retention {
            keep_days,
            timezone,
            done: None,
        }
    }

    /// Purges up to today's cutoff unless that is done; a failure is logged and tried again
    /// on the next call.
    fn enforce(&mut self, store: &mut Store) {
        let cutoff = match ltiscope_report::retention_cutoff(now(), self.keep_days, self.timezone) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "retention: no cutoff");
                return;
            }
        };
        if self.done.is_some_and(|d| d >= cutoff) {
            return;
        }
        match store.purge(cutoff, false) {
            Ok(o) => {
                self.done = Some(cutoff);
                if o.launch_records + o.events + o.quarantined + o.ingest_log > 0 {
                    eprintln!(
                        "retention (keep {} days): deleted what happened before {}: {} launch records, {} events, {} quarantined items, {} ingest log rows",
                        self.keep_days,
                        cutoff.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        o.launch_records,
                        o.events,
                        o.quarantined,
                        o.ingest_log
                    );
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "retention purge failed; retrying later");
            }
        }
    }
}
