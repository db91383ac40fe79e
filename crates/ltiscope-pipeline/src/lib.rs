//! The write path, shared by `ltiscope import`, quarantine replay and (next) `ltiscope serve`:
//! bytes → parse and normalise (`ltiscope-ingest`) → redact (`ltiscope-redact`) → store
//! (`ltiscope-store`), one transaction per batch.
//!
//! [`Pipeline::prepare`] is pure (no IO): it turns a body into a [`WriteBatch`] of redacted
//! values. [`import`] streams files through it on worker threads while one writer commits.

pub mod import;
mod priority;
mod rederive;
mod replay;

pub use rederive::{RederiveOptions, rederive};
pub use replay::{ReplayOptions, ReplaySummary, replay_quarantine};

use ltiscope_ingest::{Context, Reason, RejectedBody, Rejection, Sink, ToolResolver};
use ltiscope_model::{Source, Timestamp};
use ltiscope_redact::Redactor;
use ltiscope_store::WriteBatch;

/// Bump when parsing or redaction changes in a way that
/// [`Pipeline::derivation_fingerprint`]'s sample does not show (a shape or a secret it does not
/// hold), so that databases derived before say that a re-derive would change them.
pub const DERIVATION_REVISION: u32 = 1;

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

    /// What this build's parser and this pipeline's redaction make of stored events, as a
    /// short fingerprint: the hash of everything a fixed generated sample (every source,
    /// launches, returns, tool use, non-LTI events, names, emails, addresses and secrets to
    /// redact) becomes, and of [`DERIVATION_REVISION`]. A database keeps the fingerprint its
    /// events were derived by (`Store::derived_alike`), so `serve` and `import` can say when a
    /// `ltiscope rederive` would change them: after an upgrade that parses or redacts
    /// differently, or a change of PII policy or pseudonym key. Tool rules take no part:
    /// stored records follow them on their own (`Store::name_tools`).
    pub fn derivation_fingerprint(&self) -> String {
        use ltiscope_ingest::generate::{Generator, Options, Platform};
        use std::fmt::Write as _;
        let sample: Vec<String> = Generator::new(Options::new(Platform::Mixed, 60, 1)).collect();
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let tools = ToolResolver::default();
        let ctx = Context {
            received_at: at,
            source: None,
            tools: &tools,
        };
        let (mut events, mut rejected) = (Vec::new(), Vec::new());
        ltiscope_ingest::parse_document_into(
            sample.join("\n").as_bytes(),
            &ctx,
            &mut self.redactor.sink(&mut events, &mut rejected),
        );
        let mut text = format!("revision {DERIVATION_REVISION}\n");
        for e in &events {
            let _ = writeln!(text, "{:?}\n{}", e.get().kind, e.get().body);
        }
        for r in &rejected {
            let _ = writeln!(text, "{:?}", r.get().reason);
        }
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
    }

    /// Parses and redacts a whole body (JSON document, array or JSON Lines).
    pub fn prepare(
        &self,
        body: &[u8],
        source: Option<Source>,
        received_at: Timestamp,
        origin: &str,
    ) -> WriteBatch {
        self.redacted(source, received_at, origin, |ctx, sink| {
            ltiscope_ingest::parse_document_into(body, ctx, sink);
        })
    }

    /// Parses and redacts one already-parsed JSON value (envelope, array, event, statement).
    pub fn prepare_value(
        &self,
        value: ltiscope_ingest::Json,
        source: Option<Source>,
        received_at: Timestamp,
        origin: &str,
    ) -> WriteBatch {
        self.redacted(source, received_at, origin, |ctx, sink| {
            ltiscope_ingest::parse_value(value, ctx, sink, 0);
        })
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
        self.redacted(source, received_at, origin, |_, sink| {
            sink.reject(Rejection {
                index: 0,
                reason,
                body,
            });
        })
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
        self.redacted(source, received_at, origin, |ctx, sink| {
            for (i, line) in ltiscope_ingest::lines(lines).enumerate() {
                if !line.trim_ascii().is_empty() {
                    ltiscope_ingest::parse_line(line, ctx, sink, first_line + i);
                }
            }
        })
    }

    /// A batch from `origin` of what `parse` hands to the redactor's sink.
    fn redacted(
        &self,
        source: Option<Source>,
        received_at: Timestamp,
        origin: &str,
        parse: impl FnOnce(&Context<'_>, &mut dyn Sink),
    ) -> WriteBatch {
        let (mut events, mut rejected) = (Vec::new(), Vec::new());
        parse(
            &self.context(source, received_at),
            &mut self.redactor.sink(&mut events, &mut rejected),
        );
        WriteBatch {
            events,
            rejected,
            origin: origin.to_owned(),
            source_hint: source,
            received_at: Some(received_at),
        }
    }
}
