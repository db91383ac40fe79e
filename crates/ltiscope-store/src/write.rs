//! What a write stores, decided once for every backend: which events of a group of batches are
//! staged (repeats inside the group are duplicates), how outcomes and the ingest log are
//! tallied once the backend said which keys were new, and the column values of the rows, in
//! table order. The backends only move these values into their tables.

use crate::keys::{KeySet, xxh3_64};
use crate::sql::RowRead;
use crate::{StoreError, WriteBatch, WriteOutcome, event_key};
use ltiscope_ingest::{EventKind, RejectedBody};
use ltiscope_model::{LaunchRecord, Source, Timestamp};
use ltiscope_redact::StoredEvent;
use std::collections::HashMap;

/// One column value of a stored row.
#[derive(Debug, Clone)]
pub(crate) enum Val<'a> {
    /// The 128-bit idempotency key.
    Key(i128),
    Text(Option<&'a str>),
    Owned(Option<String>),
    Time(Timestamp),
    Int(Option<i64>),
    Bool(bool),
    Date(chrono::NaiveDate),
    /// A rollup set (owned: the refresh encodes it just before appending).
    Blob(Vec<u8>),
}

/// The staged events of a group of batches and their tallies.
pub(crate) struct Plan<'a> {
    batches: &'a [&'a WriteBatch],
    /// (batch index, key, event), first copies only; once [`Plan::settle`] has been told
    /// which keys were new, only the new ones: what the tables and the rollup marks take.
    pub(crate) staged: Vec<(usize, i128, &'a StoredEvent)>,
    outcomes: Vec<WriteOutcome>,
    /// Per (batch, source): (launches, non-LTI, duplicates), for the ingest log.
    per_source: HashMap<(usize, Source), (u64, u64, u64)>,
}

/// A row of the ingest log (owned: DuckDB's writer keeps a transaction's rows until it ends,
/// after their batches are gone).
pub(crate) struct LogRow {
    pub(crate) received_at: Timestamp,
    pub(crate) origin: String,
    pub(crate) source: Source,
    pub(crate) launches: i64,
    pub(crate) non_lti: i64,
    pub(crate) duplicates: i64,
}

/// A quarantined item to store.
pub(crate) struct QuarantineRow<'a> {
    /// Which batch of the plan it came from.
    pub(crate) batch: usize,
    pub(crate) received_at: Timestamp,
    pub(crate) source: Option<&'static str>,
    pub(crate) origin: &'a str,
    pub(crate) index: i64,
    pub(crate) code: &'static str,
    pub(crate) reason: String,
    pub(crate) body: String,
    /// `crate::keys::quarantine_key` of the item: the same item is stored once.
    pub(crate) key: String,
}

impl<'a> Plan<'a> {
    pub(crate) fn new(batches: &'a [&'a WriteBatch]) -> Plan<'a> {
        let mut plan = Plan {
            batches,
            staged: Vec::new(),
            outcomes: vec![WriteOutcome::default(); batches.len()],
            per_source: HashMap::new(),
        };
        let mut seen = KeySet::default();
        for (b, batch) in batches.iter().enumerate() {
            for e in &batch.events {
                let key = event_key(e.get().meta());
                if seen.insert(key) {
                    plan.staged.push((b, key, e.get()));
                } else {
                    plan.outcomes[b].duplicates += 1;
                    plan.per_source
                        .entry((b, e.get().meta().source))
                        .or_default()
                        .2 += 1;
                }
            }
        }
        plan
    }

    /// Tallies the staged events once the store said which keys were new, and keeps only
    /// those staged: each key is looked up here once, and the rows and the rollup marks read
    /// the events that are left.
    pub(crate) fn settle(&mut self, inserted: &KeySet) {
        let (outcomes, per_source) = (&mut self.outcomes, &mut self.per_source);
        self.staged.retain(|(b, key, e)| {
            let entry = per_source.entry((*b, e.meta().source)).or_default();
            let outcome = &mut outcomes[*b];
            let new = inserted.contains(key);
            if !new {
                outcome.duplicates += 1;
                entry.2 += 1;
            } else if matches!(e.kind, EventKind::Launch(_)) {
                outcome.launches += 1;
                entry.0 += 1;
            } else {
                outcome.non_lti += 1;
                entry.1 += 1;
            }
            new
        });
        for (b, batch) in self.batches.iter().enumerate() {
            self.outcomes[b].quarantined += batch.rejected.len() as u64;
        }
    }

    /// The rows of the ingest log.
    pub(crate) fn log_rows(&self) -> Vec<LogRow> {
        self.per_source
            .iter()
            .map(|((b, source), (launches, non_lti, dups))| {
                let batch = self.batches[*b];
                LogRow {
                    received_at: batch.received_at.unwrap_or_else(chrono::Utc::now),
                    origin: batch.origin.clone(),
                    source: *source,
                    launches: *launches as i64,
                    non_lti: *non_lti as i64,
                    duplicates: *dups as i64,
                }
            })
            .collect()
    }

    /// The quarantined items of every batch.
    pub(crate) fn quarantine_rows(&self) -> Vec<QuarantineRow<'a>> {
        let batches: &'a [&'a WriteBatch] = self.batches;
        batches
            .iter()
            .enumerate()
            .flat_map(|(b, batch)| {
                let received_at = batch.received_at.unwrap_or_else(chrono::Utc::now);
                batch.rejected.iter().map(move |r| {
                    let r = r.get();
                    let index = r.index as i64;
                    let body = match &r.body {
                        RejectedBody::Json(v) => ltiscope_ingest::json_text(v),
                        RejectedBody::Text(t) => t.clone(),
                    };
                    QuarantineRow {
                        batch: b,
                        received_at,
                        source: batch.source_hint.map(Source::as_str),
                        origin: &batch.origin,
                        index,
                        code: r.reason.code(),
                        reason: r.reason.to_string(),
                        key: crate::keys::quarantine_key(&batch.origin, index, &body),
                        body,
                    }
                })
            })
            .collect()
    }

    /// Counts a quarantined item of batch `b` the store already held.
    pub(crate) fn quarantine_repeat(&mut self, b: usize) {
        self.outcomes[b].quarantine_repeats += 1;
    }

    /// The rollup marks of the stored launch records (the staged ones, once settled):
    /// (tenant, UTC hour, `launch`|`return`), each once (see `crate::rollup`).
    pub(crate) fn rollup_marks(
        &self,
    ) -> std::collections::BTreeSet<(&'a str, Timestamp, &'static str)> {
        self.staged
            .iter()
            .filter_map(|(_, _, e)| match &e.kind {
                EventKind::Launch(r) => {
                    let kind = match r.action {
                        ltiscope_model::Action::Launch => "launch",
                        ltiscope_model::Action::Return => "return",
                        ltiscope_model::Action::Use => return None,
                    };
                    let secs = r.meta.event_time.timestamp().div_euclid(3600) * 3600;
                    let hour = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
                    Some((r.meta.tenant.as_str(), hour, kind))
                }
                _ => None,
            })
            .collect()
    }

    /// The outcome of each batch, in order.
    pub(crate) fn outcomes(self) -> Vec<WriteOutcome> {
        self.outcomes
    }
}

impl QuarantineRow<'_> {
    /// The values of a `quarantine` row without its id and replay time, in table order.
    pub(crate) fn values(&self) -> [Val<'_>; 8] {
        [
            Val::Time(self.received_at),
            Val::Text(self.source),
            Val::Text(Some(self.origin)),
            Val::Int(Some(self.index)),
            Val::Text(Some(self.code)),
            Val::Text(Some(&self.reason)),
            Val::Text(Some(&self.body)),
            Val::Text(Some(&self.key)),
        ]
    }
}

/// The columns of `events` in table order, each with its kind: what [`event_row`] writes
/// (`the_event_spec_declares_what_event_row_writes` holds the two together).
pub(crate) const EVENT_SPEC: [(&str, Stored); 10] = {
    const T: Stored = Stored::Text(None);
    const TIME: Stored = Stored::Time(None);
    [
        ("event_key", Stored::Key),
        ("source", T),
        ("tenant", T),
        ("event_id", T),
        ("kind", T),
        ("event_type", T),
        ("action", T),
        ("event_time", TIME),
        ("received_at", TIME),
        ("body", T),
    ]
};

/// The `events` row of a stored event, in table order.
pub(crate) fn event_row(key: i128, e: &StoredEvent) -> [Val<'_>; 10] {
    let m = e.meta();
    let kind = match &e.kind {
        EventKind::Launch(_) => "launch",
        EventKind::Other(_) => "other",
        EventKind::Entity(_) => "entity",
    };
    [
        Val::Key(key),
        Val::Text(Some(m.source.as_str())),
        Val::Text(Some(&m.tenant)),
        Val::Text(Some(&m.event_id)),
        Val::Text(Some(kind)),
        Val::Text(Some(&m.event_type)),
        Val::Text(Some(&m.raw_action)),
        Val::Time(m.event_time),
        Val::Time(m.received_at),
        Val::Text(Some(&e.body)),
    ]
}

/// The number of columns of a `launches` row as written: the table's columns but the two it
/// derives itself, `user_key` and `course_key` (see [`LAUNCH_SPEC`]).
pub(crate) const LAUNCH_COLUMNS: usize = 39;

/// A column value as read back from a stored row, to compare it with a value about to be
/// written ([`Stored::same`]); in [`LAUNCH_SPEC`], the kind of a column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Stored {
    /// The idempotency key (never read back: rows are matched by it).
    Key,
    Text(Option<String>),
    Int(Option<i64>),
    Bool(Option<bool>),
    /// Microseconds since the epoch (selected through `Dialect::epoch_us`).
    Time(Option<i64>),
}

impl Stored {
    /// Column `i` of `r`, read as this kind.
    pub(crate) fn read(&self, r: &dyn RowRead, i: usize) -> Result<Stored, StoreError> {
        Ok(match self {
            Stored::Key => Stored::Key,
            Stored::Text(_) => Stored::Text(r.text(i)?),
            Stored::Int(_) => Stored::Int(r.int(i)?),
            Stored::Bool(_) => Stored::Bool(r.boolean(i)?),
            Stored::Time(_) => Stored::Time(r.int(i)?),
        })
    }

    /// Whether `v`, written, would store what this holds.
    pub(crate) fn same(&self, v: &Val<'_>) -> bool {
        match (v, self) {
            (Val::Key(_), Stored::Key) => true,
            (Val::Text(a), Stored::Text(b)) => *a == b.as_deref(),
            (Val::Owned(a), Stored::Text(b)) => a == b,
            (Val::Int(a), Stored::Int(b)) => a == b,
            (Val::Bool(a), Stored::Bool(b)) => Some(*a) == *b,
            (Val::Time(t), Stored::Time(b)) => Some(t.timestamp_micros()) == *b,
            _ => false,
        }
    }
}

/// The columns of `launches` in table order, each with its kind: what [`launch_row`] writes
/// (`the_launch_spec_declares_what_launch_row_writes` holds the two together) and what a
/// re-derive reads back to compare.
///
/// `user_key` and `course_key` are not written: both databases derive them from the
/// identifiers beside them, as [`UserRef::key`](ltiscope_model::UserRef::key) and
/// [`CourseRef::key`](ltiscope_model::CourseRef::key) do (generated columns; DuckDB computes
/// them when read). They repeated the user's and the course's IRI in every Blackboard launch,
/// which DuckDB alone took 0.4-2.1 s (six pairs) of a million-event import to store
/// (BENCHMARKS.md, "The keys derived, not stored").
pub(crate) const LAUNCH_SPEC: [(&str, Stored); LAUNCH_COLUMNS] = {
    const T: Stored = Stored::Text(None);
    const I: Stored = Stored::Int(None);
    [
        ("event_key", Stored::Key),
        ("source", T),
        ("tenant", T),
        ("event_id", T),
        ("action", T),
        ("event_time", Stored::Time(None)),
        ("received_at", Stored::Time(None)),
        ("user_hash", I),
        ("user_platform_id", T),
        ("user_iri", T),
        ("user_external_id", T),
        ("role", T),
        ("roles_raw", T),
        ("test_user", Stored::Bool(None)),
        ("impersonator", T),
        ("course_hash", I),
        ("course_platform_id", T),
        ("course_iri", T),
        ("course_label", T),
        ("course_title", T),
        ("course_number", T),
        ("org_unit_type", T),
        ("tool_id", T),
        ("tool_name", T),
        ("tool_match", T),
        ("launch_url", T),
        ("launch_host", T),
        ("consumer_key", T),
        ("client_id", T),
        ("deployment_id", T),
        ("tool_provider_id", T),
        ("lti_version", T),
        ("message_type", T),
        ("resource_link_id", T),
        ("launch_id", T),
        ("session_id", T),
        ("locale", T),
        ("metrics", T),
        ("visit_key", I),
    ]
};

/// The `launches` row of a launch record, in table order (the visit key last, as migrations
/// added it).
pub(crate) fn launch_row(key: i128, r: &LaunchRecord) -> [Val<'_>; LAUNCH_COLUMNS] {
    let m = &r.meta;
    let user_key = r.user.key();
    let course_key = r.course.key();
    let link = r
        .resource_link_id
        .as_deref()
        .or(r.tool.launch_url.as_deref())
        .unwrap_or("");
    let roles_raw = ltiscope_ingest::json_strings(&r.roles.raw);
    // [[metric, value, max], ...]: a tuple is written as an array, a missing max as null.
    let metrics = (!r.metrics.is_empty())
        .then(|| serde_json::to_string(&r.metrics).unwrap_or_else(|_| "[]".to_owned()));
    [
        Val::Key(key),
        Val::Text(Some(m.source.as_str())),
        Val::Text(Some(&m.tenant)),
        Val::Text(Some(&m.event_id)),
        Val::Text(Some(r.action.as_str())),
        Val::Time(m.event_time),
        Val::Time(m.received_at),
        Val::Int(user_key.map(|u| hash64(&m.tenant, u))),
        Val::Text(r.user.platform_id.as_deref()),
        Val::Text(r.user.iri.as_deref()),
        Val::Text(r.user.external_id.as_deref()),
        Val::Text(Some(r.roles.bucket.as_str())),
        Val::Owned(Some(roles_raw)),
        Val::Bool(r.roles.test_user),
        Val::Text(r.impersonator.as_deref()),
        Val::Int(course_key.map(|c| hash64(&m.tenant, c))),
        Val::Text(r.course.platform_id.as_deref()),
        Val::Text(r.course.iri.as_deref()),
        Val::Text(r.course.label.as_deref()),
        Val::Text(r.course.title.as_deref()),
        Val::Text(r.course.course_number.as_deref()),
        Val::Text(r.course.org_unit_type.as_deref()),
        Val::Text(Some(&r.tool_identity.id)),
        Val::Text(Some(&r.tool_identity.name)),
        Val::Text(Some(r.tool_identity.matched_by.as_str())),
        Val::Text(r.tool.launch_url.as_deref()),
        Val::Text(r.tool.host.as_deref()),
        Val::Text(r.tool.consumer_key.as_deref()),
        Val::Text(r.tool.client_id.as_deref()),
        Val::Text(r.tool.deployment_id.as_deref()),
        Val::Text(r.tool.tool_provider_id.as_deref()),
        Val::Text(r.lti_version.map(|v| v.as_str())),
        Val::Text(r.message_type.as_deref()),
        Val::Text(r.resource_link_id.as_deref()),
        Val::Text(r.launch_id.as_deref()),
        Val::Text(r.session_id.as_deref()),
        Val::Text(r.locale.as_deref()),
        Val::Owned(metrics),
        Val::Int(Some(visit_key(
            &m.tenant,
            user_key,
            &r.tool_identity.id,
            link,
        ))),
    ]
}

/// A 64-bit hash of (tenant, key), for fast distinct counts of users and courses.
fn hash64(tenant: &str, key: &str) -> i64 {
    let parts = [tenant.as_bytes(), b"\0", key.as_bytes()];
    xxh3_64(&parts) as i64
}

/// The visit key: one integer per (tenant, user, tool, link), where the link is the resource
/// link id, else the launch URL. Launches with the same key less than the visit window apart
/// are one visit.
fn visit_key(tenant: &str, user: Option<&str>, tool: &str, link: &str) -> i64 {
    let user = user.unwrap_or("");
    let parts = [tenant, user, tool, link].map(str::as_bytes);
    let parts = [
        parts[0], b"\0", parts[1], b"\0", parts[2], b"\0", parts[3], b"\0",
    ];
    xxh3_64(&parts) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether a written value is of the kind a spec declares for its column.
    fn agrees(v: &Val<'_>, kind: &Stored) -> bool {
        matches!(
            (v, kind),
            (Val::Key(_), Stored::Key)
                | (Val::Text(_) | Val::Owned(_), Stored::Text(_))
                | (Val::Int(_), Stored::Int(_))
                | (Val::Bool(_), Stored::Bool(_))
                | (Val::Time(_), Stored::Time(_))
        )
    }

    fn fixture() -> ltiscope_ingest::Batch {
        let tools = ltiscope_ingest::ToolResolver::default();
        let ctx = ltiscope_ingest::Context {
            received_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
            source: None,
            tools: &tools,
        };
        ltiscope_ingest::parse_document(
            include_bytes!(
                "../../ltiscope-ingest/tests/data/brightspace/lti-launch-lti13.constructed.json"
            ),
            &ctx,
        )
    }

    /// `EVENT_SPEC` declares what `event_row` writes, column by column: the DuckDB writer
    /// hands the rows over by it.
    #[test]
    fn the_event_spec_declares_what_event_row_writes() {
        let redactor = ltiscope_redact::Redactor::new(ltiscope_redact::PiiPolicy::Minimise, None)
            .unwrap_or_else(|e| panic!("{e}"));
        let Some(event) = fixture().events.into_iter().next() else {
            panic!("the fixture holds an event");
        };
        let stored = redactor.event(event);
        let row = event_row(7, stored.get());
        for (i, (v, (name, kind))) in row.iter().zip(&EVENT_SPEC).enumerate() {
            assert!(
                agrees(v, kind),
                "column {i} ({name}): {v:?} is not a {kind:?}"
            );
        }
    }

    /// `LAUNCH_SPEC` declares what `launch_row` writes, column by column: a re-derive reads the
    /// stored row back by it and compares it with a new `launch_row`.
    #[test]
    fn the_launch_spec_declares_what_launch_row_writes() {
        let parsed = fixture();
        let Some(EventKind::Launch(record)) = parsed.events.first().map(|e| &e.kind) else {
            panic!("the fixture is a launch: {parsed:?}");
        };
        let row = launch_row(7, record);
        for (i, (v, (name, kind))) in row.iter().zip(&LAUNCH_SPEC).enumerate() {
            assert!(
                agrees(v, kind),
                "column {i} ({name}): {v:?} is not a {kind:?}"
            );
        }
        // A value read back as declared is the same as written.
        assert!(Stored::Text(Some(record.meta.tenant.clone())).same(&row[2]));
        assert!(Stored::Time(Some(record.meta.event_time.timestamp_micros())).same(&row[5]));
        assert!(
            !Stored::Int(None).same(&row[2]),
            "another kind never agrees"
        );
    }
}
