//! The write path, shared by `ltiscope import`, quarantine replay and (next) `ltiscope serve`:
//! bytes → parse and normalise (`ltiscope-ingest`) → redact (`ltiscope-redact`) → store
//! (`ltiscope-store`), one transaction per batch.
//!
//! [`Pipeline::prepare`] is pure (no IO): it turns a body into a [`WriteBatch`] of redacted
//! values. [`import`] streams files through it on worker threads while one writer commits.

pub mod import;
mod replay;

pub use replay::{ReplaySummary, replay_quarantine};

use ltiscope_ingest::{Context, ParsedEvent, Reason, RejectedBody, Rejection, Sink, ToolResolver};
use ltiscope_model::{Source, Timestamp};
use ltiscope_redact::Redactor;
use ltiscope_store::WriteBatch;

/// Parsing and redaction settings, shared by every batch.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Tool identity rules.
    pub tools: ToolResolver,
    /// The PII policy.
    pub redactor: Redactor,
}

impl Pipeline {
    /// A pipeline with these rules and this redactor.
    pub fn new(tools: ToolResolver, redactor: Redactor) -> Self {
        Pipeline { tools, redactor }
    }

    fn context(&self, source: Option<Source>, received_at: Timestamp) -> Context<'_> {
        Context {
            received_at,
            source,
            tools: &self.tools,
        }
    }

    /// Parses and redacts a whole body (JSON document, array or JSON Lines).
    pub fn prepare(
        &self,
        body: &[u8],
        source: Option<Source>,
        received_at: Timestamp,
        origin: &str,
    ) -> WriteBatch {
        let mut out = self.batch(source, received_at, origin);
        ltiscope_ingest::parse_document_into(
            body,
            &self.context(source, received_at),
            &mut self.redacting(&mut out),
        );
        out
    }

    /// Parses and redacts one already-parsed JSON value (envelope, array, event, statement).
    pub fn prepare_value(
        &self,
        value: serde_json::Value,
        source: Option<Source>,
        received_at: Timestamp,
        origin: &str,
    ) -> WriteBatch {
        let mut out = self.batch(source, received_at, origin);
        ltiscope_ingest::parse_value(
            value,
            &self.context(source, received_at),
            &mut self.redacting(&mut out),
            0,
        );
        out
    }

    /// Quarantines a whole body that cannot be taken apart (not JSON, not an envelope).
    pub fn quarantine_body(
        &self,
        body: RejectedBody,
        reason: Reason,
        source: Option<Source>,
        received_at: Timestamp,
        origin: &str,
    ) -> WriteBatch {
        let mut out = self.batch(source, received_at, origin);
        self.redacting(&mut out).reject(Rejection {
            index: 0,
            reason,
            body,
        });
        out
    }

    /// Parses and redacts JSON Lines; `first_line` numbers the first line (1-based).
    pub fn prepare_lines(
        &self,
        lines: &[u8],
        first_line: usize,
        source: Option<Source>,
        received_at: Timestamp,
        origin: &str,
    ) -> WriteBatch {
        let ctx = self.context(source, received_at);
        let mut out = self.batch(source, received_at, origin);
        let mut sink = self.redacting(&mut out);
        for (i, line) in lines.split(|b| *b == b'\n').enumerate() {
            if !line.trim_ascii().is_empty() {
                ltiscope_ingest::parse_line(line, &ctx, &mut sink, first_line + i);
            }
        }
        out
    }

    /// An empty batch from `origin`.
    fn batch(&self, source: Option<Source>, received_at: Timestamp, origin: &str) -> WriteBatch {
        WriteBatch {
            events: Vec::new(),
            rejected: Vec::new(),
            origin: origin.to_owned(),
            source_hint: source,
            received_at: Some(received_at),
        }
    }

    fn redacting<'a>(&'a self, out: &'a mut WriteBatch) -> Redacting<'a> {
        Redacting {
            redactor: &self.redactor,
            out,
        }
    }
}

/// The write path's [`Sink`]: each event is redacted the moment it is parsed, while its tree
/// is still in the cache, and only the redacted form is kept.
struct Redacting<'a> {
    redactor: &'a Redactor,
    out: &'a mut WriteBatch,
}

impl Sink for Redacting<'_> {
    fn accept(&mut self, event: ParsedEvent) {
        self.out.events.push(self.redactor.event(event));
    }

    fn reject(&mut self, rejection: Rejection) {
        self.out.rejected.push(self.redactor.rejection(rejection));
    }
}
