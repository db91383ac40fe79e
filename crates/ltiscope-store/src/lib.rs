//! Storage: the only crate that knows SQL.
//!
//! [`Store`] is an enum over backends: the embedded DuckDB file (the default) and PostgreSQL
//! (shared deployments), behind the same methods. Both run the same SQL for reports and
//! exports (`sql`), and the same write plan (`write`). The write side takes only [`Redacted`] values, so nothing
//! unredacted can reach disk; one call to [`Store::write`] is one transaction, so a batch is
//! stored whole or not at all, and idempotent: an event whose (source, tenant, event id) is
//! already stored is counted as a duplicate and not stored again. The read side answers the
//! report questions of `ltiscope_model::report` and the quarantine listing.
//!
//! Both drivers are synchronous; async callers must run them on a blocking thread.

mod duck;
mod keys;
mod migrate;
mod naming;
mod pg;
mod rederive;
mod rollup;
mod sql;
#[doc(hidden)]
pub mod testing;
mod write;

use ltiscope_ingest::Rejection;
use ltiscope_model::report::{Params, Question, ReportFilter, Table};
use ltiscope_model::{Source, Timestamp};
use ltiscope_redact::{Redacted, StoredEvent};
use std::path::Path;

/// The hasher of the store's hot maps and sets: a refresh's rollup rows, facet values and
/// course rows (with the standard library's SipHash, hashing and probing were ~9% of a full
/// rebuild's samples), and a write's event keys. Still seeded per process, as the values
/// come from senders.
pub(crate) type Fast = foldhash::fast::RandomState;

pub use duck::ROW_GROUP_ROWS;
pub use duck::inbox::{InboxMover, Moved};
pub use keys::event_key;
pub use migrate::Upgrade;
pub use naming::{NamingMode, Renaming, StoredTool};
pub use rederive::{Derive, RederiveOutcome, StoredOriginal};
pub use rollup::{RefreshOutcome, RollupConfig};

/// Storage failures. Messages name the cause and what to do; callers add context.
///
/// Each message already says the driver's error, so none is also given as the error's
/// `source()`: a caller printing the chain (`{:#}`) would say it twice, and the DuckDB
/// driver's own source only adds "Error code 1: Unknown error code".
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened (missing directory, locked by another process, ...).
    #[error("cannot open database {path}: {cause}")]
    Open {
        /// The database path.
        path: String,
        /// The driver's error.
        cause: duckdb::Error,
    },
    /// The PostgreSQL server could not be reached or refused the connection.
    #[error(
        "cannot connect to PostgreSQL at {url}: {} (check --database-url / LTISCOPE_DATABASE_URL, that the server runs, and that the user may connect and create tables)",
        with_causes(cause)
    )]
    OpenPg {
        /// The URL, password hidden.
        url: String,
        /// The driver's error.
        cause: postgres::Error,
    },
    /// The database was written by a newer ltiscope.
    #[error(
        "database schema version {found} is newer than this ltiscope understands ({known}): upgrade ltiscope"
    )]
    SchemaTooNew {
        /// Version found in the database.
        found: i64,
        /// Newest version this build knows.
        known: i64,
    },
    /// A query or write failed.
    #[error("database error: {0}")]
    Db(duckdb::Error),
    /// A PostgreSQL query or write failed.
    #[error("PostgreSQL error: {}", pg_message(.0))]
    Pg(postgres::Error),
    /// Writing an export failed (disk full, the reader went away).
    #[error("writing the export failed: {0}")]
    Export(String),
    /// A stored row holds what no ltiscope writes (a table changed by hand or another
    /// program).
    #[error(
        "the database holds a row ltiscope cannot read: {0} (was the table changed by another program? restore it from a backup)"
    )]
    Corrupt(String),
    /// Compacting the database could not finish; the message says what is left where.
    #[error("compacting the database failed: {0}")]
    Compact(String),
    /// The collector's writer or inbox mover panicked while choosing an inbox; restart the
    /// collector (what was acknowledged is in an inbox and moved when the database opens).
    #[error(
        "the collector's inbox is unusable after a crash of its writer or mover: restart ltiscope serve (nothing acknowledged is lost)"
    )]
    InboxPoisoned,
    /// Something this build should never do happened (a bug: please report it with the
    /// message).
    #[error("internal error: {0} (a bug in ltiscope: please report it)")]
    Internal(String),
}

/// A batch to store in one transaction.
#[derive(Debug, Default)]
pub struct WriteBatch {
    /// Accepted events.
    pub events: Vec<Redacted<StoredEvent>>,
    /// Quarantined items.
    pub rejected: Vec<Redacted<Rejection>>,
    /// Where the batch came from (a file path, an endpoint), kept with quarantined items.
    pub origin: String,
    /// The source the sender declared or forced, for quarantined items.
    pub source_hint: Option<Source>,
    /// When the batch was received.
    pub received_at: Option<Timestamp>,
}

impl AsRef<WriteBatch> for WriteBatch {
    fn as_ref(&self) -> &WriteBatch {
        self
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Launch records newly stored.
    pub launches: u64,
    /// Non-LTI events and entities newly stored.
    pub non_lti: u64,
    /// Events already stored (or repeated within the batch).
    pub duplicates: u64,
    /// Items quarantined.
    pub quarantined: u64,
    /// Of `quarantined`, the items already in quarantine (the same item of the same origin,
    /// with the same body: a file imported again, a request sent again), not stored twice.
    /// The collector's inbox decides this when it moves a group, after the acknowledgement,
    /// so its acknowledgements count 0 here.
    pub quarantine_repeats: u64,
}

impl std::ops::AddAssign for WriteOutcome {
    fn add_assign(&mut self, o: Self) {
        self.launches += o.launches;
        self.non_lti += o.non_lti;
        self.duplicates += o.duplicates;
        self.quarantined += o.quarantined;
        self.quarantine_repeats += o.quarantine_repeats;
    }
}

/// The server's own message of a PostgreSQL error (the driver's `Display` says only "db error").
fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => with_causes(e),
    }
}

/// An error's message followed by those of its causes it does not already contain: the
/// postgres crate's "error connecting to server" says why ("Connection refused") only in its
/// source.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        next = cause.source();
    }
    text
}

// By hand rather than `#[from]`, which would also make the driver's error the `source()`.
impl From<duckdb::Error> for StoreError {
    fn from(e: duckdb::Error) -> Self {
        StoreError::Db(e)
    }
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        StoreError::Pg(e)
    }
}

/// What `purge` removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeOutcome {
    /// Launch, return and use records.
    pub launch_records: u64,
    /// Stored events (launches and non-LTI events).
    pub events: u64,
    /// Quarantined items.
    pub quarantined: u64,
    /// Ingest log rows.
    pub ingest_log: u64,
    /// Whole monthly partitions dropped (PostgreSQL).
    pub partitions_dropped: u64,
}

/// Where the data lives. `Debug` and `Display` hide a URL's password.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// An embedded DuckDB file.
    DuckDb(std::path::PathBuf),
    /// A PostgreSQL database, by URL (`postgres://user:password@host:port/database`).
    Postgres(String),
}

impl Location {
    /// Whether `s` is a PostgreSQL connection string: a `postgres://` or `postgresql://` URL,
    /// or the `host=… dbname=…` key-value form.
    pub fn is_postgres_url(s: &str) -> bool {
        s.starts_with("postgres://") || s.starts_with("postgresql://") || s.contains("host=")
    }

    /// A `postgres://` or `postgresql://` URL is PostgreSQL; anything else a DuckDB file path.
    pub fn parse(s: &str) -> Location {
        if Location::is_postgres_url(s) {
            Location::Postgres(s.to_owned())
        } else {
            Location::DuckDb(s.into())
        }
    }
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::DuckDb(p) => write!(f, "DuckDb({})", p.display()),
            Location::Postgres(_) => write!(f, "Postgres({self})"),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::DuckDb(p) => write!(f, "{}", p.display()),
            Location::Postgres(url) => f.write_str(&pg::redact_url(url)),
        }
    }
}

/// A quarantined item as listed and replayed.
#[derive(Debug, Clone, PartialEq)]
pub struct QuarantinedItem {
    /// Row id.
    pub id: i64,
    /// When it was received.
    pub received_at: Timestamp,
    /// The source it was sent as, when known.
    pub source: Option<Source>,
    /// Where it came from.
    pub origin: String,
    /// Reason code.
    pub reason_code: String,
    /// Reason message.
    pub reason: String,
    /// The scrubbed body.
    pub body: String,
}

/// An API key as stored: its hash, never the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRow {
    /// Row id (used to revoke).
    pub id: i64,
    /// Human name ("Learn production").
    pub name: String,
    /// What it may do: `ingest:<source>`, `ingest:any`, `read` or `admin`.
    pub scope: String,
    /// Hex SHA-256 of the key.
    pub key_hash: String,
    /// The key's first characters.
    pub key_prefix: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Revocation time, if revoked.
    pub revoked_at: Option<Timestamp>,
}

/// Receives each exported launch record as (column, JSON value) pairs.
pub(crate) type ExportRowSink<'a> =
    dyn FnMut(&[(&'static str, serde_json::Value)]) -> std::io::Result<()> + 'a;

/// File formats of `export_launches`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// CSV with a header row.
    Csv,
    /// One JSON object per line.
    JsonLines,
    /// Apache Parquet (zstd), typed columns.
    Parquet,
}

impl ExportFormat {
    /// Parses `csv`, `jsonl` (or `ndjson`) or `parquet`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "csv" => Some(ExportFormat::Csv),
            "jsonl" | "ndjson" => Some(ExportFormat::JsonLines),
            "parquet" => Some(ExportFormat::Parquet),
            _ => None,
        }
    }

    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::JsonLines => "jsonl",
            ExportFormat::Parquet => "parquet",
        }
    }

    /// The media type.
    pub fn media_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::JsonLines => "application/x-ndjson",
            ExportFormat::Parquet => "application/vnd.apache.parquet",
        }
    }
}

/// The store, whichever backend.
pub enum Store {
    /// Embedded DuckDB file.
    DuckDb(duck::DuckStore),
    /// PostgreSQL database.
    Postgres(pg::PgStore),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Store::DuckDb(d) => write!(f, "Store::DuckDb({})", d.path()),
            Store::Postgres(p) => write!(f, "Store::Postgres({})", p.display_url()),
        }
    }
}

impl Store {
    /// Opens (creating if needed) a DuckDB database file and brings its schema up to date.
    pub fn open_duckdb(path: &Path) -> Result<Store, StoreError> {
        Ok(Store::DuckDb(duck::DuckStore::open(path, &mut |_| {})?))
    }

    /// Connects to a PostgreSQL database and brings its schema up to date (several processes
    /// may do this at once; one migrates, the others wait).
    pub fn open_postgres(url: &str) -> Result<Store, StoreError> {
        Ok(Store::Postgres(pg::PgStore::open(url, &mut |_| {})?))
    }

    /// Opens the store at a location.
    pub fn open(location: &Location) -> Result<Store, StoreError> {
        Store::open_upgrading(location, &mut |_| {})
    }

    /// Opens the store at a location; `upgrading` hears of each schema migration that runs
    /// on a database that already had a schema (when it starts, how far it has come where the
    /// backend can tell, when it is done): some rewrite a whole table, which takes a while on
    /// a large database. It may be called from another thread while a migration runs.
    pub fn open_upgrading(
        location: &Location,
        upgrading: &mut (dyn FnMut(Upgrade<'_>) + Send),
    ) -> Result<Store, StoreError> {
        Ok(match location {
            Location::DuckDb(path) => Store::DuckDb(duck::DuckStore::open(path, upgrading)?),
            Location::Postgres(url) => Store::Postgres(pg::PgStore::open(url, upgrading)?),
        })
    }

    /// Removes every launch record, event, quarantined item and ingest log row from before
    /// `before`; with `dry_run`, only counts them. Reports and exports no longer see them.
    pub fn purge(&mut self, before: Timestamp, dry_run: bool) -> Result<PurgeOutcome, StoreError> {
        match self {
            Store::DuckDb(d) => d.purge(before, dry_run),
            Store::Postgres(p) => p.purge(before, dry_run),
        }
    }

    /// Rewrites the database so that nothing of deleted and replaced rows (a purge, a
    /// re-derive) is left in its files: DuckDB copies it into a fresh file that takes the old
    /// one's place (nothing else may have it open); PostgreSQL rewrites each table with
    /// `VACUUM FULL` (each locked meanwhile). Returns the size in bytes before and after.
    pub fn compact(self) -> Result<(u64, u64), StoreError> {
        match self {
            Store::DuckDb(d) => d.compact(),
            Store::Postgres(mut p) => p.compact(),
        }
    }

    /// Checkpoint after this many bytes of write-ahead log. A checkpoint runs inside the commit
    /// that crosses the threshold, so a smaller threshold means more, shorter stalls: the
    /// collector trades a little throughput for a shorter acknowledgement tail.
    pub fn set_checkpoint_threshold(&mut self, bytes: u64) -> Result<(), StoreError> {
        match self {
            Store::DuckDb(d) => d.set_checkpoint_threshold(bytes),
            Store::Postgres(_) => Ok(()),
        }
    }

    /// How many threads DuckDB runs a query on (opened with 2). With 1, every query runs on
    /// the thread that asked for it: no thread spins waiting for DuckDB's worker, which is
    /// what the collector wants on two cores; a report over the launch records themselves
    /// (not the rollups) then scans on one thread, 1.7 to 3.5 times slower at 10M launches.
    pub fn set_threads(&mut self, threads: u32) -> Result<(), StoreError> {
        match self {
            Store::DuckDb(d) => d.set_threads(threads),
            Store::Postgres(_) => Ok(()),
        }
    }

    /// The memory the database may use for its buffers, sorts and hash tables (opened at
    /// 256 MB, which keeps a bulk load flat; an import sets its own; report queries over
    /// millions of launches spill to disk below about 1 GB).
    pub fn set_memory_limit(&mut self, bytes: u64) -> Result<(), StoreError> {
        match self {
            Store::DuckDb(d) => d.set_memory_limit(bytes),
            Store::Postgres(_) => Ok(()),
        }
    }

    /// Stores a batch in one transaction.
    pub fn write(&mut self, batch: &WriteBatch) -> Result<WriteOutcome, StoreError> {
        Ok(self.write_many(&[batch])?.pop().unwrap_or_default())
    }

    /// Stores several batches in one transaction (group commit): all or none are stored, and
    /// each gets its own outcome, in order.
    pub fn write_many(&mut self, batches: &[&WriteBatch]) -> Result<Vec<WriteOutcome>, StoreError> {
        match self {
            Store::DuckDb(d) => d.write_many(batches),
            Store::Postgres(p) => p.write_many(batches),
        }
    }

    /// Makes this handle's writes commit into a small inbox database beside the DuckDB file,
    /// moved into the main tables by the returned mover on its own thread, so a commit (and
    /// the acknowledgement that waits for it) never waits for a checkpoint of the big tables
    /// (see `duck::inbox`). `None` on PostgreSQL, which writes in place.
    pub fn ingest_through_inbox(&mut self) -> Result<Option<InboxMover>, StoreError> {
        match self {
            Store::DuckDb(d) => d.ingest_through_inbox().map(Some),
            Store::Postgres(_) => Ok(None),
        }
    }

    /// The last group committed into the inbox, when writes go through one.
    pub fn inbox_seq(&self) -> Option<i64> {
        match self {
            Store::DuckDb(d) => d.inbox_seq(),
            Store::Postgres(_) => None,
        }
    }

    /// Stores a stream of batches (a bulk load; each item holds one), calling `stored` with
    /// each item and its batch's outcome once it is written. DuckDB commits every
    /// `commit_every` events or more (quarantined items counted too; at a row group,
    /// [`ROW_GROUP_ROWS`] rows, or more, its data goes compressed straight into the database
    /// file instead of through the write-ahead log), and into a store without any event it tells the new keys apart itself (a filter
    /// of the keys it wrote, under the primary key); PostgreSQL commits each batch. Everything
    /// is committed when this returns `Ok`; after an error, batches since the last commit are
    /// not stored (a bulk load is idempotent: run it again).
    pub fn write_stream<T: AsRef<WriteBatch>>(
        &mut self,
        items: impl Iterator<Item = T>,
        commit_every: usize,
        mut stored: impl FnMut(&T, WriteOutcome),
    ) -> Result<(), StoreError> {
        match self {
            Store::DuckDb(d) => d.write_stream(items, commit_every, stored),
            Store::Postgres(p) => {
                for item in items {
                    let outcome = p.write_many(&[item.as_ref()])?.pop().unwrap_or_default();
                    stored(&item, outcome);
                }
                Ok(())
            }
        }
    }

    /// The schema version in force.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        match self {
            Store::DuckDb(d) => d.schema_version(),
            Store::Postgres(p) => p.schema_version(),
        }
    }

    /// Every stored event's id and kept (scrubbed) original, by event id (then original): the
    /// audit behind "every event keeps its original, and a purge leaves none of the purged".
    pub fn kept_originals(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut all = Vec::new();
        self.read(|db| {
            db.each("SELECT event_id, body FROM events", &[], &mut |r| {
                all.push((
                    r.text(0)?.unwrap_or_default(),
                    r.text(1)?.unwrap_or_default(),
                ));
                Ok(())
            })
        })?;
        // In Rust's order on both backends (a server's collation may order text otherwise).
        all.sort();
        Ok(all)
    }

    /// Counts rows, per table and text column, that contain `needle` anywhere: the audit behind
    /// "this secret is nowhere in the database".
    pub fn find_text(&self, needle: &str) -> Result<Vec<(String, String, u64)>, StoreError> {
        match self {
            Store::DuckDb(d) => d.find_text(needle),
            Store::Postgres(p) => p.find_text(needle),
        }
    }

    /// Every stored event id with how many rows carry it (always 1: the audit behind "stored
    /// exactly once"), for one source.
    pub fn event_id_counts(&self, source: Source) -> Result<Vec<(String, u64)>, StoreError> {
        match self {
            Store::DuckDb(d) => d.event_id_counts(source),
            Store::Postgres(p) => p.event_id_counts(source),
        }
    }

    /// Answers one report question (see `ltiscope_model::report::Question`).
    pub fn answer(
        &self,
        question: Question,
        filter: &ReportFilter,
        params: &Params,
    ) -> Result<Table, StoreError> {
        match self.answer_from_rollups(question, filter, params)? {
            Some(table) => Ok(table),
            None => self.answer_raw(question, filter, params),
        }
    }

    /// Answers several questions over the same filter, in order: those rollups can answer
    /// from one read of them (a report's totals, daily series and per-tool counts cost about
    /// what one of them costs), the others from the launch records.
    pub fn answer_many(
        &self,
        questions: &[Question],
        filter: &ReportFilter,
        params: &Params,
    ) -> Result<Vec<Table>, StoreError> {
        let rolled = self.rollup_answers(questions, filter, params)?;
        questions
            .iter()
            .zip(rolled)
            .map(|(q, table)| match table {
                Some(table) => Ok(table),
                None => self.answer_raw(*q, filter, params),
            })
            .collect()
    }

    /// Answers one question from the launch records only, never from rollups (for tests and
    /// benchmarks that compare the two).
    pub fn answer_raw(
        &self,
        question: Question,
        filter: &ReportFilter,
        params: &Params,
    ) -> Result<Table, StoreError> {
        match self {
            Store::DuckDb(d) => d.answer_raw(question, filter, params),
            Store::Postgres(p) => p.answer_raw(question, filter, params),
        }
    }

    /// Answers one question from rollups (refreshing them first), or `None` when rollups
    /// cannot answer it exactly (a course filter, a range that does not start and end at
    /// local midnights of the rollup time zone, another visit window or cap, a question they
    /// do not hold). [`Store::answer`] uses this first, then the launch records.
    pub fn answer_from_rollups(
        &self,
        question: Question,
        filter: &ReportFilter,
        params: &Params,
    ) -> Result<Option<Table>, StoreError> {
        Ok(self
            .rollup_answers(&[question], filter, params)?
            .pop()
            .flatten())
    }

    /// [`Store::answer_from_rollups`] for several questions, in one read of the rollups.
    fn rollup_answers(
        &self,
        questions: &[Question],
        filter: &ReportFilter,
        params: &Params,
    ) -> Result<Vec<Option<Table>>, StoreError> {
        if !questions.iter().any(|q| rollup::may_answer(*q, filter)) {
            return Ok(questions.iter().map(|_| None).collect());
        }
        self.refresh_rollups()?;
        match self {
            Store::DuckDb(d) => d.answer_rollup(questions, filter, params),
            Store::Postgres(p) => p.answer_rollup(questions, filter, params),
        }
    }

    /// Rolls up what was stored since the last refresh: the days it changes are recomputed
    /// from the launch records. Reports do this themselves before they read; writers call it
    /// after bulk work (an import) and from time to time (the collector), so reports rarely
    /// wait for it. Only one refresh runs at a time, across every process of a PostgreSQL
    /// deployment.
    pub fn refresh_rollups(&self) -> Result<RefreshOutcome, StoreError> {
        match self {
            Store::DuckDb(d) => d.refresh_rollups(),
            Store::Postgres(p) => p.refresh_rollups(),
        }
    }

    /// Sets the time zone, visit window and time-in-tool cap the rollups are built with. When
    /// they differ from the ones in force every rollup is dropped and marked for rebuilding
    /// (the next refresh does it); returns whether that happened. Reports asked with other
    /// values are answered from the launch records, exactly but more slowly.
    pub fn configure_rollups(&mut self, config: &RollupConfig) -> Result<bool, StoreError> {
        self.change(|db| rollup::configure(db, config))
    }

    /// Names the tools of the stored launch records again with `tools`, from the identifiers
    /// kept with each record, and marks the hours of those that changed for the rollups (see
    /// [`NamingMode`] for when). `None` when nothing had to be looked at; otherwise what
    /// changed, or on a dry run what would.
    pub fn name_tools(
        &mut self,
        tools: &ltiscope_ingest::ToolResolver,
        mode: NamingMode,
    ) -> Result<Option<Vec<Renaming>>, StoreError> {
        self.change(|db| naming::name_tools(db, tools, mode))
    }

    /// Every tool of the stored launch records, with how it was named and the identifiers
    /// behind the name (`ltiscope tools list`).
    pub fn stored_tools(&self) -> Result<Vec<StoredTool>, StoreError> {
        self.read(naming::stored_tools)
    }

    /// Whether the stored records' tools are named by `tools`, as far as is known: false
    /// when other tool rules (or another build's catalogue) named them last, so a report
    /// asked with `tools` may show names its rules no longer give.
    pub fn tools_named_alike(
        &self,
        tools: &ltiscope_ingest::ToolResolver,
    ) -> Result<bool, StoreError> {
        self.read(|db| naming::named_alike(db, tools))
    }

    /// Stored events per UTC hour of event time within `[from, to)`, the hours in order: what
    /// a re-derive goes through, window by window.
    pub fn stored_hours(
        &self,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Result<Vec<(Timestamp, u64)>, StoreError> {
        self.read(|db| rederive::hours(db, from, to))
    }

    /// Derives the stored events of `[from, to)` (event time) again from their kept originals
    /// with `derive` and, unless `dry_run`, replaces in one transaction those whose stored row,
    /// original or launch record differs from what `derive` gives, marking the rollups. Events
    /// whose original no longer parses, or whose identity or event time would change, are left
    /// as stored and counted (see [`RederiveOutcome`]).
    pub fn rederive(
        &mut self,
        from: Timestamp,
        to: Timestamp,
        dry_run: bool,
        derive: &mut dyn Derive,
    ) -> Result<RederiveOutcome, StoreError> {
        self.change(|db| rederive::rederive_window(db, from, to, dry_run, derive))
    }

    /// Whether the stored events were derived by the parser and redaction `fingerprint`
    /// stands for (`ltiscope_pipeline::Pipeline::derivation_fingerprint`), as far as is known:
    /// false when another build or PII policy derived them, or an ltiscope from before
    /// fingerprints; an empty database takes `fingerprint` and answers true.
    pub fn derived_alike(&mut self, fingerprint: &str) -> Result<bool, StoreError> {
        // The usual answer is read without the rollup lock, which a long refresh may hold.
        if self.read(rederive::derived_by_stored)?.as_deref() == Some(fingerprint) {
            return Ok(true);
        }
        self.change(|db| rederive::derived_alike(db, fingerprint))
    }

    /// Records that every stored event is derived by `fingerprint` (after a full re-derive).
    pub fn set_derived_by(&mut self, fingerprint: &str) -> Result<(), StoreError> {
        self.change(|db| rederive::derived_by(db, fingerprint))
    }

    /// Runs `change` on either backend in one transaction, as no rollup refresh runs (the
    /// marks it adds are the next refresh's).
    fn change<R>(
        &mut self,
        change: impl FnOnce(&mut dyn rollup::Db) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        match self {
            Store::DuckDb(d) => d.change(change),
            Store::Postgres(p) => p.change(change),
        }
    }

    /// Runs `read` on either backend as the `Db` they share (outside any transaction): a
    /// read written once for both, over `Db::each`, needs nothing of its own in `duck/` or
    /// `pg/`.
    fn read<R>(
        &self,
        read: impl FnOnce(&mut dyn rollup::Db) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        match self {
            Store::DuckDb(d) => d.read(read),
            Store::Postgres(p) => p.read(read),
        }
    }

    /// A second handle on the same database for reading beside the writer (the collector's
    /// API and dashboard read through these while its writer thread owns the first).
    pub fn reader(&self) -> Result<Store, StoreError> {
        match self {
            Store::DuckDb(d) => Ok(Store::DuckDb(d.try_clone()?)),
            Store::Postgres(p) => Ok(Store::Postgres(p.try_clone()?)),
        }
    }

    /// A second handle for a read beside this one, where that is cheap: another connection to
    /// the same in-process DuckDB database. `None` on PostgreSQL, where a new connection per
    /// report costs more than the overlap gained (measured: none at 10M launches).
    pub fn beside(&self) -> Result<Option<Store>, StoreError> {
        match self {
            Store::DuckDb(_) => self.reader().map(Some),
            Store::Postgres(_) => Ok(None),
        }
    }

    /// Whether any launch record is stored.
    pub fn has_launches(&self) -> Result<bool, StoreError> {
        match self {
            Store::DuckDb(d) => d.has_launches(),
            Store::Postgres(p) => p.has_launches(),
        }
    }

    /// Writes the launch records of the filter to `path` in `format` (CSV and Parquet by the
    /// database's own writer; JSON Lines row by row). Returns the number of records.
    pub fn export_launches(
        &self,
        filter: &ReportFilter,
        format: ExportFormat,
        path: &Path,
    ) -> Result<u64, StoreError> {
        match (self, format) {
            (Store::DuckDb(d), ExportFormat::Csv) => d.export_copy(filter, false, path),
            (Store::DuckDb(d), ExportFormat::Parquet) => d.export_copy(filter, true, path),
            (Store::Postgres(p), ExportFormat::Csv) => p.export_csv(filter, path),
            (Store::Postgres(p), ExportFormat::Parquet) => p.export_parquet(filter, path),
            (store, ExportFormat::JsonLines) => {
                let file = std::fs::File::create(path)
                    .map_err(|e| StoreError::Export(format!("{}: {e}", path.display())))?;
                let mut out = std::io::BufWriter::new(file);
                let mut sink = |fields: &[(&'static str, serde_json::Value)]| {
                    use std::io::Write;
                    let map: serde_json::Map<String, serde_json::Value> = fields
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), v.clone()))
                        .collect();
                    serde_json::to_writer(&mut out, &map)?;
                    out.write_all(b"\n")
                };
                let n = match store {
                    Store::DuckDb(d) => d.export_rows(filter, &mut sink)?,
                    Store::Postgres(p) => p.export_rows(filter, &mut sink)?,
                };
                std::io::Write::flush(&mut out).map_err(|e| StoreError::Export(e.to_string()))?;
                Ok(n)
            }
        }
    }

    /// Waiting quarantined items, newest first, optionally of one reason.
    pub fn quarantine_list(
        &self,
        reason: Option<&str>,
        limit: usize,
    ) -> Result<Vec<QuarantinedItem>, StoreError> {
        match self {
            Store::DuckDb(d) => d.quarantine_list(reason, limit),
            Store::Postgres(p) => p.quarantine_list(reason, limit),
        }
    }

    /// Stores a new key (by hash) and returns its id.
    pub fn key_insert(
        &mut self,
        name: &str,
        scope: &str,
        key_hash: &str,
        key_prefix: &str,
        at: Timestamp,
    ) -> Result<i64, StoreError> {
        match self {
            Store::DuckDb(d) => d.key_insert(name, scope, key_hash, key_prefix, at),
            Store::Postgres(p) => p.key_insert(name, scope, key_hash, key_prefix, at),
        }
    }

    /// Every key, revoked ones included, oldest first.
    pub fn keys(&self) -> Result<Vec<ApiKeyRow>, StoreError> {
        match self {
            Store::DuckDb(d) => d.keys(),
            Store::Postgres(p) => p.keys(),
        }
    }

    /// Revokes a key; false when no active key has that id.
    pub fn key_revoke(&mut self, id: i64, at: Timestamp) -> Result<bool, StoreError> {
        match self {
            Store::DuckDb(d) => d.key_revoke(id, at),
            Store::Postgres(p) => p.key_revoke(id, at),
        }
    }

    /// Marks quarantined items as replayed (their content was stored or re-quarantined).
    pub fn quarantine_mark_replayed(
        &mut self,
        ids: &[i64],
        at: Timestamp,
    ) -> Result<(), StoreError> {
        match self {
            Store::DuckDb(d) => d.quarantine_mark_replayed(ids, at),
            Store::Postgres(p) => p.quarantine_mark_replayed(ids, at),
        }
    }
}
