//! The command line, as clap types. Nothing else in the program sees these types:
//! `settings.rs` resolves them once into typed settings.

use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand, ValueEnum};
use ltiscope_ingest::Reason;
use std::path::PathBuf;

/// ltiscope: which LTI tools are really used, where, by whom and for how long.
#[derive(Debug, Parser)]
#[command(name = "ltiscope", version, about, long_about = None)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Database file (embedded DuckDB) [default: ./ltiscope.duckdb]
    #[arg(long, global = true, env = "LTISCOPE_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Use PostgreSQL instead of the embedded file: postgres://user:password@host:port/db
    #[arg(long, global = true, env = "LTISCOPE_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// Configuration file (TOML): PII policy, tool rules, ...
    #[arg(long, global = true, env = "LTISCOPE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What happens to personal data before storage [default: minimise]
    #[arg(long, global = true, env = "LTISCOPE_PII", value_enum)]
    pub pii: Option<PiiArg>,
}

/// PII policies.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PiiArg {
    /// Remove names, emails, IP addresses, user agents; keep ids.
    Minimise,
    /// As minimise, and replace user ids by keyed hashes (needs LTISCOPE_PSEUDONYM_KEY).
    Pseudonymise,
    /// Remove only secrets.
    Keep,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import event files: .json, .jsonl, .ndjson, optionally .gz; envelopes, arrays, single
    /// events or JSON Lines, detected automatically
    Import(ImportArgs),
    /// Write a realistic synthetic event stream (JSON Lines) for demos, tests and benchmarks
    Generate(GenerateArgs),
    /// Answer a question from the stored launches
    Report(ReportArgs),
    /// List or replay quarantined events
    #[command(subcommand)]
    Quarantine(QuarantineCommand),
    /// Run the collector: receive Blackboard, Brightspace and Caliper streams over HTTP
    Serve(ServeArgs),
    /// Manage API keys (stored as hashes; a new key is shown once)
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Export launch records (launch, return and use) as CSV, JSON Lines or Parquet
    #[command(subcommand)]
    Export(ExportCommand),
    /// Delete everything that happened before a date (retention): launch records and events
    /// by event time, quarantine and ingest log by receipt
    Purge(PurgeArgs),
    /// Which tool the stored launch records count towards: list the tools with the
    /// identifiers behind their names, or name the records again by the tool rules
    #[command(subcommand)]
    Tools(ToolsCommand),
    /// Derive every stored event again from its kept original with this ltiscope's parser,
    /// redaction rules, PII policy and tool rules, and replace what differs (after an
    /// upgrade, or a change of PII policy)
    Rederive(RederiveArgs),
    /// Rewrite the database so that nothing of deleted or replaced rows (purge, rederive) is
    /// left in its files and their space is returned: DuckDB writes a fresh file in the old
    /// one's place (serve must be stopped); PostgreSQL runs VACUUM FULL table by table
    Compact,
}

/// `ltiscope rederive`.
#[derive(Debug, Args)]
pub struct RederiveArgs {
    /// Only events from this time on (YYYY-MM-DD in the report time zone, or RFC 3339)
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// Only events before this time (YYYY-MM-DD or RFC 3339)
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    /// Say what would change, change nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// `ltiscope purge`.
#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Keep what happened from this date on: YYYY-MM-DD (midnight in the report time zone)
    /// or an RFC 3339 time
    #[arg(long, value_name = "DATE")]
    pub before: String,
    /// Count what would be deleted, delete nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// `ltiscope export ...`.
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Every launch record of the filter, with its source event id, tenant, tool, course,
    /// roles and times
    Launches(ExportArgs),
}

/// Export file formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormatArg {
    /// CSV with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// Apache Parquet (zstd), typed columns.
    Parquet,
}

/// `ltiscope export launches`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// File format [default: from the --out extension (.csv, .jsonl or .ndjson, .parquet); csv
    /// without one]
    #[arg(long, value_enum)]
    pub format: Option<ExportFormatArg>,
    /// Output file
    #[arg(long, short, value_name = "FILE")]
    pub out: PathBuf,
    /// Which launches
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// The filters every report and export takes.
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// From this time (YYYY-MM-DD in the report time zone, or RFC 3339), inclusive
    #[arg(long)]
    pub from: Option<String>,
    /// Up to this time (YYYY-MM-DD or RFC 3339), exclusive
    #[arg(long)]
    pub to: Option<String>,
    /// Only this tenant (Learn site, Brightspace tenant, Caliper platform)
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only this source
    #[arg(long, value_enum)]
    pub source: Option<SourceArg>,
    /// Only this role bucket
    #[arg(long, value_enum)]
    pub role: Option<RoleArg>,
    /// Only this tool id (required by `report tool`)
    #[arg(long)]
    pub tool: Option<String>,
    /// Only this course key (required by `report course`)
    #[arg(long)]
    pub course: Option<String>,
    /// Count LTI test users and student-preview users too
    #[arg(long)]
    pub include_test_users: bool,
}

/// `ltiscope serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "LTISCOPE_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Before serving, load this many generated demo launches (only into an empty database)
    #[arg(long, value_name = "LAUNCHES")]
    pub demo: Option<u64>,
    /// Largest request body in bytes [default: 10485760]
    #[arg(long, env = "LTISCOPE_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Requests that may wait for the writer before new ones get 503 [default: 1024]
    #[arg(long, env = "LTISCOPE_QUEUE")]
    pub queue: Option<usize>,
    /// Group-commit window in milliseconds [default: 5]
    #[arg(long, env = "LTISCOPE_COMMIT_WINDOW_MS")]
    pub commit_window_ms: Option<u64>,
    /// Seconds a client has to send its request headers [default: 10]
    #[arg(long, env = "LTISCOPE_HEADER_TIMEOUT_SECS")]
    pub header_timeout_secs: Option<u64>,
    /// Seconds a client has to send its request body [default: 30]
    #[arg(long, env = "LTISCOPE_BODY_TIMEOUT_SECS")]
    pub body_timeout_secs: Option<u64>,
    /// Checkpoint the database after this many MiB of write-ahead log [default: 256]
    #[arg(long, env = "LTISCOPE_CHECKPOINT_MB")]
    pub checkpoint_mb: Option<u64>,
    /// Retention: keep this many whole days (of the report time zone) and delete everything
    /// that happened before, at start and each day after, as `ltiscope purge` would
    /// [default: keep everything]
    #[arg(long, env = "LTISCOPE_KEEP_DAYS", value_name = "DAYS")]
    pub keep_days: Option<u32>,
}

/// Key scopes on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KeySourceArg {
    /// Blackboard Learn (POST /caliper).
    Blackboard,
    /// Brightspace Data Streams (POST /brightspace, /xapi/statements).
    Brightspace,
    /// Any other Caliper sensor (POST /caliper).
    Caliper,
    /// Any xAPI client (/xapi/statements).
    Xapi,
    /// Every ingest endpoint.
    Any,
}

/// What a key is for.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KeyKindArg {
    /// Send events (with --source).
    Ingest,
    /// Read reports through the API and dashboard.
    Read,
    /// Everything, including one user's launches and key management.
    Admin,
}

/// `ltiscope tools ...`.
#[derive(Debug, Subcommand)]
pub enum ToolsCommand {
    /// Every tool of the stored launch records: how it was named (rule, catalogue, domain)
    /// and the hosts, client ids, consumer keys and tool-provider ids behind the name, the
    /// tools with the most records first (what to read before writing a rule)
    List {
        /// Output format
        #[arg(long, value_enum, default_value = "table")]
        format: FormatArg,
    },
    /// Name every stored launch record's tool by the tool rules of the configuration and the
    /// built-in catalogue, from the identifiers kept with it (serve and import do this
    /// themselves when the rules change); say which tools were renamed or merged
    Apply {
        /// Say what would be renamed, change nothing
        #[arg(long)]
        dry_run: bool,
    },
}

/// `ltiscope keys ...`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it once (only its hash is stored)
    Create {
        /// A name to recognise it by, e.g. "Learn production"
        #[arg(long)]
        name: String,
        /// What the key is for
        #[arg(long, value_enum, default_value = "ingest")]
        kind: KeyKindArg,
        /// For ingest keys: which platform sends with it
        #[arg(long, value_enum, default_value = "any")]
        source: KeySourceArg,
    },
    /// List keys (never the keys themselves)
    List,
    /// Revoke a key by id
    Revoke {
        /// The id shown by `keys list`
        id: i64,
    },
}

/// `ltiscope import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Files or folders (folders are searched for .json, .jsonl, .ndjson and their .gz forms)
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Treat every event as coming from this source instead of detecting it
    #[arg(long, value_enum)]
    pub source: Option<SourceArg>,
    /// Parser threads [default: number of CPUs]; those beyond one per CPU beside the writer run
    /// at the lowest priority
    #[arg(long)]
    pub workers: Option<usize>,
}

/// Sources, as named on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SourceArg {
    /// Blackboard Learn Caliper stream.
    BlackboardCaliper,
    /// Brightspace Data Streams.
    BrightspaceBds,
    /// Any IMS Caliper sensor.
    Caliper,
    /// Generic xAPI.
    Xapi,
}

/// Platforms the generator can imitate.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PlatformArg {
    /// Blackboard Learn Caliper LTIEvents.
    Blackboard,
    /// Brightspace Data Streams xAPI launches.
    Brightspace,
    /// IMS Caliper 1.2 ToolLaunchEvents.
    Caliper,
    /// All three.
    Mixed,
}

/// `ltiscope generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Which platform's wire format
    #[arg(long, value_enum, default_value = "mixed")]
    pub platform: PlatformArg,
    /// Number of launches (returns, duplicates, malformed and non-LTI events come on top)
    #[arg(long, default_value_t = 10_000)]
    pub launches: u64,
    /// Random seed: the same seed gives the same stream
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output file (`.gz` to compress) [default: stdout]
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// First day of the term (YYYY-MM-DD)
    #[arg(long, default_value = "2026-01-12")]
    pub start: String,
    /// Length of the term in days
    #[arg(long, default_value_t = 105)]
    pub days: u32,
    /// Share of events re-sent as duplicates (0 to 1)
    #[arg(long, default_value_t = 0.0)]
    pub duplicates: f64,
    /// Share of events made malformed (0 to 1)
    #[arg(long, default_value_t = 0.0)]
    pub malformed: f64,
    /// Non-LTI firehose events per launch (0 to 1)
    #[arg(long, default_value_t = 0.05)]
    pub non_lti: f64,
    /// Share of Blackboard and Caliper launches followed by a return (0 to 1)
    #[arg(long, default_value_t = 0.75)]
    pub returns: f64,
}

/// Reports.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportName {
    /// Totals against the previous period, daily series, top tools, freshness per source
    Overview,
    /// Per tool: launches, visits, users, courses, learner/instructor split, time in tool, change
    Tools,
    /// One tool (--tool): daily series, courses, roles, heat map, message types, versions, deployments
    Tool,
    /// Per course: launches, tools, users, top tool
    Courses,
    /// One course (--course): its tools, roles and daily series
    Course,
    /// Per tool: share of active courses and users
    Adoption,
    /// Tools and deployments with no launch in the last --dormant-days
    Dormant,
    /// Per tool: the last 24 hours against the same hours of the previous 4 weeks
    Health,
    /// Per tool: time between launch and return
    TimeInTool,
    /// Per source and day: stored, duplicates, quarantined by reason, receive lag
    Quality,
    /// One user's launches (--user), for support cases
    User,
}

/// Output formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// Aligned text.
    Table,
    /// JSON.
    Json,
    /// CSV.
    Csv,
}

/// Role buckets.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// Learners.
    Learner,
    /// Instructors.
    Instructor,
    /// Teaching assistants.
    TeachingAssistant,
    /// Content developers.
    ContentDeveloper,
    /// Mentors.
    Mentor,
    /// Administrators.
    Administrator,
    /// Others.
    Other,
}

/// `ltiscope report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Which report
    #[arg(value_enum)]
    pub report: ReportName,
    /// Which launches
    #[command(flatten)]
    pub filter: FilterArgs,
    /// The user to look up (platform id, IRI/UUID or external id), for `report user`
    #[arg(long)]
    pub user: Option<String>,
    /// Repeated launches of a link by a user within this many minutes are one visit [default: 10]
    #[arg(long)]
    pub visit_window_minutes: Option<i64>,
    /// Launch/return pairs longer than this many minutes are not time in tool [default: 240]
    #[arg(long)]
    pub time_cap_minutes: Option<i64>,
    /// Dormant: no launch in this many days [default: 30]
    #[arg(long)]
    pub dormant_days: Option<i64>,
    /// Output format
    #[arg(long, value_enum, default_value = "table")]
    pub format: FormatArg,
    /// With --format csv: the section to print (a CSV file holds one table) [default: the first]
    #[arg(long)]
    pub section: Option<String>,
}

/// `ltiscope quarantine ...`.
#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// List waiting quarantined items, newest first
    List {
        /// Only this reason code (e.g. invalid_timestamp)
        #[arg(long, value_parser = PossibleValuesParser::new(Reason::CODES))]
        reason: Option<String>,
        /// At most this many
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Output format
        #[arg(long, value_enum, default_value = "table")]
        format: FormatArg,
    },
    /// Parse waiting items again with the current parser; those that now parse are stored
    Replay {
        /// Only this reason code
        #[arg(long, value_parser = PossibleValuesParser::new(Reason::CODES))]
        reason: Option<String>,
        /// Tell each item's source from its body (as an import without --source does)
        /// instead of the source it was received as: for source_mismatch items, once you
        /// know where they really came from
        #[arg(long)]
        detect_source: bool,
    },
}
