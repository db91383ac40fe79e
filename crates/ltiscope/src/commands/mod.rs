//! The commands: each turns resolved settings and its arguments into calls on the library
//! crates, and prints results (data to stdout, progress and messages to stderr).

use crate::args::{
    Command, ExportArgs, ExportCommand, ExportFormatArg, FilterArgs, FormatArg, GenerateArgs,
    ImportArgs, KeyKindArg, KeySourceArg, KeysCommand, PlatformArg, PurgeArgs, QuarantineCommand,
    ReportArgs, ReportName, RoleArg, SourceArg, ToolsCommand,
};
use crate::settings::Settings;
use anyhow::{Context, bail};
use ltiscope_ingest::generate::{Generator, Options, Platform};
use ltiscope_model::report::{Cell, Column, ColumnKind, ReportFilter, Table, Tuning};
use ltiscope_model::{RoleBucket, Source, Timestamp};
use ltiscope_pipeline::import::{
    CHECKPOINT_BYTES, ImportOptions, Progress, collect_files, import_files,
};
use ltiscope_pipeline::{Pipeline, ReplayOptions};
use ltiscope_report::{Format, Render, ReportKind};
use ltiscope_serve::auth::Scope;
use ltiscope_store::{ExportFormat, Location, NamingMode, Store, Upgrade};
use rederive::rederive;
use serve::serve;
use std::io::{IsTerminal, Write};
use std::time::Instant;
use tools::{list_tools, name_tools, note_other_naming, renamings_text};

mod rederive;
mod serve;
mod tools;

/// Runs one command.
pub fn run(command: Command, settings: &Settings) -> anyhow::Result<()> {
    match command {
        Command::Import(a) => import(a, settings),
        Command::Generate(a) => generate(a),
        Command::Report(a) => report(a, settings),
        Command::Quarantine(q) => quarantine(q, settings),
        Command::Serve(a) => serve(a, settings),
        Command::Keys(k) => keys(k, settings),
        Command::Export(ExportCommand::Launches(a)) => export(a, settings),
        Command::Purge(a) => purge(a, settings),
        Command::Tools(ToolsCommand::Apply { dry_run }) => name_tools(dry_run, settings),
        Command::Tools(ToolsCommand::List { format: f }) => list_tools(f, settings),
        Command::Rederive(a) => rederive(a, settings),
        Command::Compact => compact(settings),
    }
}

fn compact(settings: &Settings) -> anyhow::Result<()> {
    let store = open_existing(settings)?;
    let started = Instant::now();
    eprintln!("compacting {} ...", settings.store);
    // The store's error says it was compacting, and what is left where.
    let (before, after) = store.compact()?;
    let mb = |b: u64| b as f64 / 1e6;
    println!(
        "compacted {} in {:.1}s: {:.1} MB before, {:.1} MB after",
        settings.store,
        started.elapsed().as_secs_f64(),
        mb(before),
        mb(after)
    );
    Ok(())
}

/// What `serve` and `import` say when the stored events were derived otherwise.
const REDERIVE_HINT: &str = "note: the stored events were derived by an earlier ltiscope, or under another PII policy or pseudonym key, than this one would derive them: `ltiscope rederive --dry-run` says what deriving them again from their kept originals would change, `ltiscope rederive` does it (stop serve first on DuckDB)";

/// What follows a purge or re-derive that deleted or replaced rows.
const COMPACT_HINT: &str = "note: the database's files may still hold the bytes of the deleted or replaced rows in free space until it is rewritten; run `ltiscope compact` to leave nothing of them";

fn purge(a: PurgeArgs, settings: &Settings) -> anyhow::Result<()> {
    let before = ltiscope_report::parse_time_bound(&a.before, settings.reports.options.timezone)
        .map_err(anyhow::Error::msg)
        .context("--before")?;
    if before > now() {
        bail!(
            "--before {} is in the future: that would delete data still to come; give a past date",
            a.before
        );
    }
    let mut store = open_existing(settings)?;
    let started = Instant::now();
    let o = store.purge(before, a.dry_run)?;
    let verb = if a.dry_run { "would delete" } else { "deleted" };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{verb} everything before {} from {}:",
        before.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        settings.store
    )?;
    writeln!(out, "  launch records:   {}", o.launch_records)?;
    writeln!(out, "  events:           {}", o.events)?;
    writeln!(out, "  quarantined:      {}", o.quarantined)?;
    writeln!(out, "  ingest log rows:  {}", o.ingest_log)?;
    if o.partitions_dropped > 0 {
        writeln!(
            out,
            "  monthly partitions dropped: {}",
            o.partitions_dropped
        )?;
    }
    if a.dry_run {
        writeln!(
            out,
            "(dry run: nothing was deleted; run again without --dry-run)"
        )?;
    } else {
        writeln!(out, "in {:.1}s", started.elapsed().as_secs_f64())?;
        if o.events + o.launch_records + o.quarantined > 0 {
            eprintln!("{COMPACT_HINT}");
        }
    }
    Ok(())
}

/// How a command opens the store: whether what is derived from the stored records follows
/// the configuration.
enum Derived<'a> {
    /// Make the rollups follow the configured time zone, visit window and cap (a change
    /// rebuilds them), and the stored records' tool names the pipeline's tool rules (a change
    /// names them again), and say when the pipeline would derive the stored events otherwise:
    /// the commands that keep a database, `serve` and `import`, so that what they store and
    /// what is stored are named and counted alike.
    Follow(&'a Pipeline),
    /// Leave both as they are: a one-off setting on a report (`LTISCOPE_TIMEZONE=… ltiscope
    /// report`) is answered from the launch records instead of rebuilding every rollup for
    /// one command and again for the next.
    Keep,
}

fn open_store(settings: &Settings, derived: Derived<'_>) -> anyhow::Result<Store> {
    let mut store = Store::open_upgrading(&settings.store, &mut upgrade_reporter()).context(match settings.store {
        Location::DuckDb(_) => {
            "opening the database (choose another file with --db or LTISCOPE_DB; only one ltiscope process can write a DuckDB file at a time)"
        }
        Location::Postgres(_) => "opening the PostgreSQL database",
    })?;
    let Derived::Follow(pipeline) = derived else {
        return Ok(store);
    };
    if let Some(renamings) = store
        .name_tools(&pipeline.tools, NamingMode::IfRulesChanged)
        .context("naming the stored launch records' tools by the tool rules")?
        && !renamings.is_empty()
    {
        eprint!(
            "{}",
            renamings_text(&renamings, "the tool rules or the catalogue changed: ")
        );
        eprintln!("the report rollups of their days are rebuilt on the next refresh");
    }
    if !store
        .derived_alike(&pipeline.derivation_fingerprint())
        .context("reading which parser and redaction derived the stored events")?
    {
        eprintln!("{REDERIVE_HINT}");
    }
    let config = settings.reports.rollups();
    if store
        .configure_rollups(&config)
        .context("setting up the report rollups")?
    {
        eprintln!(
            "report rollups: now by {} days, {} s visit window, {} s cap; they are rebuilt on the next refresh",
            config.timezone.name(),
            config.visit_window_secs,
            config.time_cap_secs
        );
    }
    Ok(store)
}

/// Opens the database of a command that reads or changes what is stored but never starts a
/// database (`report`, `export`, `quarantine`, `purge`, `keys list|revoke`): a DuckDB file
/// that does not exist is a mistyped path, and opening it would create an empty database and
/// answer from that as if nothing had been collected.
fn open_existing(settings: &Settings) -> anyhow::Result<Store> {
    if let Location::DuckDb(path) = &settings.store
        && !path.exists()
    {
        bail!(
            "no database at {}: give the file `ltiscope import` or `ltiscope serve` wrote with --db PATH (or LTISCOPE_DB)",
            path.display()
        );
    }
    open_store(settings, Derived::Keep)
}

/// Tells the user about schema upgrades: some migrations rewrite a whole table, which takes
/// a while on a large database. On a terminal, a bar per migration with DuckDB's estimate of
/// how far it has come; otherwise (a service's log) a line at the start, one per tenth done and
/// one at the end.
fn upgrade_reporter() -> impl FnMut(Upgrade<'_>) + Send {
    let terminal = std::io::stderr().is_terminal();
    let mut bar: Option<indicatif::ProgressBar> = None;
    let mut next_line = 10.0;
    move |u| match u {
        Upgrade::Started { version, name } => {
            let what = format!("upgrading the database schema to version {version} ({name})");
            next_line = 10.0;
            if terminal {
                let style = indicatif::ProgressStyle::with_template(
                    "{msg}\n{wide_bar} {pos:>3}% [{elapsed}]",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
                let b = indicatif::ProgressBar::new(100)
                    .with_style(style)
                    .with_message(what);
                b.enable_steady_tick(std::time::Duration::from_millis(200));
                bar = Some(b);
            } else {
                eprintln!("{what} ...");
            }
        }
        Upgrade::Progress { version, percent } => match &bar {
            Some(b) => b.set_position(percent as u64),
            None if percent >= next_line => {
                eprintln!("  schema version {version}: {percent:.0}% done");
                next_line = (percent / 10.0).floor() * 10.0 + 10.0;
            }
            None => {}
        },
        Upgrade::Finished { version, seconds } => {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
            eprintln!("upgraded the database schema to version {version} in {seconds:.1}s");
        }
    }
}

/// Brings the rollups up to date after bulk writes or renamings, saying what it did (reports would
/// otherwise do it on their first read). Returns the seconds it took.
fn refresh_rollups(store: &Store) -> anyhow::Result<f64> {
    let started = Instant::now();
    eprintln!("rolling up the new and renamed launch records for reports ...");
    let r = store
        .refresh_rollups()
        .context("refreshing the report rollups (reports will try again when they run)")?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "rolled up {} launches into {} tenant-days in {secs:.1}s",
        r.launches, r.days
    );
    Ok(secs)
}

fn source(s: SourceArg) -> Source {
    match s {
        SourceArg::BlackboardCaliper => Source::BlackboardCaliper,
        SourceArg::BrightspaceBds => Source::BrightspaceBds,
        SourceArg::Caliper => Source::Caliper,
        SourceArg::Xapi => Source::Xapi,
    }
}

fn format(f: FormatArg) -> Format {
    match f {
        FormatArg::Table => Format::Table,
        FormatArg::Json => Format::Json,
        FormatArg::Csv => Format::Csv,
    }
}

fn now() -> Timestamp {
    chrono::Utc::now()
}

fn import(a: ImportArgs, settings: &Settings) -> anyhow::Result<()> {
    let pipeline = settings.pipeline()?;
    let files = collect_files(&a.paths)?;
    if files.is_empty() {
        bail!("no importable files found (looked for .json, .jsonl, .ndjson and their .gz forms)");
    }
    let mut store = open_store(settings, Derived::Follow(&pipeline))?;
    store.set_checkpoint_threshold(CHECKPOINT_BYTES)?;
    store.set_memory_limit(ltiscope_pipeline::import::STREAM_MEMORY_BYTES)?;
    let opts = ImportOptions {
        source: a.source.map(source),
        workers: a
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
    };
    let started = Instant::now();
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    });
    let total = ltiscope_pipeline::import::input_size(&files);
    let mut on_progress = |p: &Progress| {
        if let Some(bar) = &bar {
            bar.set_message(progress_line(p, started.elapsed().as_secs_f64(), total));
        }
    };
    let summary = import_files(&mut store, &pipeline, &files, opts, &now, &mut on_progress)?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let secs = started.elapsed().as_secs_f64();
    // After the import, not beside it: a second handle rolling up each committed transaction
    // while the next was written left the closing refresh at ~1 s, but took the CPU from the
    // writer and the parse workers (no faster on two cores) and raised peak memory by 34-81
    // MiB (tried twice: docs/benchmarks-history.md, "The parse side, a third cheaper", and
    // BENCHMARKS.md, "Where an import's CPU goes"). A third time, only the months the stream
    // had left behind, on a thread at the lowest priority: no faster either, and 512-529 MiB
    // at peak (BENCHMARKS.md, "Not adopted, a third time: rolling up beside the import").
    if let Err(e) = store.set_memory_limit(ltiscope_pipeline::import::REFRESH_MEMORY_BYTES) {
        // Everything is stored; the refresh then runs with the import's larger buffers.
        eprintln!("note: could not lower the database's memory for the closing refresh: {e}");
    }
    let rolling = refresh_rollups(&store)?;
    // The time and rate of the whole import: the rows are not ready for reports until the
    // rollups are refreshed, so a rate of the storing alone would flatter it.
    let total = started.elapsed().as_secs_f64();
    let o = summary.progress.outcome;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "imported {} file(s), {} records in {:.1}s ({:.0} records/s; {:.1}s storing them, {:.1}s rolling them up for reports)",
        summary.files,
        summary.progress.records,
        total,
        summary.progress.records as f64 / total.max(1e-3),
        secs,
        rolling
    )?;
    writeln!(out, "  launch records stored: {}", o.launches)?;
    writeln!(out, "  non-LTI events kept:   {}", o.non_lti)?;
    writeln!(out, "  duplicates skipped:    {}", o.duplicates)?;
    if o.quarantine_repeats > 0 {
        writeln!(
            out,
            "  quarantined:           {} ({} of them already in quarantine, not stored again)",
            o.quarantined, o.quarantine_repeats
        )?;
    } else {
        writeln!(out, "  quarantined:           {}", o.quarantined)?;
    }
    for (reason, n) in &summary.quarantined_by_reason {
        writeln!(out, "    {reason}: {n}")?;
    }
    if o.quarantined > 0 {
        writeln!(
            out,
            "see them with `ltiscope quarantine list`; after a fix, `ltiscope quarantine replay`"
        )?;
    }
    Ok(())
}

/// The import's progress line: records and their rate, what was read and, when the size of
/// the input is known, how much of it and about how long is left.
fn progress_line(p: &Progress, secs: f64, total: u64) -> String {
    let secs = secs.max(1e-3);
    let mib = |b: u64| b as f64 / 1_048_576.0;
    let mut line = format!(
        "{} records, {:.0} records/s, {:.1} MiB read",
        p.records,
        p.records as f64 / secs,
        mib(p.bytes)
    );
    if total > 0 && p.file_bytes > 0 {
        let done = (p.file_bytes as f64 / total as f64).min(1.0);
        line += &format!(
            " ({:.0}% of {:.1} MiB of files, about {:.0} s left)",
            done * 100.0,
            mib(total),
            secs * (1.0 - done) / done
        );
    }
    format!("{line}, {} quarantined", p.outcome.quarantined)
}

fn generate(a: GenerateArgs) -> anyhow::Result<()> {
    let platform = match a.platform {
        PlatformArg::Blackboard => Platform::Blackboard,
        PlatformArg::Brightspace => Platform::Brightspace,
        PlatformArg::Caliper => Platform::Caliper,
        PlatformArg::Mixed => Platform::Mixed,
    };
    for (name, v) in [
        ("--duplicates", a.duplicates),
        ("--malformed", a.malformed),
        ("--non-lti", a.non_lti),
        ("--returns", a.returns),
    ] {
        if !(0.0..=1.0).contains(&v) {
            bail!("{name} must be between 0 and 1, got {v}");
        }
    }
    let mut opts = Options::new(platform, a.launches, a.seed);
    opts.start = ltiscope_report::parse_time_bound(&a.start, ltiscope_report::Tz::UTC)
        .map_err(anyhow::Error::msg)
        .context("--start")?;
    opts.days = a.days.max(1);
    opts.duplicate_rate = a.duplicates;
    opts.malformed_rate = a.malformed;
    opts.non_lti_rate = a.non_lti;
    opts.return_rate = a.returns;
    let sink: Box<dyn Write> = match &a.out {
        None => Box::new(std::io::stdout().lock()),
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            if path.extension().is_some_and(|e| e == "gz") {
                Box::new(flate2::write::GzEncoder::new(
                    file,
                    flate2::Compression::fast(),
                ))
            } else {
                Box::new(file)
            }
        }
    };
    let mut sink = std::io::BufWriter::with_capacity(1 << 20, sink);
    let mut n = 0u64;
    for doc in Generator::new(opts) {
        sink.write_all(doc.as_bytes())?;
        sink.write_all(b"\n")?;
        n += 1;
    }
    sink.flush()?;
    drop(sink);
    if let Some(path) = &a.out {
        eprintln!("wrote {n} events to {}", path.display());
    }
    Ok(())
}

/// The filter from the command line; dates are read in the report time zone.
fn filter(a: FilterArgs, settings: &Settings) -> anyhow::Result<ReportFilter> {
    let tz = settings.reports.options.timezone;
    let time = |name: &str, v: Option<String>| -> anyhow::Result<Option<Timestamp>> {
        v.map(|s| ltiscope_report::parse_time_bound(&s, tz).map_err(anyhow::Error::msg))
            .transpose()
            .with_context(|| name.to_owned())
    };
    let f = ReportFilter {
        from: time("--from", a.from)?,
        to: time("--to", a.to)?,
        tenant: a.tenant,
        source: a.source.map(source),
        role: a.role.map(|r| match r {
            RoleArg::Learner => RoleBucket::Learner,
            RoleArg::Instructor => RoleBucket::Instructor,
            RoleArg::TeachingAssistant => RoleBucket::TeachingAssistant,
            RoleArg::ContentDeveloper => RoleBucket::ContentDeveloper,
            RoleArg::Mentor => RoleBucket::Mentor,
            RoleArg::Administrator => RoleBucket::Administrator,
            RoleArg::Other => RoleBucket::Other,
        }),
        tool: a.tool,
        course: a.course,
        include_test_users: a.include_test_users,
    };
    if let (Some(from), Some(to)) = (f.from, f.to)
        && to <= from
    {
        bail!("--to must be after --from (from is inclusive, to exclusive)");
    }
    Ok(f)
}

fn report(a: ReportArgs, settings: &Settings) -> anyhow::Result<()> {
    let kind = match a.report {
        ReportName::Overview => ReportKind::Overview,
        ReportName::Tools => ReportKind::Tools,
        ReportName::Tool => ReportKind::Tool,
        ReportName::Courses => ReportKind::Courses,
        ReportName::Course => ReportKind::Course,
        ReportName::Adoption => ReportKind::Adoption,
        ReportName::Dormant => ReportKind::Dormant,
        ReportName::Health => ReportKind::Health,
        ReportName::TimeInTool => ReportKind::TimeInTool,
        ReportName::Quality => ReportKind::Quality,
        ReportName::User => ReportKind::User,
    };
    let mut params = settings.reports.params(now());
    params
        .tune(&Tuning {
            visit_window_minutes: a.visit_window_minutes,
            time_cap_minutes: a.time_cap_minutes,
            dormant_days: a.dormant_days,
        })
        .map_err(|e| anyhow::anyhow!("--{}", e.replace('_', "-")))?;
    if let Some(user) = &a.user {
        // Look the user up in the form it is stored in (its pseudonym, when pseudonymised).
        params.user = Some(settings.redactor()?.stored_user_id(user));
    }
    let request = ltiscope_report::Request {
        kind,
        filter: filter(a.filter, settings)?,
        params,
    };
    let mut store = open_existing(settings)?;
    store.set_memory_limit(settings.db_memory_bytes)?;
    note_other_naming(&store, settings)?;
    let report =
        ltiscope_report::run(&store, &request, &settings.reports.options).map_err(|e| match e {
            ltiscope_report::ReportError::Missing { report, what } => {
                let flag = match report {
                    "tool" => "--tool ID (see `ltiscope report tools`)",
                    "course" => "--course KEY (see `ltiscope report courses`)",
                    _ => "--user ID",
                };
                anyhow::anyhow!("the {report} report needs {what}: give {flag}")
            }
            e @ ltiscope_report::ReportError::UnknownTool { .. } => {
                anyhow::anyhow!("{e}: `ltiscope report tools` lists the tool ids")
            }
            e @ ltiscope_report::ReportError::UnknownCourse { .. } => {
                anyhow::anyhow!("{e}: `ltiscope report courses` lists the course keys")
            }
            other => anyhow::Error::new(other),
        })?;
    let text = report
        .render(format(a.format), a.section.as_deref())
        .map_err(anyhow::Error::msg)?;
    print!("{text}");
    Ok(())
}

fn export(a: ExportArgs, settings: &Settings) -> anyhow::Result<()> {
    let format = match a.format {
        Some(ExportFormatArg::Csv) => ExportFormat::Csv,
        Some(ExportFormatArg::Jsonl) => ExportFormat::JsonLines,
        Some(ExportFormatArg::Parquet) => ExportFormat::Parquet,
        // By the file's extension; CSV without one. Any other extension is refused rather
        // than written as CSV under a name that says otherwise (`--out launches.xlsx`).
        None => match a.out.extension() {
            None => ExportFormat::Csv,
            Some(ext) => ext
                .to_str()
                .and_then(ExportFormat::parse)
                .with_context(|| {
                    format!(
                        "cannot tell the export format of {}: name it .csv, .jsonl, .ndjson or .parquet, or give --format csv|jsonl|parquet",
                        a.out.display()
                    )
                })?,
        },
    };
    let filter = filter(a.filter, settings)?;
    let mut store = open_existing(settings)?;
    note_other_naming(&store, settings)?;
    store.set_memory_limit(settings.db_memory_bytes)?;
    let started = Instant::now();
    let n = store
        .export_launches(&filter, format, &a.out)
        .with_context(|| format!("exporting to {}", a.out.display()))?;
    eprintln!(
        "exported {n} launch records to {} ({}) in {:.1}s",
        a.out.display(),
        format.extension(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn quarantine(q: QuarantineCommand, settings: &Settings) -> anyhow::Result<()> {
    let mut store = open_existing(settings)?;
    match q {
        QuarantineCommand::List {
            reason,
            limit,
            format: f,
        } => {
            let items = store.quarantine_list(reason.as_deref(), limit)?;
            let table = Table {
                title: "quarantine (waiting)".into(),
                columns: columns(&[
                    ("id", ColumnKind::Int),
                    ("received_at", ColumnKind::Time),
                    ("source", ColumnKind::Text),
                    ("origin", ColumnKind::Text),
                    ("reason_code", ColumnKind::Text),
                    ("reason", ColumnKind::Text),
                    ("body", ColumnKind::Text),
                ]),
                rows: items
                    .into_iter()
                    .map(|i| {
                        let body = if matches!(f, FormatArg::Table) && i.body.chars().count() > 80 {
                            format!("{}…", i.body.chars().take(80).collect::<String>())
                        } else {
                            i.body
                        };
                        vec![
                            Cell::Int(i.id.max(0) as u64),
                            Cell::Time(i.received_at),
                            Cell::opt(i.source.map(|s| s.as_str().to_owned())),
                            Cell::Text(i.origin),
                            Cell::Text(i.reason_code),
                            Cell::Text(i.reason),
                            Cell::Text(body),
                        ]
                    })
                    .collect(),
            };
            print!("{}", table.render(format(f)));
        }
        QuarantineCommand::Replay {
            reason,
            detect_source,
        } => {
            let pipeline = settings.pipeline()?;
            let options = ReplayOptions {
                reason: reason.as_deref(),
                detect_source,
            };
            let s = ltiscope_pipeline::replay_quarantine(&mut store, &pipeline, options, now())?;
            println!(
                "replayed {} quarantined item(s): {} recovered ({} launch records, {} non-LTI, {} duplicates), {} still failing",
                s.examined,
                s.recovered,
                s.stored.launches,
                s.stored.non_lti,
                s.stored.duplicates,
                s.still_failing
            );
        }
    }
    Ok(())
}

fn keys(k: KeysCommand, settings: &Settings) -> anyhow::Result<()> {
    // A key may be created before the first `serve` (that is how a deployment starts).
    let mut store = match k {
        KeysCommand::Create { .. } => open_store(settings, Derived::Keep)?,
        KeysCommand::List | KeysCommand::Revoke { .. } => open_existing(settings)?,
    };
    match k {
        KeysCommand::Create { name, kind, source } => {
            let scope = match kind {
                KeyKindArg::Read => Scope::Read,
                KeyKindArg::Admin => Scope::Admin,
                KeyKindArg::Ingest => Scope::Ingest(
                    match source {
                        KeySourceArg::Blackboard => "blackboard",
                        KeySourceArg::Brightspace => "brightspace",
                        KeySourceArg::Caliper => "caliper",
                        KeySourceArg::Xapi => "xapi",
                        KeySourceArg::Any => "any",
                    }
                    .to_owned(),
                ),
            };
            let (key, id) = create_key(&mut store, &name, &scope)?;
            eprintln!(
                "created key #{id} {name:?} ({}); it is shown once, store it now:",
                scope.as_string()
            );
            println!("{key}");
        }
        KeysCommand::List => {
            let table = Table {
                title: "api keys".into(),
                columns: columns(&[
                    ("id", ColumnKind::Int),
                    ("name", ColumnKind::Text),
                    ("scope", ColumnKind::Text),
                    ("key_prefix", ColumnKind::Text),
                    ("created_at", ColumnKind::Time),
                    ("revoked_at", ColumnKind::Time),
                ]),
                rows: store
                    .keys()?
                    .into_iter()
                    .map(|k| {
                        vec![
                            Cell::Int(k.id.max(0) as u64),
                            Cell::Text(k.name),
                            Cell::Text(k.scope),
                            Cell::Text(format!("{}…", k.key_prefix)),
                            Cell::Time(k.created_at),
                            Cell::time(k.revoked_at),
                        ]
                    })
                    .collect(),
            };
            print!("{}", table.render(Format::Table));
        }
        KeysCommand::Revoke { id } => {
            if store.key_revoke(id, now())? {
                println!("revoked key #{id}");
            } else {
                bail!("no active key #{id}: see `ltiscope keys list`");
            }
        }
    }
    Ok(())
}

/// Columns of a listing (names and kinds; no API documentation needed).
fn columns(spec: &[(&'static str, ColumnKind)]) -> Vec<Column> {
    spec.iter()
        .map(|(name, kind)| Column {
            name,
            kind: *kind,
            doc: "",
        })
        .collect()
}

/// Creates a key, stores its hash, returns (key, id).
fn create_key(store: &mut Store, name: &str, scope: &Scope) -> anyhow::Result<(String, i64)> {
    let (key, hash) = ltiscope_serve::auth::new_key();
    let prefix: String = key.chars().take(10).collect();
    let id = store.key_insert(name, &scope.as_string(), &hash, &prefix, now())?;
    Ok((key, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_import_progress_says_how_much_is_left_when_it_knows() {
        let p = Progress {
            bytes: 1536 * 1_048_576,
            file_bytes: 512 * 1_048_576,
            records: 200_000,
            ..Progress::default()
        };
        // A gzip file: its share is of the compressed bytes read.
        assert_eq!(
            progress_line(&p, 10.0, 2048 * 1_048_576),
            "200000 records, 20000 records/s, 1536.0 MiB read (25% of 2048.0 MiB of files, about 30 s left), 0 quarantined"
        );
        assert_eq!(
            progress_line(&p, 10.0, 0),
            "200000 records, 20000 records/s, 1536.0 MiB read, 0 quarantined"
        );
    }
}
