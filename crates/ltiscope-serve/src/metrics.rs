//! Prometheus metrics, kept in atomics and rendered as text at `/metrics`. Every counter is
//! updated in one place (the writer after a commit, the router per request), so names cannot
//! drift between the code that counts and the code that reports.

use ltiscope_store::{WriteBatch, WriteOutcome};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// A latency histogram with fixed buckets (seconds).
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Histogram {
    fn new() -> Self {
        Histogram {
            bounds: BUCKETS,
            counts: BUCKETS.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, seconds: f64) {
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            if seconds <= *b {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, name: &str, help: &str, labels: &str, out: &mut String) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let sep = if labels.is_empty() { "" } else { "," };
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        let n = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {n}");
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(
            out,
            "{name}_sum{braces} {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count{braces} {n}");
    }
}

/// Counters by label set.
#[derive(Default)]
struct Counters(Mutex<BTreeMap<(String, String), u64>>);

impl Counters {
    fn add(&self, a: &str, b: &str, n: u64) {
        if n == 0 {
            return;
        }
        if let Ok(mut m) = self.0.lock() {
            *m.entry((a.to_owned(), b.to_owned())).or_default() += n;
        }
    }

    fn render(&self, name: &str, help: &str, la: &str, lb: &str, out: &mut String) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        if let Ok(m) = self.0.lock() {
            for ((a, b), n) in m.iter() {
                if lb.is_empty() {
                    let _ = writeln!(out, "{name}{{{la}=\"{a}\"}} {n}");
                } else {
                    let _ = writeln!(out, "{name}{{{la}=\"{a}\",{lb}=\"{b}\"}} {n}");
                }
            }
        }
    }
}

/// All metrics of one server.
pub struct Metrics {
    received: Counters,
    stored: Counters,
    duplicates: Counters,
    quarantined: Counters,
    responses: Counters,
    /// Time from request start to response.
    pub request_seconds: Histogram,
    /// Time of one group commit.
    pub commit_seconds: Histogram,
    /// Requests waiting for the writer.
    pub queue_depth: AtomicI64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            received: Counters::default(),
            stored: Counters::default(),
            duplicates: Counters::default(),
            quarantined: Counters::default(),
            responses: Counters::default(),
            request_seconds: Histogram::new(),
            commit_seconds: Histogram::new(),
            queue_depth: AtomicI64::new(0),
        }
    }
}

impl Metrics {
    /// Counts what a committed batch did. `origin` is the endpoint (`caliper`, `xapi`, ...).
    /// With `stored` false (the batch went into the DuckDB inbox), what was stored and what
    /// was a duplicate is counted when it is moved ([`Metrics::record_moved`]).
    pub fn record_outcome(&self, batch: &WriteBatch, outcome: &WriteOutcome, stored: bool) {
        let endpoint = batch.origin.as_str();
        self.received.add(
            endpoint,
            "",
            (batch.events.len() + batch.rejected.len()) as u64,
        );
        if stored {
            self.record_stored(endpoint, outcome);
        }
        for r in &batch.rejected {
            self.quarantined.add(endpoint, r.get().reason.code(), 1);
        }
    }

    /// Counts what a move from the inbox stored, per endpoint.
    pub fn record_moved(&self, moved: &ltiscope_store::Moved) {
        for (endpoint, outcome) in &moved.per_origin {
            self.record_stored(endpoint, outcome);
        }
    }

    fn record_stored(&self, endpoint: &str, outcome: &WriteOutcome) {
        self.stored.add(endpoint, "launch", outcome.launches);
        self.stored.add(endpoint, "non_lti", outcome.non_lti);
        self.duplicates.add(endpoint, "", outcome.duplicates);
    }

    /// Counts a response by endpoint and status.
    pub fn record_response(&self, endpoint: &str, status: u16, seconds: f64) {
        self.responses.add(endpoint, &status.to_string(), 1);
        self.request_seconds.observe(seconds);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.received.render(
            "ltiscope_events_received_total",
            "Events and items received, by endpoint.",
            "endpoint",
            "",
            &mut out,
        );
        self.stored.render(
            "ltiscope_events_stored_total",
            "Events newly stored, by endpoint and kind.",
            "endpoint",
            "kind",
            &mut out,
        );
        self.duplicates.render(
            "ltiscope_events_duplicate_total",
            "Events already stored (sender retries), by endpoint.",
            "endpoint",
            "",
            &mut out,
        );
        self.quarantined.render(
            "ltiscope_events_quarantined_total",
            "Items quarantined, by endpoint and reason.",
            "endpoint",
            "reason",
            &mut out,
        );
        self.responses.render(
            "ltiscope_http_responses_total",
            "HTTP responses, by endpoint and status.",
            "endpoint",
            "status",
            &mut out,
        );
        self.request_seconds.render(
            "ltiscope_http_request_duration_seconds",
            "Time from request to response.",
            "",
            &mut out,
        );
        self.commit_seconds.render(
            "ltiscope_commit_duration_seconds",
            "Time of one group commit.",
            "",
            &mut out,
        );
        let _ = writeln!(
            out,
            "# HELP ltiscope_queue_depth Requests waiting for the writer.\n# TYPE ltiscope_queue_depth gauge\nltiscope_queue_depth {}",
            self.queue_depth.load(Ordering::Relaxed)
        );
        out
    }
}
