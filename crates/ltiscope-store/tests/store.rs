//! The storage contract, run against both backends (embedded DuckDB and PostgreSQL):
//! idempotency, one transaction per batch, quarantine, migrations, retention, exports and the
//! report queries; and the two backends answer every question alike on the same data.

use ltiscope_ingest::{Context, ToolResolver, parse_document};
use ltiscope_model::Source;
use ltiscope_model::report::{Cell, ColumnKind, Params, Question, ReportFilter, Table};
use ltiscope_redact::{PiiPolicy, Redactor};
use ltiscope_store::testing::TempDatabase;
use ltiscope_store::{Derive, Location, Store, Upgrade, WriteBatch};

/// The schema version of a new DuckDB database.
const LATEST_DUCKDB: i64 = 16;

/// Turns a DuckDB file back into its shape before migration 11: the quarantine without item
/// keys, and none of the later migrations' tables.
const BEFORE_11: &str = "
    DROP TABLE tool_naming; DROP TABLE tool_renames; DROP TABLE derivation;
    DELETE FROM schema_migrations WHERE version >= 11;
    CREATE TABLE quarantine_old (
        id BIGINT PRIMARY KEY DEFAULT nextval('quarantine_id'), received_at TIMESTAMP NOT NULL,
        source VARCHAR, origin VARCHAR NOT NULL, item_index BIGINT NOT NULL,
        reason_code VARCHAR NOT NULL, reason VARCHAR NOT NULL, body VARCHAR NOT NULL,
        replayed_at TIMESTAMP);
    INSERT INTO quarantine_old SELECT * EXCLUDE (item_key) FROM quarantine;
    DROP TABLE quarantine;
    ALTER TABLE quarantine_old RENAME TO quarantine;";

const LAUNCH_AND_RETURN: &[u8] = include_bytes!(
    "../../ltiscope-ingest/tests/data/blackboard/envelope-lti-launch-and-return.constructed.json"
);
const V1P0_LAUNCH: &[u8] = include_bytes!(
    "../../ltiscope-ingest/tests/data/blackboard/bb-caliper-v1p0-envelope-LTIEvent-LTILaunch.json"
);
const BDS_LAUNCH: &[u8] = include_bytes!(
    "../../ltiscope-ingest/tests/data/brightspace/lti-launch-lti13.constructed.json"
);

fn batch(bytes: &[u8]) -> WriteBatch {
    batch_named(bytes, &ToolResolver::default())
}

/// A batch whose tools `tools` named.
fn batch_named(bytes: &[u8], tools: &ToolResolver) -> WriteBatch {
    let redactor = Redactor::new(PiiPolicy::Minimise, None).expect("redactor");
    redacted_batch(bytes, tools, &redactor)
}

/// A batch of what `bytes` parse into (sources detected, tools named by `tools`), redacted by
/// `redactor`, received at one fixed time.
fn redacted_batch(bytes: &[u8], tools: &ToolResolver, redactor: &Redactor) -> WriteBatch {
    let received_at = chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("valid");
    let ctx = Context {
        received_at,
        source: None,
        tools,
    };
    let parsed = parse_document(bytes, &ctx);
    WriteBatch {
        events: parsed
            .events
            .into_iter()
            .map(|e| redactor.event(e))
            .collect(),
        rejected: parsed
            .rejected
            .into_iter()
            .map(|r| redactor.rejection(r))
            .collect(),
        origin: "test".into(),
        source_hint: None,
        received_at: Some(received_at),
    }
}

/// Writes generated documents, `per` to a batch (JSON Lines).
fn write_docs(store: &mut Store, docs: &[String], per: usize) {
    for chunk in docs.chunks(per) {
        store
            .write(&batch(chunk.join("\n").as_bytes()))
            .expect("write");
    }
}

fn params() -> Params {
    Params::new(chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("valid"))
}

fn ask(store: &Store, q: Question, f: &ReportFilter) -> Table {
    store.answer(q, f, &params()).expect("answer")
}

fn tools(store: &Store, f: &ReportFilter) -> Table {
    ask(store, Question::Tools, f)
}

/// A store of one backend with what keeps it alive (a temp folder or a temp database).
struct Db {
    name: &'static str,
    store: Store,
    dir: tempfile::TempDir,
    location: Location,
    _pg: Option<TempDatabase>,
}

/// A fresh store of each backend.
fn backends() -> Vec<Db> {
    let dir = tempfile::tempdir().expect("tempdir");
    let duck = Location::DuckDb(dir.path().join("t.duckdb"));
    let pg = TempDatabase::create();
    let pg_location = Location::Postgres(pg.url().to_owned());
    vec![
        Db {
            name: "duckdb",
            store: Store::open(&duck).expect("open duckdb"),
            dir,
            location: duck,
            _pg: None,
        },
        Db {
            name: "postgres",
            store: Store::open(&pg_location).expect("open postgres"),
            dir: tempfile::tempdir().expect("tempdir"),
            location: pg_location,
            _pg: Some(pg),
        },
    ]
}

/// Runs `check` on a fresh store of each backend, saying which one failed.
fn on_each(check: impl Fn(&mut Db)) {
    for mut db in backends() {
        eprintln!("-- backend: {}", db.name);
        check(&mut db);
    }
}

/// A Caliper `ToolUseEvent`'s aggregate measures are kept with its record as
/// `[[metric, value, max], ...]`, a missing max as null, on both backends.
#[test]
fn tool_use_metrics_are_stored_as_json() {
    const TOOL_USE: &[u8] = include_bytes!(
        "../../ltiscope-ingest/tests/data/caliper/v1p2/caliperEventToolUseUsedWithProgress.json"
    );
    on_each(|db| {
        let b = batch(TOOL_USE);
        assert_eq!(b.events.len(), 1, "the fixture is one event");
        db.store.write(&b).expect("write");
        let found = db
            .store
            .find_text(r#"[["MinutesOnTask",873.0,null],["UnitsCompleted",12.0,25.0]]"#)
            .expect("find");
        assert_eq!(
            found,
            [("launches".to_owned(), "metrics".to_owned(), 1)],
            "{}",
            db.name
        );
    });
}

#[test]
fn the_same_events_twice_are_stored_once() {
    on_each(|db| {
        let store = &mut db.store;
        let first = store.write(&batch(LAUNCH_AND_RETURN)).expect("write");
        assert_eq!((first.launches, first.duplicates), (2, 0));
        let again = store.write(&batch(LAUNCH_AND_RETURN)).expect("write");
        assert_eq!((again.launches, again.duplicates), (0, 2));
        let t = tools(store, &ReportFilter::default());
        assert_eq!(t.rows.len(), 1);
        assert_eq!(t.int(0, "launches"), Some(1), "returns are not launches");
        assert_eq!(t.text(0, "tool_id"), Some("ltiah.herokuapp.com"));
    });
}

/// The data-quality report's launch records and duplicates of one source.
fn records_and_duplicates(store: &Store, source: Source) -> (Option<u64>, Option<u64>) {
    let q = ask(store, Question::QualitySources, &ReportFilter::default());
    let row = q
        .find("source", source.as_str())
        .expect("a row for the source");
    (q.int(row, "launch_records"), q.int(row, "duplicates"))
}

/// `n` generated Blackboard launches (no returns, no other events) and their batches of `per`.
fn launch_batches(n: u64, seed: u64, per: usize) -> (Vec<String>, Vec<WriteBatch>) {
    use ltiscope_ingest::generate::{Generator, Options, Platform};
    let mut opts = Options::new(Platform::Blackboard, n, seed);
    opts.non_lti_rate = 0.0;
    opts.return_rate = 0.0;
    let docs: Vec<String> = Generator::new(opts).collect();
    let batches = docs
        .chunks(per)
        .map(|c| batch(c.join("\n").as_bytes()))
        .collect();
    (docs, batches)
}

/// Streams the batches in transactions of at least `commit_every` events: each batch's
/// (launches, duplicates).
fn stream(store: &mut Store, batches: Vec<WriteBatch>, commit_every: usize) -> Vec<(u64, u64)> {
    let mut outcomes = Vec::new();
    store
        .write_stream(batches.into_iter(), commit_every, |_: &WriteBatch, o| {
            outcomes.push((o.launches, o.duplicates));
        })
        .expect("stream");
    outcomes
}

/// `n` Blackboard events are stored, each once.
fn assert_each_stored_once(store: &Store, n: usize) {
    let ids = store
        .event_id_counts(Source::BlackboardCaliper)
        .expect("event ids");
    assert_eq!(ids.len(), n);
    assert!(ids.iter().all(|(_, n)| *n == 1), "an event stored twice");
}

/// A stream of batches in transactions of several batches: each batch gets its outcome (a
/// repeat of a committed batch is a duplicate; of one in the same open transaction, the next
/// test), and everything is stored once it returns.
#[test]
fn a_stream_of_batches_is_stored_across_its_transactions() {
    on_each(|db| {
        let store = &mut db.store;
        // 12 batches of 50 launches, then the first two again.
        let (docs, mut batches) = launch_batches(600, 3, 50);
        batches.push(batch(docs[..50].join("\n").as_bytes()));
        batches.push(batch(docs[50..100].join("\n").as_bytes()));
        let mut outcomes = Vec::new();
        store
            .write_stream(batches.into_iter(), 120, |b: &WriteBatch, o| {
                outcomes.push((b.events.len(), o));
            })
            .expect("stream");
        assert_eq!(outcomes.len(), 14);
        for (i, (events, o)) in outcomes.iter().enumerate() {
            let expected = if i < 12 { (50, 0) } else { (0, 50) };
            assert_eq!(
                (*events, (o.launches, o.duplicates)),
                (50, expected),
                "batch {i}"
            );
        }
        let everyone = ReportFilter {
            include_test_users: true,
            ..ReportFilter::default()
        };
        let t = ask(store, Question::Totals, &everyone);
        assert_eq!(t.int(0, "launches"), Some(600));
    });
}

/// A DuckDB stream writes batches in groups as they come, whatever they hold: batches of
/// nothing but quarantined lines (no event to count) are written, and their outcomes
/// reported, before the stream ends, not gathered whole into one group (a regression:
/// a group once counted only events, so a file of bad lines was held in memory at once).
#[test]
fn a_stream_of_quarantined_lines_is_written_as_it_comes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = Store::open_duckdb(&dir.path().join("q.duckdb")).expect("open");
    // More than one group's worth (`FLUSH_ROWS`, 4,096 items) of batches of one line each.
    let n = 5_000;
    let taken = std::cell::Cell::new(0usize);
    let items = (0..n).map(|i| {
        taken.set(taken.get() + 1);
        batch(format!("{{\"not json {i}").as_bytes())
    });
    let mut first_reported_at = None;
    let mut quarantined = 0;
    store
        .write_stream(items, 245_760, |b: &WriteBatch, o| {
            assert_eq!(b.rejected.len(), 1);
            first_reported_at.get_or_insert(taken.get());
            quarantined += o.quarantined;
        })
        .expect("stream");
    assert_eq!(quarantined, n as u64);
    let first = first_reported_at.expect("reported");
    assert!(
        first < n,
        "the first batch was reported only after all {n} were taken"
    );
}

/// Into an empty store, a repeat in a later batch of the same open transaction is a
/// duplicate: the keys a stream knows to be new wait to be written in order until the
/// transaction ends, and must be written before the store's keys decide about a repeat.
#[test]
fn a_repeat_within_the_open_transaction_of_a_fresh_stream_is_a_duplicate() {
    on_each(|db| {
        let store = &mut db.store;
        let (docs, mut batches) = launch_batches(100, 13, 50);
        batches.push(batch(docs[..50].join("\n").as_bytes()));
        batches.push(batch(docs[25..75].join("\n").as_bytes()));
        let outcomes = stream(store, batches, 10_000);
        assert_eq!(outcomes, vec![(50, 0), (50, 0), (0, 50), (0, 50)]);
        assert_each_stored_once(store, 100);
    });
}

/// A bulk load larger than the rows DuckDB's appenders hold between two flushes (4,096), in
/// two transactions (5,000 events; then 4,000 more and 1,000 the first committed): every event is
/// stored once, the repeats are duplicates, and the ingest log and the rollups (written once
/// per transaction) count every batch.
#[test]
fn a_long_stream_is_stored_once_with_its_log_and_rollups() {
    on_each(|db| {
        let store = &mut db.store;
        let (docs, mut batches) = launch_batches(9_000, 11, 1_000);
        batches.push(batch(docs[4_000..5_000].join("\n").as_bytes()));
        let outcomes = stream(store, batches, 5_000);
        let mut expected = vec![(1_000, 0); 9];
        expected.push((0, 1_000));
        assert_eq!(outcomes, expected);
        store.refresh_rollups().expect("refresh");
        let everyone = ReportFilter {
            include_test_users: true,
            ..ReportFilter::default()
        };
        let t = ask(store, Question::Totals, &everyone);
        assert_eq!(t.int(0, "launches"), Some(9_000));
        assert_eq!(
            records_and_duplicates(store, Source::BlackboardCaliper),
            (Some(9_000), Some(1_000))
        );
        assert_each_stored_once(store, 9_000);
    });
}

/// A bulk load into a store that already holds some of its events (a file imported again
/// after part of it was): those are duplicates, the rest is stored once. (Into an empty store
/// a stream tells new keys apart by itself; here the store's keys must decide.)
#[test]
fn a_stream_into_a_store_holding_part_of_it_stores_the_rest() {
    on_each(|db| {
        let store = &mut db.store;
        let (docs, batches) = launch_batches(3_000, 5, 1_000);
        store
            .write(&batch(docs[1_200..1_700].join("\n").as_bytes()))
            .expect("write");
        let outcomes = stream(store, batches, 5_000);
        assert_eq!(outcomes, vec![(1_000, 0), (500, 500), (1_000, 0)]);
        assert_each_stored_once(store, 3_000);
    });
}

/// Two streams through one handle (the second also asks DuckDB to keep its freed blocks,
/// which it allows only at no less than before): the second is stored like any stream into a
/// store that holds part of it (and repeats within itself).
#[test]
fn a_second_stream_through_the_same_handle_is_stored_too() {
    on_each(|db| {
        let store = &mut db.store;
        let (_, batches) = launch_batches(2_000, 17, 500);
        let mut batches = batches.into_iter();
        let first: Vec<WriteBatch> = batches.by_ref().take(2).collect();
        let second: Vec<WriteBatch> = batches.collect();
        assert_eq!(stream(store, first, 600), vec![(500, 0), (500, 0)]);
        let (docs, _) = launch_batches(2_000, 17, 500);
        let mut again = vec![batch(docs[900..1_100].join("\n").as_bytes())];
        again.extend(second);
        assert_eq!(
            stream(store, again, 600),
            vec![(100, 100), (400, 100), (500, 0)]
        );
        assert_each_stored_once(store, 2_000);
    });
}

#[test]
fn repeats_within_one_batch_are_duplicates() {
    on_each(|db| {
        let store = &mut db.store;
        let mut b = batch(BDS_LAUNCH);
        let copy = batch(BDS_LAUNCH);
        b.events.extend(copy.events);
        let o = store.write(&b).expect("write");
        assert_eq!((o.launches, o.duplicates), (1, 1));
        assert_eq!(
            records_and_duplicates(store, Source::BrightspaceBds),
            (Some(1), Some(1))
        );
    });
}

#[test]
fn quarantine_is_listed_and_counted_by_reason() {
    on_each(|db| {
        let store = &mut db.store;
        let mut b = batch(b"{\"type\": \"SessionEvent\", \"action\": \"Deleted\", \"actor\": \"https://x.edu/u/1\", \"object\": \"https://x.edu\", \"eventTime\": \"2024-01-01T00:00:00Z\"}\nnot json at all\n");
        b.source_hint = Some(Source::Caliper);
        let o = store.write(&b).expect("write");
        assert_eq!(o.quarantined, 2);
        let items = store.quarantine_list(None, 10).expect("list");
        assert_eq!(items.len(), 2);
        assert!(items.iter().any(|i| i.reason_code == "unsupported_action"));
        assert!(
            items
                .iter()
                .any(|i| i.reason_code == "not_json" && i.body.contains("not json"))
        );
        let counts = ask(store, Question::QuarantineReasons, &ReportFilter::default());
        assert_eq!(counts.sum("count"), 2);
        store
            .quarantine_mark_replayed(&[items[0].id], chrono::Utc::now())
            .expect("mark");
        assert_eq!(store.quarantine_list(None, 10).expect("list").len(), 1);
    });
}

/// Two quarantined items, one of them with a body outside ASCII (its key hashes UTF-8 bytes).
const TWO_BAD_ITEMS: &[u8] = "{\"type\": \"SessionEvent\", \"action\": \"Deleted\", \"actor\": \"https://x.edu/u/1\", \"object\": \"https://x.edu\", \"eventTime\": \"2024-01-01T00:00:00Z\"}\nnot json at all: café\n".as_bytes();

/// Regression: importing a file again stored each of its quarantined items again, and the
/// quality report counted them twice. The same item (origin, index, body) is now stored
/// once and counted as a repeat; the same body from elsewhere is another item.
#[test]
fn the_same_quarantined_item_twice_is_stored_once() {
    on_each(|db| {
        let store = &mut db.store;
        let b = batch(TWO_BAD_ITEMS);
        let first = store.write(&b).expect("write");
        assert_eq!((first.quarantined, first.quarantine_repeats), (2, 0));
        let again = store.write(&b).expect("write again");
        assert_eq!((again.quarantined, again.quarantine_repeats), (2, 2));
        let reasons = |store: &Store| {
            ask(store, Question::QuarantineReasons, &ReportFilter::default()).sum("count")
        };
        assert_eq!(store.quarantine_list(None, 10).expect("list").len(), 2);
        assert_eq!(reasons(store), 2);
        // Both copies in one write: the second is the repeat.
        let mut elsewhere = batch(TWO_BAD_ITEMS);
        elsewhere.origin = "another file".into();
        let o = store
            .write_many(&[&elsewhere, &elsewhere])
            .expect("write many");
        let o: Vec<_> = o
            .iter()
            .map(|o| (o.quarantined, o.quarantine_repeats))
            .collect();
        assert_eq!(o, [(2, 0), (2, 2)]);
        assert_eq!(store.quarantine_list(None, 10).expect("list").len(), 4);
        // A replayed item is still the same item.
        let items = store.quarantine_list(None, 10).expect("list");
        store
            .quarantine_mark_replayed(&[items[0].id], chrono::Utc::now())
            .expect("mark");
        let after = store.write(&batch(TWO_BAD_ITEMS)).expect("write");
        assert_eq!(after.quarantine_repeats, 2);
        assert_eq!(store.quarantine_list(None, 10).expect("list").len(), 3);
    });
}

/// A database from before item keys (DuckDB migration 11, PostgreSQL 9) keeps the first copy
/// of each quarantined item, and the key the migration computes in SQL is the one new items
/// get: writing the same items afterwards stores nothing.
#[test]
fn the_item_key_migration_keeps_one_copy_and_agrees_with_new_writes() {
    const COLUMNS: &str = "received_at, source, origin, item_index, reason_code, reason, body";
    let copy = format!("INSERT INTO quarantine ({COLUMNS}) SELECT {COLUMNS} FROM quarantine");
    let dir = tempfile::tempdir().expect("tempdir");
    let pg = TempDatabase::create();
    for location in [
        Location::DuckDb(dir.path().join("old.duckdb")),
        Location::Postgres(pg.url().to_owned()),
    ] {
        eprintln!("-- {location}");
        let (before, latest) = {
            let mut store = Store::open(&location).expect("open");
            assert_eq!(
                store
                    .write(&batch(TWO_BAD_ITEMS))
                    .expect("write")
                    .quarantined,
                2
            );
            let list = store.quarantine_list(None, 10).expect("list");
            (list, store.schema_version().expect("version"))
        };
        // Back to the schema before item keys, with every item stored three times.
        let undo = |before: &str| format!("{before} {copy}; {copy};");
        match &location {
            Location::DuckDb(path) => duckdb::Connection::open(path)
                .expect("open raw")
                .execute_batch(&undo(BEFORE_11))
                .expect("downgrade"),
            Location::Postgres(url) => postgres::Client::connect(url, postgres::NoTls)
                .expect("connect")
                .batch_execute(&undo(
                    "DROP TABLE tool_naming; DROP TABLE tool_renames; DROP TABLE derivation;
                     DELETE FROM schema_migrations WHERE version >= 9;
                     DROP INDEX quarantine_item; ALTER TABLE quarantine DROP COLUMN item_key;",
                ))
                .expect("downgrade"),
        }
        let mut store = Store::open(&location).expect("reopen migrates");
        assert_eq!(store.schema_version().expect("version"), latest);
        let ids = |items: Vec<ltiscope_store::QuarantinedItem>| {
            let mut ids: Vec<i64> = items.iter().map(|i| i.id).collect();
            ids.sort();
            ids
        };
        let after = store.quarantine_list(None, 10).expect("list");
        assert_eq!(ids(after), ids(before), "the first copies stay");
        let again = store.write(&batch(TWO_BAD_ITEMS)).expect("write again");
        assert_eq!(again.quarantine_repeats, 2, "SQL and Rust keys agree");
        assert_eq!(store.quarantine_list(None, 10).expect("list").len(), 2);
    }
}

/// Runs `sql(i)` on each inbox file of the database at `path` that exists (attached as
/// `old{i}`), turning it back into an earlier build's shape; the rows its `table` then holds,
/// all inboxes together.
fn downgrade_inboxes(
    conn: &duckdb::Connection,
    path: &std::path::Path,
    table: &str,
    sql: impl Fn(usize) -> String,
) -> i64 {
    let mut rows = 0;
    for i in 0..2 {
        let inbox = std::path::PathBuf::from(format!("{}.inbox{i}", path.display()));
        if !inbox.exists() {
            continue;
        }
        conn.execute_batch(&format!(
            "ATTACH '{}' AS old{i}; {}",
            inbox.display(),
            sql(i)
        ))
        .expect("downgrade the inbox");
        let n: i64 = conn
            .query_row(&format!("SELECT count(*) FROM old{i}.{table}"), [], |r| {
                r.get(0)
            })
            .expect("count");
        rows += n;
        conn.execute_batch(&format!("DETACH old{i}"))
            .expect("detach");
    }
    rows
}

/// A collector of a build before derived keys (migration 15) that died with launch records in
/// its inbox, whose rows then carried the user and course keys: opening the database with this
/// build moves them into the launch records of the old shape, then migrates, and the records
/// hold the keys the model chooses.
#[test]
fn an_inbox_left_before_derived_keys_is_moved_and_migrated() {
    use ltiscope_ingest::EventKind;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("old-keys.duckdb");
    let launches = batch(LAUNCH_AND_RETURN);
    let chosen: Vec<(String, Option<String>, Option<String>)> = {
        let mut c: Vec<_> = launches
            .events
            .iter()
            .filter_map(|e| match &e.get().kind {
                EventKind::Launch(r) => Some((
                    r.meta.event_id.clone(),
                    r.user.key().map(str::to_owned),
                    r.course.key().map(str::to_owned),
                )),
                _ => None,
            })
            .collect();
        c.sort();
        c
    };
    assert_eq!(chosen.len(), 2, "a launch and its return");
    {
        let mut store = Store::open_duckdb(&path).expect("open");
        let _mover = store
            .ingest_through_inbox()
            .expect("inbox")
            .expect("duckdb");
        let o = store.write_many(&[&launches]).expect("inbox write");
        assert_eq!(o[0].launches, 2);
        // Acknowledged, never moved: the process dies here.
    }
    // Back to the shapes a build before migration 15 made: the keys as plain columns, in the
    // main table and in the inboxes, where the writer filled them.
    let conn = duckdb::Connection::open(&path).expect("open raw");
    conn.execute_batch(
        "CREATE TABLE launches_old AS SELECT * FROM launches;
         DROP TABLE launches;
         ALTER TABLE launches_old RENAME TO launches;
         DELETE FROM schema_migrations WHERE version >= 15;",
    )
    .expect("downgrade");
    let columns: Vec<String> = {
        let mut stmt = conn
            .prepare(
                "SELECT column_name FROM duckdb_columns()
                 WHERE database_name = 'old-keys' AND table_name = 'launches'
                 ORDER BY column_index",
            )
            .expect("prepare");
        stmt.query_map([], |r| r.get(0))
            .expect("columns")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    assert_eq!(columns.len(), 41, "{columns:?}");
    let sent = |c: &String| match c.as_str() {
        "user_key" => "coalesce(user_iri, user_platform_id, user_external_id) AS user_key".into(),
        "course_key" => "coalesce(course_iri, course_platform_id) AS course_key".into(),
        _ => c.clone(),
    };
    let old_shape = columns.iter().map(sent).collect::<Vec<_>>().join(", ");
    let waiting = downgrade_inboxes(&conn, &path, "launches", |i| {
        format!(
            "CREATE TABLE old{i}.launches_old AS SELECT seq, {old_shape} FROM old{i}.launches;
             DROP TABLE old{i}.launches;
             ALTER TABLE old{i}.launches_old RENAME TO launches;"
        )
    });
    drop(conn);
    assert_eq!(waiting, 2, "the launch and its return wait in an inbox");
    let store = Store::open_duckdb(&path).expect("reopen moves, then migrates");
    assert_eq!(store.schema_version().expect("version"), LATEST_DUCKDB);
    drop(store);
    let conn = duckdb::Connection::open(&path).expect("open raw");
    let mut stmt = conn
        .prepare("SELECT event_id, user_key, course_key FROM launches ORDER BY event_id")
        .expect("prepare");
    let stored: Vec<(String, Option<String>, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(stored, chosen);
}

/// A collector of a build before item keys (migration 11) that died with quarantined items in
/// its inbox: opening the database with this build moves them (the inbox has no item keys),
/// then migrates, and the moved items are keyed like new ones.
#[test]
fn an_inbox_left_before_item_keys_is_moved_and_keyed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("old-inbox.duckdb");
    let bad = batch(TWO_BAD_ITEMS);
    {
        let mut store = Store::open_duckdb(&path).expect("open");
        let _mover = store
            .ingest_through_inbox()
            .expect("inbox")
            .expect("duckdb");
        // The same items in two groups: before item keys, both copies were moved.
        for _ in 0..2 {
            let o = store.write_many(&[&bad]).expect("inbox write");
            assert_eq!(o[0].quarantined, 2);
        }
        // Acknowledged, never moved: the process dies here.
    }
    // Back to the shapes a build before migration 11 made: the main table and the inboxes.
    let conn = duckdb::Connection::open(&path).expect("open raw");
    conn.execute_batch(BEFORE_11).expect("downgrade");
    let unkeyed = downgrade_inboxes(&conn, &path, "quarantine", |i| {
        format!("ALTER TABLE old{i}.quarantine DROP COLUMN item_key;")
    });
    drop(conn);
    assert_eq!(unkeyed, 4, "both groups wait in the inbox, without keys");
    let mut store = Store::open_duckdb(&path).expect("reopen moves, then migrates");
    assert_eq!(store.schema_version().expect("version"), LATEST_DUCKDB);
    assert_eq!(
        store.quarantine_list(None, 10).expect("list").len(),
        2,
        "one copy of each item"
    );
    let again = store.write(&bad).expect("write again");
    assert_eq!(again.quarantine_repeats, 2, "the moved items are keyed");
    assert_eq!(store.quarantine_list(None, 10).expect("list").len(), 2);
}

#[test]
fn reopening_keeps_data_and_schema_version() {
    on_each(|db| {
        db.store.write(&batch(LAUNCH_AND_RETURN)).expect("write");
        let version = db.store.schema_version().expect("version");
        assert!(version >= 1);
        let again = Store::open(&db.location).expect("reopen");
        assert_eq!(again.schema_version().expect("version"), version);
        assert_eq!(
            tools(&again, &ReportFilter::default()).int(0, "launches"),
            Some(1)
        );
    });
}

/// Two handles (two collector processes on PostgreSQL) storing the same retried batch store it
/// once: the second sees every event as a duplicate.
#[test]
fn the_same_batch_through_two_handles_is_stored_once() {
    // PostgreSQL only: one process owns a DuckDB file, and its handles share one writer.
    let pg = TempDatabase::create();
    let mut one = Store::open_postgres(pg.url()).expect("first handle");
    let mut other = Store::open_postgres(pg.url()).expect("second handle");
    let a = one.write(&batch(LAUNCH_AND_RETURN)).expect("write");
    let b = other.write(&batch(LAUNCH_AND_RETURN)).expect("write");
    assert_eq!((a.launches, a.duplicates), (2, 0));
    assert_eq!((b.launches, b.duplicates), (0, 2));
    let counts = one
        .event_id_counts(Source::BlackboardCaliper)
        .expect("counts");
    assert_eq!(counts.len(), 2, "{counts:?}");
    assert!(counts.iter().all(|(_, n)| *n == 1), "{counts:?}");
}

#[test]
fn purge_removes_what_happened_before_the_cutoff_from_reports_and_exports() {
    on_each(|db| {
        let store = &mut db.store;
        // Blackboard launch and return on 2020-12-24, the BDS launch in 2023.
        store.write(&batch(LAUNCH_AND_RETURN)).expect("write");
        store.write(&batch(BDS_LAUNCH)).expect("write");
        let cutoff = chrono::DateTime::from_timestamp(1_650_000_000, 0).expect("t");
        let dry = store.purge(cutoff, true).expect("dry run");
        assert_eq!(dry.launch_records, 2, "{dry:?}");
        assert_eq!(tools(store, &ReportFilter::default()).sum("launches"), 2);
        // The purged course's label is in its records and, once rolled up, in the course names.
        let label = "Ultra Ltiah_herokuapp_placement";
        let tables = |found: Vec<(String, String, u64)>| -> Vec<String> {
            found.into_iter().map(|(t, _, _)| t).collect()
        };
        assert!(
            tables(store.find_text(label).expect("audit")).contains(&"rollup_courses".to_owned())
        );
        let done = store.purge(cutoff, false).expect("purge");
        assert_eq!(done.launch_records, 2);
        assert_eq!(done.events, dry.events);
        let left = tools(store, &ReportFilter::default());
        assert_eq!(left.sum("launches"), 1);
        assert_eq!(left.text(0, "tool_id"), Some("example.org"));
        let path = db.dir.path().join("after.csv");
        let n = store
            .export_launches(
                &ReportFilter::default(),
                ltiscope_store::ExportFormat::Csv,
                &path,
            )
            .expect("export");
        assert_eq!(n, 1);
        assert_eq!(
            store.find_text(label).expect("audit"),
            vec![],
            "{label} outlived its purge"
        );
        assert_eq!(store.purge(cutoff, true).expect("again").launch_records, 0);
        // A purged event sent again is stored again (its key went with it), then purged again.
        let again = store.write(&batch(LAUNCH_AND_RETURN)).expect("write");
        assert_eq!(again.launches, 2);
    });
}

/// The launch records' user and course keys, which the databases derive themselves
/// (generated columns), are what the model's `UserRef::key` and `CourseRef::key` choose, for
/// records of every source, on both backends.
#[test]
fn both_backends_derive_the_keys_the_model_chooses() {
    use ltiscope_ingest::EventKind;
    use ltiscope_ingest::generate::{Generator, Options, Platform};
    use std::collections::BTreeMap;
    type Keys = BTreeMap<(String, String), (Option<String>, Option<String>)>;
    let mut lines = Vec::new();
    for doc in Generator::new(Options::new(Platform::Mixed, 300, 11)) {
        lines.extend_from_slice(doc.as_bytes());
        lines.push(b'\n');
    }
    let batches = [&lines[..], LAUNCH_AND_RETURN, V1P0_LAUNCH, BDS_LAUNCH].map(batch);
    let mut chosen = Keys::new();
    // Records where the order of the identifiers decides the key.
    let (mut user_order, mut course_fallback) = (0, 0);
    for e in batches.iter().flat_map(|b| &b.events) {
        if let EventKind::Launch(r) = &e.get().kind {
            user_order += usize::from(r.user.iri.is_some() && r.user.platform_id.is_some());
            course_fallback +=
                usize::from(r.course.iri.is_none() && r.course.platform_id.is_some());
            let key = |k: Option<&str>| k.map(str::to_owned);
            chosen.insert(
                (r.meta.tenant.clone(), r.meta.event_id.clone()),
                (key(r.user.key()), key(r.course.key())),
            );
        }
    }
    assert!(chosen.len() > 200, "{}", chosen.len());
    assert!(
        user_order > 100 && course_fallback > 0,
        "{user_order} {course_fallback}"
    );
    on_each(|db| {
        for b in &batches {
            db.store.write(b).expect("write");
        }
        let path = db.dir.path().join("keys.jsonl");
        let everyone = ReportFilter {
            include_test_users: true,
            ..ReportFilter::default()
        };
        db.store
            .export_launches(&everyone, ltiscope_store::ExportFormat::JsonLines, &path)
            .expect("export");
        let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
        let stored: Keys = std::fs::read_to_string(&path)
            .expect("read")
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("json");
                (
                    (
                        text(&v["tenant"]).unwrap_or_default(),
                        text(&v["event_id"]).unwrap_or_default(),
                    ),
                    (text(&v["user_key"]), text(&v["course_key"])),
                )
            })
            .collect();
        let differ: Vec<_> = chosen
            .iter()
            .filter(|(k, v)| stored.get(*k) != Some(*v))
            .map(|(k, v)| (k, v, stored.get(k)))
            .take(3)
            .collect();
        assert!(differ.is_empty(), "{}: {differ:?}", db.name);
        assert_eq!(stored.len(), chosen.len(), "{}", db.name);
    });
}

/// The same generated term in both backends: every question answers the same rows.
#[test]
fn both_backends_answer_every_question_alike() {
    use ltiscope_ingest::generate::{Generator, Options, Platform};
    let mut opts = Options::new(Platform::Mixed, 1500, 7);
    opts.duplicate_rate = 0.02;
    opts.malformed_rate = 0.01;
    let mut lines = Vec::new();
    for doc in Generator::new(opts.clone()) {
        lines.extend_from_slice(doc.as_bytes());
        lines.push(b'\n');
    }
    let mut dbs = backends();
    for db in &mut dbs {
        for chunk in lines.split(|b| *b == b'\n').collect::<Vec<_>>().chunks(400) {
            db.store.write(&batch(&chunk.join(&b'\n'))).expect("write");
        }
    }
    // A user who is there, so the user lookup is compared on rows, not on two empty answers.
    let sample = dbs[0].dir.path().join("sample.jsonl");
    dbs[0]
        .store
        .export_launches(
            &ReportFilter::default(),
            ltiscope_store::ExportFormat::JsonLines,
            &sample,
        )
        .expect("export");
    let first: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&sample)
            .expect("read")
            .lines()
            .next()
            .expect("a record"),
    )
    .expect("json");
    let mut p = params();
    p.as_of = opts.start + chrono::Duration::days(60);
    p.user = Some(first["user_key"].as_str().expect("user key").to_owned());
    assert!(
        !dbs[0]
            .store
            .answer(Question::UserLaunches, &ReportFilter::default(), &p)
            .expect("answer")
            .rows
            .is_empty(),
        "the sample user has launches"
    );
    p.utc_offset_minutes = -300;
    let filters = [
        ReportFilter::default(),
        ReportFilter {
            from: Some(opts.start + chrono::Duration::days(10)),
            to: Some(opts.start + chrono::Duration::days(40)),
            ..ReportFilter::default()
        },
        ReportFilter {
            role: Some(ltiscope_model::RoleBucket::Learner),
            include_test_users: true,
            ..ReportFilter::default()
        },
    ];
    let (duck, pg) = (&dbs[0].store, &dbs[1].store);
    let mut compared = 0;
    for f in &filters {
        for q in ALL_QUESTIONS {
            let a = duck
                .answer(q, f, &p)
                .unwrap_or_else(|e| panic!("duckdb {q:?}: {e}"));
            let b = pg
                .answer(q, f, &p)
                .unwrap_or_else(|e| panic!("postgres {q:?}: {e}"));
            compared += same_cells(&a, &b, &format!("{q:?} {f:?}"), ("duckdb", "postgres"));
        }
    }
    assert!(
        compared > 1000,
        "the generated term answered too little: {compared} cells"
    );
}

/// The top courses are the first rows of all courses, ties at the cut included, on both
/// backends, for everything and for one tool, named from the records and from rollups.
#[test]
fn the_top_courses_are_the_first_of_all_courses() {
    use ltiscope_ingest::generate::{Generator, Options, Platform};
    use ltiscope_model::report::TOP_COURSES;
    // The generator makes a course per 400 launches: enough courses to cut.
    let mut opts = Options::new(Platform::Blackboard, 30_000, 5);
    opts.non_lti_rate = 0.0;
    let start = opts.start;
    let docs: Vec<String> = Generator::new(opts).collect();
    for mut db in backends() {
        let store = &mut db.store;
        write_docs(store, &docs, 2000);
        let p = params();
        let top_tool = store
            .answer_raw(Question::ToolCounts, &ReportFilter::default(), &p)
            .expect("tools")
            .text(0, "tool_id")
            .map(str::to_owned);
        let one_tool = ReportFilter {
            tool: top_tool,
            ..ReportFilter::default()
        };
        // A week: few launches per course, so courses tie at the cut.
        let week = ReportFilter {
            from: Some(start + chrono::Duration::days(14)),
            to: Some(start + chrono::Duration::days(21)),
            ..ReportFilter::default()
        };
        let mut ties = 0;
        for f in [ReportFilter::default(), one_tool, week] {
            let all = store
                .answer_raw(Question::Courses, &f, &p)
                .expect("courses");
            assert!(
                all.rows.len() > TOP_COURSES,
                "{}: only {} courses, too few to cut",
                db.name,
                all.rows.len()
            );
            let mut first = all.clone();
            first.rows.truncate(TOP_COURSES);
            let raw = store.answer_raw(Question::TopCourses, &f, &p).expect("top");
            let what = format!("{} top courses {f:?}", db.name);
            let launches = |i: usize| all.int(i, "launches");
            ties += usize::from(launches(TOP_COURSES - 1) == launches(TOP_COURSES));
            same_cells(&raw, &first, &what, ("top", "all"));
            let rolled = store
                .answer_from_rollups(Question::TopCourses, &f, &p)
                .expect("rollups")
                .expect("rollups answer the top courses");
            same_cells(&rolled, &first, &what, ("named by rollups", "records"));
        }
        assert!(ties > 0, "{}: no filter had a tie at the cut", db.name);
    }
}

/// Asserts two answers hold the same cells (measures to a millionth); returns how many.
fn same_cells(a: &Table, b: &Table, what: &str, names: (&str, &str)) -> usize {
    assert_eq!(a.rows.len(), b.rows.len(), "{what}: row counts");
    let mut compared = 0;
    for (i, (ra, rb)) in a.rows.iter().zip(&b.rows).enumerate() {
        assert_eq!(ra.len(), rb.len(), "{what} row {i}: cell counts");
        for ((ca, cb), col) in ra.iter().zip(rb).zip(&a.columns) {
            let same = match (ca.as_f64(), cb.as_f64()) {
                (Some(x), Some(y)) => (x - y).abs() <= 1e-6 * x.abs().max(1.0),
                _ => ca == cb,
            };
            assert!(
                same,
                "{what} row {i} {}: {} {ca:?}, {} {cb:?}",
                col.name, names.0, names.1
            );
            compared += 1;
        }
    }
    compared
}

/// The questions rollups answer.
const ROLLUP_QUESTIONS: [Question; 14] = [
    Question::Totals,
    Question::Daily,
    Question::ToolCounts,
    Question::ToolLaunches,
    Question::Tools,
    Question::Adoption,
    Question::Roles,
    Question::Hourly,
    Question::MessageTypes,
    Question::LtiVersions,
    Question::Deployments,
    Question::Courses,
    Question::TopCourses,
    Question::TimeInTool,
];

/// Rollups answer exactly what the launch records answer, on both backends: written out of
/// order in small batches with refreshes in between (so days are recomputed piecemeal as
/// marks arrive), after more writes that no one refreshed (reports refresh first), and again
/// after the time zone and the time-in-tool cap change (everything rebuilt, days cut at New
/// York midnights, a cap of 15 minutes so many pairs are over it).
#[test]
fn rollups_answer_exactly_what_the_launch_records_answer() {
    use ltiscope_ingest::generate::{Generator, Options, Platform};
    let mut opts = Options::new(Platform::Mixed, 2400, 11);
    opts.duplicate_rate = 0.02;
    let mut docs: Vec<String> = Generator::new(opts.clone()).collect();
    // Out of order: every third document moves to the end (late arrivals).
    let late: Vec<String> = docs.iter().skip(2).step_by(3).cloned().collect();
    docs = docs
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 2)
        .map(|(_, d)| d)
        .chain(late)
        .collect();
    let (first, rest) = docs.split_at(docs.len() * 3 / 4);
    let day = |n: i64| opts.start + chrono::Duration::days(n);
    for mut db in backends() {
        let store = &mut db.store;
        for (i, chunk) in first.chunks(150).enumerate() {
            store
                .write(&batch(chunk.join("\n").as_bytes()))
                .expect("write");
            if i % 3 == 0 {
                store.refresh_rollups().expect("refresh");
            }
        }
        for chunk in rest.chunks(150) {
            store
                .write(&batch(chunk.join("\n").as_bytes()))
                .expect("write");
        }
        // The late arrivals touch every month of the term: its months are recomputed in two
        // lanes side by side, and what follows compares what they wrote with the records.
        let refreshed = store.refresh_rollups().expect("refresh");
        assert_eq!(refreshed.lanes, 2, "{}: {refreshed:?}", db.name);
        let again = store.refresh_rollups().expect("refresh");
        assert_eq!(again.marks, 0, "{}: every mark read is consumed", db.name);
        let tenant = store
            .answer_raw(Question::Tenants, &ReportFilter::default(), &params())
            .expect("tenants")
            .text(0, "tenant")
            .map(str::to_owned);
        let top_tool = store
            .answer_raw(Question::ToolCounts, &ReportFilter::default(), &params())
            .expect("tools")
            .text(0, "tool_id")
            .map(str::to_owned);
        let filters = |from: chrono::DateTime<chrono::Utc>, to: chrono::DateTime<chrono::Utc>| {
            [
                ReportFilter::default(),
                ReportFilter {
                    from: Some(from),
                    to: Some(to),
                    ..ReportFilter::default()
                },
                ReportFilter {
                    from: Some(from),
                    tenant: tenant.clone(),
                    role: Some(ltiscope_model::RoleBucket::Learner),
                    include_test_users: true,
                    ..ReportFilter::default()
                },
                ReportFilter {
                    to: Some(to),
                    tool: top_tool.clone(),
                    source: Some(Source::BlackboardCaliper),
                    ..ReportFilter::default()
                },
            ]
        };
        let mut compared = 0;
        // `dst`: the zone has daylight saving, so an open-ended daily series is the SQL's.
        let mut check = |store: &Store, p: &Params, fs: &[ReportFilter], dst: bool| {
            for f in fs {
                for q in ROLLUP_QUESTIONS {
                    let what = format!("{} {q:?} {f:?}", db.name);
                    let rolled = store
                        .answer_from_rollups(q, f, p)
                        .unwrap_or_else(|e| panic!("{what}: {e}"));
                    let open = f.from.is_none() || f.to.is_none();
                    if dst && open && q == Question::Daily {
                        assert!(rolled.is_none(), "{what}: an open range across DST");
                        continue;
                    }
                    let rolled = rolled.unwrap_or_else(|| panic!("{what}: rollups did not answer"));
                    let raw = store.answer_raw(q, f, p).expect("raw");
                    compared += same_cells(&rolled, &raw, &what, ("rollups", "records"));
                }
                // All of them at once share one read of the rollups: the same answers.
                let many = store
                    .answer_many(&ROLLUP_QUESTIONS, f, p)
                    .unwrap_or_else(|e| panic!("{} all at once {f:?}: {e}", db.name));
                assert_eq!(many.len(), ROLLUP_QUESTIONS.len());
                for (q, shared) in ROLLUP_QUESTIONS.iter().zip(&many) {
                    let what = format!("{} {q:?} asked with the others {f:?}", db.name);
                    let raw = store.answer_raw(*q, f, p).expect("raw");
                    compared += same_cells(shared, &raw, &what, ("shared read", "records"));
                }
            }
        };
        let mut p = params();
        check(store, &p, &filters(day(14), day(60)), false);
        // Dormant tools and deployments and the health check, seen from inside the term (at
        // midnight and at 13:00) and long after it.
        let mut rows = std::collections::BTreeMap::new();
        for as_of in [day(60), day(45) + chrono::Duration::hours(13), day(200)] {
            let mut later = p.clone();
            later.as_of = as_of;
            later.dormant_days = 14;
            for f in &filters(day(14), day(60)) {
                for q in [
                    Question::DormantTools,
                    Question::DormantDeployments,
                    Question::Health,
                ] {
                    let what = format!("{} {q:?} as of {as_of} {f:?}", db.name);
                    let rolled = store
                        .answer_from_rollups(q, f, &later)
                        .unwrap_or_else(|e| panic!("{what}: {e}"))
                        .unwrap_or_else(|| panic!("{what}: rollups did not answer"));
                    let raw = store.answer_raw(q, f, &later).expect("raw");
                    *rows.entry(q.name()).or_insert(0) += raw.rows.len();
                    same_cells(&rolled, &raw, &what, ("rollups", "records"));
                }
            }
        }
        for (q, n) in &rows {
            assert!(*n > 5, "{}: too few {q} rows compared: {n}", db.name);
        }
        assert_eq!(rows.len(), 3, "{}: {rows:?}", db.name);
        // Not on the hour: the health check is the records'.
        let mut off = p.clone();
        off.as_of = day(45) + chrono::Duration::minutes(90);
        assert!(
            store
                .answer_from_rollups(Question::Health, &ReportFilter::default(), &off)
                .expect("ask")
                .is_none()
        );
        // Not whole days, a course filter, another visit window: the records answer.
        let partial = ReportFilter {
            from: Some(day(14) + chrono::Duration::hours(5)),
            ..ReportFilter::default()
        };
        assert!(
            store
                .answer_from_rollups(Question::Tools, &partial, &p)
                .expect("ask")
                .is_none()
        );
        let course = ReportFilter {
            course: Some("x".into()),
            ..ReportFilter::default()
        };
        assert!(
            store
                .answer_from_rollups(Question::Tools, &course, &p)
                .expect("ask")
                .is_none()
        );
        let mut other = p.clone();
        other.visit_window_secs = 60;
        let all = ReportFilter::default();
        assert!(
            store
                .answer_from_rollups(Question::Totals, &all, &other)
                .expect("ask")
                .is_none()
        );
        // Days at New York midnights, pairs over 15 minutes over the cap: everything is
        // rebuilt on the next refresh.
        let ny = chrono_tz::America::New_York;
        let config = ltiscope_store::RollupConfig {
            timezone: ny,
            time_cap_secs: 15 * 60,
            ..ltiscope_store::RollupConfig::default()
        };
        p.time_cap_secs = config.time_cap_secs;
        assert!(
            store.configure_rollups(&config).expect("configure"),
            "changed"
        );
        assert!(
            !store.configure_rollups(&config).expect("configure"),
            "unchanged"
        );
        let rebuilt = store.refresh_rollups().expect("rebuild");
        assert_eq!(rebuilt.lanes, 2, "{}: {rebuilt:?}", db.name);
        assert!(rebuilt.days > 60, "{}: {rebuilt:?}", db.name);
        let midnight = |n: i64| {
            use chrono::TimeZone;
            let d = day(n).date_naive().and_hms_opt(0, 0, 0).expect("midnight");
            ny.from_local_datetime(&d)
                .earliest()
                .expect("local")
                .to_utc()
        };
        // January 26 to February 21: no daylight-saving change, so daily series too.
        p.utc_offset_minutes = -300;
        check(store, &p, &filters(midnight(14), midnight(40)), true);
        // The short cap put pairs over it: the comparison above covered them.
        let timed = store
            .answer_raw(Question::TimeInTool, &ReportFilter::default(), &p)
            .expect("time in tool");
        let over: u64 = (0..timed.rows.len())
            .filter_map(|i| timed.int(i, "over_cap"))
            .sum();
        assert!(over > 10, "{}: only {over} pairs over the cap", db.name);
        // Across the change of March 8 the SQL keeps one offset: the daily series is left to
        // it, the other questions still come from rollups.
        let dst = &filters(midnight(40), midnight(70))[1];
        assert!(
            store
                .answer_from_rollups(Question::Daily, dst, &p)
                .expect("ask")
                .is_none()
        );
        let tools_rolled = store
            .answer_from_rollups(Question::Tools, dst, &p)
            .expect("ask");
        let tools_raw = store.answer_raw(Question::Tools, dst, &p).expect("raw");
        same_cells(
            &tools_rolled.expect("rolled"),
            &tools_raw,
            "tools across DST",
            ("rollups", "records"),
        );
        assert!(
            store
                .answer_from_rollups(Question::Tools, &filters(day(14), day(40))[1], &p)
                .expect("ask")
                .is_none(),
            "UTC midnights are not New York days"
        );
        assert!(
            compared > 2000,
            "{}: too little compared: {compared}",
            db.name
        );
    }
}

#[test]
fn filters_narrow_reports() {
    on_each(|db| {
        let store = &mut db.store;
        store.write(&batch(LAUNCH_AND_RETURN)).expect("write");
        store.write(&batch(BDS_LAUNCH)).expect("write");
        let all = tools(store, &ReportFilter::default());
        assert_eq!(all.sum("launches"), 2);
        let only_bds = ReportFilter {
            source: Some(Source::BrightspaceBds),
            ..ReportFilter::default()
        };
        let bds = tools(store, &only_bds);
        assert_eq!(bds.rows.len(), 1);
        assert_eq!(bds.text(0, "tool_id"), Some("example.org"));
        assert_eq!(bds.int(0, "learner_launches"), Some(1));
        let later = ReportFilter {
            from: Some(chrono::DateTime::from_timestamp(1_600_000_000, 0).expect("t")),
            to: Some(chrono::DateTime::from_timestamp(1_650_000_000, 0).expect("t")),
            ..ReportFilter::default()
        };
        // Only the Blackboard launch (2020-12-24) is in that range.
        let t = tools(store, &later);
        assert_eq!(t.rows.len(), 1);
        assert_eq!(t.text(0, "tool_id"), Some("ltiah.herokuapp.com"));
        let courses = ask(store, Question::Courses, &ReportFilter::default());
        assert_eq!(courses.rows.len(), 2);
        assert_eq!(courses.sum("launches"), 2);
        assert_eq!(courses.sum("tools"), 2);
    });
}

const ALL_QUESTIONS: [Question; 25] = [
    Question::Totals,
    Question::Daily,
    Question::Tools,
    Question::ToolCounts,
    Question::ToolLaunches,
    Question::Courses,
    Question::TopCourses,
    Question::Roles,
    Question::Hourly,
    Question::MessageTypes,
    Question::LtiVersions,
    Question::Deployments,
    Question::Adoption,
    Question::DormantTools,
    Question::DormantDeployments,
    Question::Health,
    Question::TimeInTool,
    Question::QualitySources,
    Question::QualityDaily,
    Question::QualityLag,
    Question::QuarantineReasons,
    Question::Freshness,
    Question::UserLaunches,
    Question::Tenants,
    Question::Span,
];

/// Every answer has exactly the declared columns, each cell of the declared kind: the
/// contract the report crate, the API schema and the dashboard rely on.
#[test]
fn every_question_answers_with_its_declared_columns_and_kinds() {
    on_each(|db| {
        let store = &mut db.store;
        store.write(&batch(LAUNCH_AND_RETURN)).expect("write");
        store.write(&batch(BDS_LAUNCH)).expect("write");
        let mut p = params();
        p.as_of = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("valid");
        p.user = Some("_1_1".into());
        for q in ALL_QUESTIONS {
            let t = store
                .answer(q, &ReportFilter::default(), &p)
                .unwrap_or_else(|e| panic!("{q:?}: {e}"));
            assert_eq!(t.columns, q.columns(), "{q:?}");
            for row in &t.rows {
                assert_eq!(row.len(), t.columns.len(), "{q:?}");
                for (cell, col) in row.iter().zip(&t.columns) {
                    let ok = matches!(
                        (col.kind, cell),
                        (_, Cell::Empty)
                            | (ColumnKind::Text, Cell::Text(_))
                            | (ColumnKind::Count | ColumnKind::Int, Cell::Int(_))
                            | (ColumnKind::Float, Cell::Float(_))
                            | (ColumnKind::Ratio, Cell::Ratio(_))
                            | (ColumnKind::Time, Cell::Time(_))
                            | (ColumnKind::Day, Cell::Day(_))
                    );
                    assert!(ok, "{q:?} {}: {cell:?}", col.name);
                }
            }
        }
    });
}

#[test]
fn time_in_tool_pairs_a_launch_with_its_return() {
    on_each(|db| {
        let store = &mut db.store;
        store.write(&batch(LAUNCH_AND_RETURN)).expect("write");
        let t = ask(store, Question::TimeInTool, &ReportFilter::default());
        assert_eq!(t.int(0, "launches"), Some(1));
        assert_eq!(t.int(0, "paired"), Some(1));
        assert_eq!(t.int(0, "unpaired"), Some(0));
        let median = t
            .cell(0, "median_s")
            .and_then(Cell::as_f64)
            .expect("median");
        assert!(median > 0.0, "{median}");
        // The tools report shows the same median.
        let tools = tools(store, &ReportFilter::default());
        assert_eq!(
            tools.cell(0, "time_p50_s").and_then(Cell::as_f64),
            Some(median)
        );
        // A range that ends between the launch and its return still times the launch.
        let until_launch = ReportFilter {
            to: Some(
                chrono::DateTime::parse_from_rfc3339("2020-12-24T17:40:00Z")
                    .expect("time")
                    .with_timezone(&chrono::Utc),
            ),
            ..ReportFilter::default()
        };
        let ranged = ask(store, Question::Tools, &until_launch);
        assert_eq!(ranged.int(0, "launches"), Some(1));
        assert_eq!(
            ranged.cell(0, "time_p50_s").and_then(Cell::as_f64),
            Some(median)
        );
        // A cap below the pair's length leaves it out.
        let mut p = params();
        p.time_cap_secs = (median as i64 - 1).max(0);
        let capped = store
            .answer(Question::TimeInTool, &ReportFilter::default(), &p)
            .expect("answer");
        assert_eq!(capped.int(0, "paired"), Some(0));
        assert_eq!(capped.int(0, "over_cap"), Some(1));
    });
}

#[test]
fn the_user_lookup_finds_launch_and_return_by_platform_id() {
    on_each(|db| {
        let store = &mut db.store;
        store.write(&batch(LAUNCH_AND_RETURN)).expect("write");
        let mut p = params();
        p.user = Some("_1_1".into());
        let found = store
            .answer(Question::UserLaunches, &ReportFilter::default(), &p)
            .expect("answer");
        let actions: Vec<_> = (0..found.rows.len())
            .filter_map(|i| found.text(i, "action"))
            .collect();
        assert_eq!(actions, vec!["return", "launch"], "newest first");
        p.user = Some("nobody".into());
        let none = store
            .answer(Question::UserLaunches, &ReportFilter::default(), &p)
            .expect("answer");
        assert!(none.rows.is_empty());
    });
}

#[test]
fn dormant_lists_tools_without_recent_launches() {
    on_each(|db| {
        let store = &mut db.store;
        store.write(&batch(LAUNCH_AND_RETURN)).expect("write");
        let last = ask(store, Question::Span, &ReportFilter::default());
        let Some(Cell::Time(last_launch)) = last.cell(0, "last_launch").cloned() else {
            panic!("span: {last:?}");
        };
        let mut p = params();
        p.dormant_days = 30;
        p.as_of = last_launch + chrono::Duration::days(10);
        let recent = store
            .answer(Question::DormantTools, &ReportFilter::default(), &p)
            .expect("answer");
        assert!(recent.rows.is_empty(), "used 10 days ago is not dormant");
        p.as_of = last_launch + chrono::Duration::days(45);
        let dormant = store
            .answer(Question::DormantTools, &ReportFilter::default(), &p)
            .expect("answer");
        assert_eq!(dormant.text(0, "tool_id"), Some("ltiah.herokuapp.com"));
        assert_eq!(dormant.int(0, "days_since"), Some(45));
    });
}

#[test]
fn exports_hold_every_launch_record_in_each_format() {
    on_each(|db| {
        let store = &mut db.store;
        let dir = &db.dir;
        store.write(&batch(LAUNCH_AND_RETURN)).expect("write");
        store.write(&batch(BDS_LAUNCH)).expect("write");
        let f = ReportFilter::default();
        for (format, name) in [
            (ltiscope_store::ExportFormat::Csv, "x.csv"),
            (ltiscope_store::ExportFormat::JsonLines, "x.jsonl"),
            (ltiscope_store::ExportFormat::Parquet, "x.parquet"),
        ] {
            let path = dir.path().join(name);
            let n = store.export_launches(&f, format, &path).expect("export");
            assert_eq!(n, 3, "{name}: launch, return and the BDS launch");
            let bytes = std::fs::read(&path).expect("read");
            match format {
                ltiscope_store::ExportFormat::Csv => {
                    let text = String::from_utf8(bytes).expect("utf8");
                    assert!(text.starts_with("source,tenant,event_id,action,"), "{text}");
                    assert_eq!(text.lines().count(), 4);
                }
                ltiscope_store::ExportFormat::JsonLines => {
                    let text = String::from_utf8(bytes).expect("utf8");
                    let rows: Vec<serde_json::Value> = text
                        .lines()
                        .map(|l| serde_json::from_str(l).expect("json line"))
                        .collect();
                    assert_eq!(rows.len(), 3);
                    assert!(rows.iter().any(|r| r["action"] == "return"));
                    assert!(rows[0]["event_time"].as_str().expect("time").ends_with('Z'));
                }
                ltiscope_store::ExportFormat::Parquet => assert_eq!(&bytes[..4], b"PAR1"),
            }
        }
        // A filter value with a quote cannot break out of the COPY statement.
        let evil = ReportFilter {
            tenant: Some("x' OR '1'='1".into()),
            ..ReportFilter::default()
        };
        let n = store
            .export_launches(
                &evil,
                ltiscope_store::ExportFormat::Csv,
                &dir.path().join("e.csv"),
            )
            .expect("export");
        assert_eq!(n, 0);
    });
}

#[test]
fn a_reader_sees_what_the_writer_committed() {
    on_each(|db| {
        let store = &mut db.store;
        let reader = store.reader().expect("reader");
        assert!(!reader.has_launches().expect("read"));
        store.write(&batch(BDS_LAUNCH)).expect("write");
        assert!(reader.has_launches().expect("read"));
        assert_eq!(tools(&reader, &ReportFilter::default()).sum("launches"), 1);
    });
}

/// A database written before migration 3 gets visit keys for its old rows, and their repeated
/// launches are merged into visits like new ones.
#[test]
fn migration_3_backfills_the_visit_keys_of_older_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("old.duckdb");
    {
        let mut store = Store::open_duckdb(&path).expect("open");
        store.write(&batch(LAUNCH_AND_RETURN)).expect("write");
    }
    {
        // Turn the file back into a schema-2 database: no visit_key column, no migration 3.
        let conn = duckdb::Connection::open(&path).expect("open raw");
        conn.execute_batch(
            "ALTER TABLE launches DROP COLUMN visit_key;
             DROP TABLE rollup_marks; DROP TABLE rollup_state; DROP TABLE rollup_users;
             DROP TABLE rollup_courses; DROP TABLE rollup_days; DROP TABLE rollup_tool_days;
             DROP TABLE rollup_facets; DROP SEQUENCE rollup_mark_id; DROP TABLE inbox_state;
             DROP TABLE rollup_tools; DROP TABLE rollup_course_months;
             DROP TABLE rollup_course_tool_months;
             DELETE FROM schema_migrations WHERE version >= 3;",
        )
        .and_then(|()| conn.execute_batch(BEFORE_11))
        .expect("downgrade");
    }
    let store = Store::open_duckdb(&path).expect("reopen migrates");
    assert_eq!(store.schema_version().expect("version"), LATEST_DUCKDB);
    let t = tools(&store, &ReportFilter::default());
    assert_eq!(t.int(0, "launches"), Some(1));
    assert_eq!(t.int(0, "visits"), Some(1));
    drop(store);
    let conn = duckdb::Connection::open(&path).expect("open raw");
    let missing: i64 = conn
        .query_row(
            "SELECT count(*) FROM launches WHERE visit_key IS NULL",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(missing, 0, "every old row got a visit key");
}

/// The compressions DuckDB stored a column's values in (its validity masks left out), after a
/// checkpoint: empty for a generated column, which is never stored.
fn compression_of(conn: &duckdb::Connection, table: &str, column: &str) -> Vec<String> {
    conn.execute_batch("CHECKPOINT").expect("checkpoint");
    let mut stmt = conn
        .prepare(&format!(
            "SELECT DISTINCT compression FROM pragma_storage_info('{table}')
             WHERE column_name = '{column}' AND segment_type <> 'VALIDITY'"
        ))
        .expect("prepare");
    stmt.query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// A database written before migration 10 keeps every event and its body when the events
/// table is rebuilt with zstd bodies, and every launch record when migration 14 rebuilds the
/// launches with their ids in zstd, and with the same user and course keys when migration 15
/// derives them instead of storing them; new rows are stored so; the caller hears of the
/// upgrade before it runs (not of a new database's migrations).
#[test]
fn migrations_10_14_and_15_move_bodies_and_launch_ids_to_zstd_and_derive_the_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("old.duckdb");
    let bodies = |conn: &duckdb::Connection| -> Vec<(String, String)> {
        let mut stmt = conn
            .prepare("SELECT event_id, body FROM events ORDER BY event_id")
            .expect("prepare");
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    type Launch = (String, Option<String>, Option<String>, [Option<String>; 2]);
    let launches = |conn: &duckdb::Connection| -> Vec<Launch> {
        let mut stmt = conn
            .prepare(
                "SELECT event_id, session_id, user_iri, user_key, course_key
                 FROM launches ORDER BY event_id",
            )
            .expect("prepare");
        stmt.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, [r.get(3)?, r.get(4)?]))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
    };
    let location = Location::DuckDb(path.clone());
    let mut heard = Vec::new();
    {
        let mut store = Store::open_upgrading(&location, &mut |u| {
            if let Upgrade::Started { version, name } = u {
                heard.push((version, name.to_owned()))
            }
        })
        .expect("open");
        store.write(&batch(LAUNCH_AND_RETURN)).expect("write");
    }
    assert!(
        heard.is_empty(),
        "a new database is not an upgrade: {heard:?}"
    );
    let (before, launches_before) = {
        // Turn the file back into a schema-9 database: bodies and launch ids in DuckDB's
        // default compression.
        let conn = duckdb::Connection::open(&path).expect("open raw");
        conn.execute_batch(
            "CREATE TABLE events_old AS SELECT * FROM events;
             DROP TABLE events;
             ALTER TABLE events_old RENAME TO events;
             CREATE TABLE launches_old AS SELECT * FROM launches;
             DROP TABLE launches;
             ALTER TABLE launches_old RENAME TO launches;
             DELETE FROM schema_migrations WHERE version >= 10;",
        )
        .and_then(|()| conn.execute_batch(BEFORE_11))
        .expect("downgrade");
        assert_ne!(
            compression_of(&conn, "events", "body"),
            ["ZSTD"],
            "the downgraded file"
        );
        assert_ne!(compression_of(&conn, "launches", "session_id"), ["ZSTD"]);
        (bodies(&conn), launches(&conn))
    };
    assert_eq!(launches_before.len(), 2);
    assert!(
        launches_before
            .iter()
            .all(|(_, s, u, keys)| s.is_some() && u.is_some() && keys.iter().all(Option::is_some))
    );
    assert_eq!(before.len(), 2, "a launch and its return");
    {
        let mut store = Store::open_upgrading(&location, &mut |u| {
            if let Upgrade::Started { version, name } = u {
                heard.push((version, name.to_owned()))
            }
        })
        .expect("reopen migrates");
        assert_eq!(store.schema_version().expect("version"), LATEST_DUCKDB);
        store.write(&batch(LAUNCH_AND_RETURN)).expect("write again");
    }
    assert_eq!(
        heard,
        [
            (10, "event bodies compressed with zstd".to_owned()),
            (11, "quarantined items stored once".to_owned()),
            (12, "tool names follow the rules".to_owned()),
            (13, "derivation fingerprint".to_owned()),
            (14, "launch ids compressed with zstd".to_owned()),
            (15, "user and course keys derived, not stored".to_owned()),
            (16, "rollup sets stored uncompressed".to_owned())
        ]
    );
    let conn = duckdb::Connection::open(&path).expect("open raw");
    assert_eq!(bodies(&conn), before, "the same events, the same bodies");
    assert_eq!(launches(&conn), launches_before, "the same launch records");
    assert_eq!(compression_of(&conn, "events", "body"), ["ZSTD"]);
    for column in ["event_id", "user_iri", "launch_id", "session_id"] {
        assert_eq!(
            compression_of(&conn, "launches", column),
            ["ZSTD"],
            "{column}"
        );
    }
    // Migration 15: the keys read back as they were stored, derived now, never stored.
    for column in ["user_key", "course_key"] {
        assert_eq!(
            compression_of(&conn, "launches", column),
            Vec::<String>::new(),
            "{column}"
        );
    }
}

/// The rollup tables of a database written before migration 16 (their sets in DuckDB's
/// automatic compression) keep every row when the migration rebuilds them with their sets
/// uncompressed, and reports read the same answers from them after it.
#[test]
fn migration_16_stores_the_rollup_sets_uncompressed_and_keeps_every_row() {
    const TABLES: [(&str, &[&str]); 5] = [
        ("rollup_days", &["users", "courses", "paired_ms"]),
        ("rollup_tool_days", &["users", "courses", "paired_ms"]),
        ("rollup_facets", &["users", "courses"]),
        ("rollup_course_months", &["summary", "days"]),
        ("rollup_course_tool_months", &["summary", "days"]),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("old.duckdb");
    let location = Location::DuckDb(path.clone());
    // Questions whose answers read every kind of set: users, courses and time in tool per
    // day and tool, the facets' deployments, the course rollup.
    let ask = |store: &Store| {
        [Question::Tools, Question::Deployments, Question::Courses].map(|q| {
            store
                .answer_from_rollups(q, &ReportFilter::default(), &params())
                .expect("answer")
                .unwrap_or_else(|| panic!("rollups answer {q:?}"))
        })
    };
    let answers_before = {
        let mut store = Store::open(&location).expect("open");
        store.write(&batch(LAUNCH_AND_RETURN)).expect("write");
        store.write(&batch(BDS_LAUNCH)).expect("write");
        store.refresh_rollups().expect("refresh");
        ask(&store)
    };
    // Every row of a table, its columns as text, in order.
    let rows = |conn: &duckdb::Connection, table: &str| -> Vec<String> {
        let mut stmt = conn
            .prepare(&format!(
                "SELECT CAST(t AS VARCHAR) AS row FROM {table} t ORDER BY row"
            ))
            .expect("prepare");
        stmt.query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    let before: Vec<Vec<String>> = {
        // Turn the file back into a schema-15 database: each rollup table as created before,
        // its sets in DuckDB's automatic compression.
        let conn = duckdb::Connection::open(&path).expect("open raw");
        for (table, _) in TABLES {
            conn.execute_batch(&format!(
                "CREATE TABLE {table}_old AS SELECT * FROM {table};
                 DROP TABLE {table};
                 ALTER TABLE {table}_old RENAME TO {table};"
            ))
            .expect("downgrade");
        }
        conn.execute_batch("DELETE FROM schema_migrations WHERE version >= 16")
            .expect("downgrade");
        for (table, sets) in TABLES {
            for set in sets {
                assert_ne!(
                    compression_of(&conn, table, set),
                    ["Uncompressed"],
                    "{table}.{set} before"
                );
            }
        }
        TABLES.iter().map(|(t, _)| rows(&conn, t)).collect()
    };
    assert!(before.iter().all(|r| !r.is_empty()), "every table has rows");
    let answers_after = {
        let store = Store::open(&location).expect("reopen migrates");
        assert_eq!(store.schema_version().expect("version"), LATEST_DUCKDB);
        ask(&store)
    };
    assert_eq!(answers_after, answers_before, "the same reports");
    let conn = duckdb::Connection::open(&path).expect("open raw");
    for ((table, sets), rows_before) in TABLES.iter().zip(&before) {
        assert_eq!(&rows(&conn, table), rows_before, "{table}");
        for set in *sets {
            assert_eq!(
                compression_of(&conn, table, set),
                ["Uncompressed"],
                "{table}.{set}"
            );
        }
    }
}

/// A PostgreSQL database written before migration 12, whose writers stored each launch
/// record's user and course keys, keeps those keys when they become stored generated columns;
/// the launch records written after it get theirs from the database.
#[test]
fn postgres_migration_12_derives_the_keys_its_writers_stored() {
    type Keys = Vec<(String, Option<String>, Option<String>)>;
    let keys = |c: &mut postgres::Client| -> Keys {
        c.query(
            "SELECT event_id, user_key, course_key FROM launches ORDER BY event_id",
            &[],
        )
        .expect("keys")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
    };
    let generated = |c: &mut postgres::Client| -> Vec<String> {
        c.query(
            "SELECT is_generated FROM information_schema.columns
             WHERE table_name = 'launches' AND column_name IN ('user_key', 'course_key')",
            &[],
        )
        .expect("columns")
        .iter()
        .map(|r| r.get(0))
        .collect()
    };
    let pg = TempDatabase::create();
    let location = Location::Postgres(pg.url().to_owned());
    let latest = {
        let mut store = Store::open(&location).expect("open");
        store.write(&batch(LAUNCH_AND_RETURN)).expect("write");
        store.schema_version().expect("version")
    };
    let mut c = postgres::Client::connect(pg.url(), postgres::NoTls).expect("connect");
    let before = keys(&mut c);
    assert_eq!(before.len(), 2, "a launch and its return");
    // What `UserRef::key` and `CourseRef::key` chose for the writers: the user's IRI, and
    // the course's platform id (`_41_1`), since the seed sends no course IRI.
    let chosen: Keys = c
        .query(
            "SELECT event_id, user_iri, course_platform_id FROM launches
             WHERE course_iri IS NULL ORDER BY event_id",
            &[],
        )
        .expect("chosen")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert!(
        chosen.iter().all(|(_, u, k)| u.is_some() && k.is_some()),
        "{chosen:?}"
    );
    assert_eq!(before, chosen);
    assert_eq!(generated(&mut c), ["ALWAYS", "ALWAYS"]);
    // Back to the shape before migration 12: plain columns holding what the writers sent.
    c.batch_execute(
        r#"DROP INDEX launches_user; DROP INDEX launches_course;
           ALTER TABLE launches ADD COLUMN user_key_sent TEXT COLLATE "C",
                                ADD COLUMN course_key_sent TEXT COLLATE "C";
           UPDATE launches SET user_key_sent = user_key, course_key_sent = course_key;
           ALTER TABLE launches DROP COLUMN user_key, DROP COLUMN course_key;
           ALTER TABLE launches RENAME COLUMN user_key_sent TO user_key;
           ALTER TABLE launches RENAME COLUMN course_key_sent TO course_key;
           CREATE INDEX launches_course ON launches (course_key, event_time);
           CREATE INDEX launches_user ON launches (user_key);
           DELETE FROM schema_migrations WHERE version >= 12;"#,
    )
    .expect("downgrade");
    assert_eq!(
        generated(&mut c),
        ["NEVER", "NEVER"],
        "the downgraded database"
    );
    assert_eq!(keys(&mut c), before);
    let mut store = Store::open(&location).expect("reopen migrates");
    assert_eq!(store.schema_version().expect("version"), latest);
    assert_eq!(generated(&mut c), ["ALWAYS", "ALWAYS"]);
    assert_eq!(keys(&mut c), before, "the same keys, derived now");
    let more = store.write(&batch(BDS_LAUNCH)).expect("write after");
    assert_eq!(more.launches, 1, "{more:?}");
    let after = keys(&mut c);
    assert_eq!(after.len(), 3);
    assert!(after.iter().all(|(_, u, _)| u.is_some()), "{after:?}");
}

/// A long migration says how far it has come: migration 10 rebuilding a large events table
/// (2,000,000 rows: ~3 s of copying on two cores) reports DuckDB's estimate while it copies,
/// rising within 0-100% (one statement scans), then that it finished.
#[test]
fn a_long_migration_reports_its_progress() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.duckdb");
    let location = Location::DuckDb(path.clone());
    drop(Store::open(&location).expect("create"));
    {
        // A schema-9 events table large enough that copying it takes well over a second.
        let conn = duckdb::Connection::open(&path).expect("open raw");
        conn.execute_batch(
            "DROP TABLE events;
             CREATE TABLE events AS
                 SELECT CAST(i AS HUGEINT) AS event_key, 'caliper' AS source, 't' AS tenant,
                        CAST(i AS VARCHAR) AS event_id, 'other' AS kind, 'Event' AS event_type,
                        'Viewed' AS action, TIMESTAMP '2026-01-01' AS event_time,
                        TIMESTAMP '2026-01-01' AS received_at,
                        md5(CAST(i AS VARCHAR)) || md5(CAST(i + 1 AS VARCHAR)) AS body
                 FROM range(2000000) r(i);
             DELETE FROM schema_migrations WHERE version >= 10;",
        )
        .and_then(|()| conn.execute_batch(BEFORE_11))
        .expect("an old, large events table");
    }
    // (event, version, percent) in the order heard.
    let mut heard: Vec<(&str, i64, f64)> = Vec::new();
    Store::open_upgrading(&location, &mut |u| {
        heard.push(match u {
            Upgrade::Started { version, .. } => ("started", version, 0.0),
            Upgrade::Progress { version, percent } => ("progress", version, percent),
            Upgrade::Finished { version, .. } => ("finished", version, 100.0),
        })
    })
    .expect("reopen migrates");
    // Migration 11 (small here) follows; what it says is not this test's concern.
    assert_eq!(
        heard
            .iter()
            .filter(|h| h.1 == 11 && h.0 != "progress")
            .count(),
        2,
        "{heard:?}"
    );
    heard.retain(|h| h.1 == 10);
    assert_eq!(
        heard.first().map(|h| (h.0, h.1)),
        Some(("started", 10)),
        "{heard:?}"
    );
    assert_eq!(
        heard.last().map(|h| (h.0, h.1)),
        Some(("finished", 10)),
        "{heard:?}"
    );
    let percents: Vec<f64> = heard[1..heard.len() - 1]
        .iter()
        .map(|&(event, version, percent)| {
            assert_eq!((event, version), ("progress", 10), "{heard:?}");
            percent
        })
        .collect();
    assert!(!percents.is_empty(), "no progress heard: {heard:?}");
    assert!(
        percents.iter().all(|p| (0.0..=100.0).contains(p)),
        "{percents:?}"
    );
    assert!(percents.is_sorted(), "{percents:?}");
    let conn = duckdb::Connection::open(&path).expect("open raw");
    let n: i64 = conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, 2_000_000, "every event copied");
}

/// A PostgreSQL connection the server closed (a restart, a failover) is reopened: the write
/// that met the closed connection fails (the collector answers 503), the retry is stored.
#[test]
fn a_closed_postgres_connection_is_reopened_on_the_next_write() {
    let pg = TempDatabase::create();
    let mut store = Store::open_postgres(pg.url()).expect("open");
    store.write(&batch(LAUNCH_AND_RETURN)).expect("write");
    let mut admin = postgres::Client::connect(pg.url(), postgres::NoTls).expect("admin");
    let closed: i64 = admin
        .query_one(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()) t",
            &[],
        )
        .expect("terminate")
        .get(0);
    assert_eq!(closed, 1, "the store's one connection");
    assert!(
        store.write(&batch(BDS_LAUNCH)).is_err(),
        "the closed connection"
    );
    let retried = store.write(&batch(BDS_LAUNCH)).expect("reconnected");
    assert_eq!(retried.launches, 1);
    assert_eq!(tools(&store, &ReportFilter::default()).sum("launches"), 2);
}

/// The collector's inbox (DuckDB) stores exactly what a direct write stores: the same first
/// copy of each event, the same duplicates in the ingest log (repeats inside a group, across
/// groups not yet moved, and of events moved before), the same quarantine, the same reports;
/// and what was committed but never moved is moved when the database is next opened.
#[test]
fn the_inbox_stores_what_a_direct_write_stores() {
    use ltiscope_ingest::generate::{Generator, Options, Platform};
    let mut opts = Options::new(Platform::Mixed, 500, 5);
    opts.duplicate_rate = 0.05;
    opts.malformed_rate = 0.02;
    let docs: Vec<String> = Generator::new(opts).collect();
    let batches: Vec<WriteBatch> = docs
        .chunks(40)
        .map(|c| batch(c.join("\n").as_bytes()))
        .collect();
    // Groups of two batches; some sent again: right away (both in the inbox), and later (the
    // first copy already moved).
    let mut groups: Vec<Vec<&WriteBatch>> = batches.chunks(2).map(|g| g.iter().collect()).collect();
    groups.insert(3, groups[2].clone());
    groups.push(groups[1].clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let mut direct = Store::open_duckdb(&dir.path().join("direct.duckdb")).expect("open");
    for g in &groups {
        direct.write_many(g).expect("direct write");
    }
    let path = dir.path().join("inbox.duckdb");
    {
        let mut through = Store::open_duckdb(&path).expect("open");
        let mut mover = through
            .ingest_through_inbox()
            .expect("inbox")
            .expect("duckdb has one");
        let mut acknowledged = 0;
        for (i, g) in groups.iter().enumerate() {
            let outcomes = through.write_many(g).expect("inbox write");
            // Each batch's acknowledgement accounts for every event and quarantined item of
            // it: taken, a repeat inside the group, or quarantined.
            for (o, b) in outcomes.iter().zip(g) {
                assert_eq!(
                    o.launches + o.non_lti + o.duplicates,
                    b.events.len() as u64,
                    "group {i}: every event accounted for"
                );
                assert_eq!(o.quarantined, b.rejected.len() as u64, "group {i}");
            }
            acknowledged += outcomes.len();
            if i % 3 == 1 {
                // The first move takes the inbox the writer used; the second the other one,
                // empty here.
                let seq = through.inbox_seq().expect("a group number");
                mover.move_committed().expect("move");
                assert_eq!(mover.move_committed().expect("move").seq, seq, "all moved");
            }
            if i % 5 == 3 {
                // Groups in both inboxes: the older ones in the one the writer left.
                mover.move_committed().expect("move");
            }
        }
        assert_eq!(acknowledged, groups.iter().map(Vec::len).sum::<usize>());
        // The last groups are acknowledged but never moved: the process "dies" here.
    }
    let reopened = Store::open_duckdb(&path).expect("reopen moves the rest");
    for source in [
        Source::BlackboardCaliper,
        Source::BrightspaceBds,
        Source::Caliper,
    ] {
        let (a, b) = (
            direct.event_id_counts(source).expect("ids"),
            reopened.event_id_counts(source).expect("ids"),
        );
        assert!(b.iter().all(|(_, n)| *n == 1), "{source:?}: stored once");
        assert_eq!(a, b, "{source:?}: the same events");
    }
    let all = ReportFilter::default();
    let mut p = params();
    p.as_of = chrono::Utc::now();
    let mut compared = 0;
    for q in [
        Question::Totals,
        Question::Tools,
        Question::QualitySources,
        Question::QualityDaily,
        Question::QuarantineReasons,
    ] {
        let (a, b) = (
            direct.answer(q, &all, &p).expect("direct"),
            reopened.answer(q, &all, &p).expect("inbox"),
        );
        compared += same_cells(&a, &b, &format!("{q:?}"), ("direct", "inbox"));
    }
    assert!(compared > 20, "too little compared: {compared}");
    let sources = reopened
        .answer(Question::QualitySources, &all, &p)
        .expect("quality");
    let dups: u64 = (0..sources.rows.len())
        .filter_map(|i| sources.int(i, "duplicates"))
        .sum();
    assert!(dups > 40, "repeats counted as duplicates: {dups}");
    assert_eq!(
        direct.quarantine_list(None, 1000).expect("q").len(),
        reopened.quarantine_list(None, 1000).expect("q").len()
    );
    let originals = reopened.kept_originals().expect("originals");
    let stored: usize = [
        Source::BlackboardCaliper,
        Source::BrightspaceBds,
        Source::Caliper,
    ]
    .into_iter()
    .map(|s| reopened.event_id_counts(s).expect("ids").len())
    .sum();
    assert!(stored > 400, "{stored}");
    assert_eq!(
        originals.len(),
        stored,
        "an original for every stored event"
    );
    assert!(
        originals == direct.kept_originals().expect("originals"),
        "the same originals through the inbox"
    );
}

/// Every stored event keeps its scrubbed original, whole, and a purge leaves nothing of the
/// originals of the events it removed while keeping the others whole.
#[test]
fn originals_are_kept_whole_and_a_purge_leaves_nothing_of_the_purged_ones() {
    on_each(|db| {
        let store = &mut db.store;
        // One batch: the Blackboard launch and return of 2020 and the BDS launch of 2023.
        let mut mixed = batch(LAUNCH_AND_RETURN);
        let bds = batch(BDS_LAUNCH);
        let bds_body = bds.events[0].get().body.clone();
        mixed.events.extend(bds.events);
        let expected: Vec<(String, String)> = {
            let mut v: Vec<_> = mixed
                .events
                .iter()
                .map(|e| (e.get().meta().event_id.clone(), e.get().body.clone()))
                .collect();
            v.sort();
            v
        };
        assert_eq!(expected.len(), 3);
        store.write(&mixed).expect("write");
        assert_eq!(store.kept_originals().expect("originals"), expected);
        // Only in the Blackboard originals: their launch parameters' course title.
        let title = "Ultra Ltiah_herokuapp_placement";
        assert_eq!(
            expected.iter().filter(|(_, b)| b.contains(title)).count(),
            2
        );
        assert!(!bds_body.contains(title));
        let cutoff = chrono::DateTime::from_timestamp(1_650_000_000, 0).expect("t");
        store.purge(cutoff, false).expect("purge");
        let left = store.kept_originals().expect("originals");
        assert_eq!(left.len(), 1, "{left:?}");
        assert_eq!(left[0].1, bds_body, "the kept event's original is whole");
        assert_eq!(
            store.find_text(title).expect("audit"),
            vec![],
            "{title} outlived its purge"
        );
    });
}

/// The Brightspace launch of [`BDS_LAUNCH`] as statement `n`, sent at `at`: one user, one
/// link, one tool.
fn bds_launch_at(n: u32, at: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_slice(BDS_LAUNCH).expect("fixture");
    v["id"] = format!("00000000-0000-4000-8000-{n:012}").into();
    v["timestamp"] = at.into();
    v.to_string()
}

/// A visit that runs over the midnight where a refresh's run of days begins (here the first
/// of a month, where runs always begin) is one visit: the launch after midnight looks back
/// to the launch before it, although only its own day is recomputed. Rollups and launch
/// records agree, on both backends.
#[test]
fn a_visit_over_the_midnight_a_refresh_starts_at_is_one_visit() {
    let at = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&chrono::Utc))
            .expect("time")
    };
    let p = params();
    for mut db in backends() {
        let store = &mut db.store;
        store
            .write(&batch(bds_launch_at(1, "2024-01-31T23:55:00Z").as_bytes()))
            .expect("write");
        store.refresh_rollups().expect("refresh");
        // 8 minutes later (the same visit), then 17 minutes after that (a new one).
        let later = [
            bds_launch_at(2, "2024-02-01T00:03:00Z"),
            bds_launch_at(3, "2024-02-01T00:20:00Z"),
        ];
        store
            .write(&batch(later.join("\n").as_bytes()))
            .expect("write");
        let refreshed = store.refresh_rollups().expect("refresh");
        assert_eq!(
            refreshed.launches, 2,
            "{}: only February was recomputed",
            db.name
        );
        for (from, visits) in [
            (at("2024-01-31T00:00:00Z"), 2),
            (at("2024-02-01T00:00:00Z"), 1),
        ] {
            let f = ReportFilter {
                from: Some(from),
                to: Some(at("2024-02-02T00:00:00Z")),
                ..ReportFilter::default()
            };
            let what = format!("{} from {from}", db.name);
            let rolled = store
                .answer_from_rollups(Question::Tools, &f, &p)
                .expect("rollups")
                .unwrap_or_else(|| panic!("{what}: rollups did not answer"));
            let raw = store.answer_raw(Question::Tools, &f, &p).expect("raw");
            assert_eq!(rolled.int(0, "visits"), Some(visits), "{what}");
            same_cells(&rolled, &raw, &what, ("rollups", "records"));
        }
    }
}

/// The courses come from the course rollup alone (they stay when the launch records are
/// gone; under a role filter the records answer), and a purge in the middle of a month leaves
/// the rollup exact: the rows of the cutoff's month are rebuilt from what is left of it.
#[test]
fn the_course_rollup_answers_alone_and_stays_exact_after_a_purge_mid_month() {
    use ltiscope_ingest::generate::{Generator, Options, Platform};
    let opts = Options::new(Platform::Mixed, 1500, 5);
    let docs: Vec<String> = Generator::new(opts.clone()).collect();
    let day = |n: i64| opts.start + chrono::Duration::days(n);
    let p = params();
    for mut db in backends() {
        let store = &mut db.store;
        write_docs(store, &docs, 200);
        let top_tool = store
            .answer_raw(Question::ToolCounts, &ReportFilter::default(), &p)
            .expect("tools")
            .text(0, "tool_id")
            .map(str::to_owned);
        let filters = [
            ReportFilter::default(),
            ReportFilter {
                from: Some(day(28)),
                to: Some(day(45)),
                ..ReportFilter::default()
            },
            ReportFilter {
                tool: top_tool,
                include_test_users: true,
                ..ReportFilter::default()
            },
        ];
        let check = |store: &Store, when: &str| {
            for f in &filters {
                for q in [Question::Courses, Question::TopCourses] {
                    let what = format!("{} {when} {q:?} {f:?}", db.name);
                    let rolled = store
                        .answer_from_rollups(q, f, &p)
                        .expect("rollups")
                        .unwrap_or_else(|| panic!("{what}: rollups did not answer"));
                    let raw = store.answer_raw(q, f, &p).expect("raw");
                    assert!(raw.rows.len() > 10, "{what}: {} rows", raw.rows.len());
                    same_cells(&rolled, &raw, &what, ("rollups", "records"));
                }
            }
        };
        check(store, "before the purge");
        // Mid-month, mid-day: the month's earlier days go, its later days are recomputed.
        let cutoff = day(30) + chrono::Duration::hours(5);
        assert!(
            chrono::Datelike::day(&cutoff) > 1,
            "the cutoff {cutoff} should fall inside a month"
        );
        store.purge(cutoff, false).expect("purge");
        check(store, "after the purge");
        if db.name != "duckdb" {
            continue;
        }
        let all = store
            .answer_from_rollups(Question::Courses, &filters[0], &p)
            .expect("rollups");
        let Location::DuckDb(path) = db.location.clone() else {
            unreachable!("the duckdb backend is a file")
        };
        drop(db.store);
        duckdb::Connection::open(&path)
            .expect("open raw")
            .execute_batch("DELETE FROM launches")
            .expect("delete the launch records");
        let store = Store::open_duckdb(&path).expect("reopen");
        let alone = store
            .answer_from_rollups(Question::Courses, &filters[0], &p)
            .expect("rollups");
        assert_eq!(alone, all, "the courses without their launch records");
        let learners = ReportFilter {
            role: Some(ltiscope_model::RoleBucket::Learner),
            ..ReportFilter::default()
        };
        let by_role = store
            .answer_from_rollups(Question::Courses, &learners, &p)
            .expect("rollups")
            .expect("answered");
        assert!(by_role.rows.is_empty(), "a role filter reads the records");
    }
}

/// The records renamed to `to`.
fn moved_records(renamings: &[ltiscope_store::Renaming], to: &str) -> u64 {
    renamings
        .iter()
        .filter(|r| r.to_id == to)
        .map(|r| r.records)
        .sum()
}

/// Renames and merges by tool rules that came after the records: the rules of the test below.
fn later_rules() -> ToolResolver {
    use ltiscope_ingest::ToolRule;
    let rule = |id: &str, name: &str, host: &str, path: Option<&str>| ToolRule {
        id: id.into(),
        name: name.into(),
        host: Some(host.into()),
        path: path.map(Into::into),
        ..ToolRule::default()
    };
    ToolResolver::new(vec![
        // Two catalogue tools merged into one.
        rule("video", "Video", "*.kaltura.com", None),
        rule("video", "Video", "*.panopto.com", None),
        // A catalogue tool renamed, its id kept.
        rule(
            "turnitin",
            "Turnitin Feedback Studio",
            "api.turnitin.com",
            None,
        ),
        // By path: the URL takes part in naming.
        rule(
            "zoom-rich",
            "Zoom rich links",
            "*.zoom.us",
            Some("/lti/rich*"),
        ),
    ])
}

/// Records stored under the default names and named again by rules that came later count
/// exactly as records stored under those rules from the start, in the rollups and in the
/// records, on both backends; naming them again by the default brings the first answers back.
/// Naming by the rules that named them changes nothing, and once their fingerprint is stored
/// it is not even looked at.
#[test]
fn stored_records_follow_tool_rules_that_came_later() {
    use ltiscope_ingest::generate::{Generator, Options, Platform};
    use ltiscope_store::NamingMode;
    let mut opts = Options::new(Platform::Mixed, 1500, 11);
    opts.return_rate = 0.5;
    let docs: Vec<String> = Generator::new(opts).collect();
    let chunks: Vec<String> = docs.chunks(300).map(|c| c.join("\n")).collect();
    let (default, later) = (ToolResolver::default(), later_rules());
    let dir = tempfile::tempdir().expect("tempdir");
    let mut expected = Store::open_duckdb(&dir.path().join("later.duckdb")).expect("open");
    for chunk in &chunks {
        expected
            .write(&batch_named(chunk.as_bytes(), &later))
            .expect("write");
    }
    // Everything, and one tool's courses (the course rollup per tool) for tools that lose
    // launches, gain them, or are new.
    let mut filters = vec![ReportFilter::default()];
    for tool in ["kaltura", "video", "zoom", "zoom-rich"] {
        filters.push(ReportFilter {
            tool: Some(tool.to_owned()),
            ..ReportFilter::default()
        });
    }
    let questions = [Question::Tools, Question::ToolCounts, Question::Courses];
    let answers = |store: &Store| -> Vec<(Table, Table)> {
        let mut all = Vec::new();
        for f in &filters {
            for q in questions {
                let raw = store.answer_raw(q, f, &params()).expect("raw");
                all.push((ask(store, q, f), raw));
            }
        }
        all
    };
    let later_answers = answers(&expected);
    for mut db in backends() {
        let store = &mut db.store;
        for chunk in &chunks {
            store.write(&batch(chunk.as_bytes())).expect("write");
        }
        let before = answers(store);
        // The rules that named them: looked at once (no fingerprint yet), nothing changes.
        let same = store
            .name_tools(&default, NamingMode::IfRulesChanged)
            .expect("name");
        assert_eq!(same, Some(vec![]), "{}", db.name);
        let same = store.name_tools(&default, NamingMode::IfRulesChanged);
        assert_eq!(same.expect("name"), None, "{}", db.name);

        let dry = store
            .name_tools(&later, NamingMode::DryRun)
            .expect("dry run")
            .expect("looked at");
        assert_eq!(
            answers(store),
            before,
            "{}: a dry run changed nothing",
            db.name
        );
        let renamed = store
            .name_tools(&later, NamingMode::IfRulesChanged)
            .expect("name")
            .expect("the rules changed");
        assert_eq!(renamed, dry, "{}", db.name);
        let moved: Vec<_> = renamed
            .iter()
            .map(|r| (r.from_id.as_str(), r.to_id.as_str(), r.to_name.as_str()))
            .collect();
        for want in [
            ("kaltura", "video", "Video"),
            ("panopto", "video", "Video"),
            ("turnitin", "turnitin", "Turnitin Feedback Studio"),
            ("zoom", "zoom-rich", "Zoom rich links"),
        ] {
            assert!(moved.contains(&want), "{}: {want:?} in {moved:?}", db.name);
        }
        assert!(
            renamed
                .iter()
                .all(|r| r.records > 0 && r.to_match == "rule")
        );
        // The stored tools say how each was named and what is behind the name.
        let listed = store.stored_tools().expect("tools");
        let video = listed.iter().find(|t| t.id == "video").expect("video");
        assert_eq!(
            (
                video.name.as_str(),
                video.matched_by.as_str(),
                video.hosts.join(" ")
            ),
            (
                "Video",
                "rule",
                "kaf.kaltura.com university.hosted.panopto.com".into()
            ),
            "{}",
            db.name
        );
        assert_eq!(
            video.records,
            moved_records(&renamed, "video"),
            "{}: every record of the merged tools",
            db.name
        );
        let lumped = listed
            .iter()
            .find(|t| t.id == "example.edu")
            .expect("a domain");
        assert_eq!(lumped.matched_by, "domain");
        assert!(lumped.hosts.len() >= 2, "{}: {lumped:?}", db.name);
        assert!(
            !listed
                .iter()
                .any(|t| t.id == "kaltura" || t.id == "panopto")
        );
        for ((got, got_raw), (want, want_raw)) in answers(store).iter().zip(&later_answers) {
            same_cells(
                got,
                want,
                &format!("{} rollups", db.name),
                ("renamed", "named so"),
            );
            same_cells(
                got_raw,
                want_raw,
                &format!("{} records", db.name),
                ("renamed", "named so"),
            );
        }
        // And back.
        let back = store
            .name_tools(&default, NamingMode::IfRulesChanged)
            .expect("name")
            .expect("the rules changed");
        assert_eq!(
            back.iter().map(|r| r.records).sum::<u64>(),
            renamed.iter().map(|r| r.records).sum::<u64>()
        );
        assert_eq!(answers(store), before, "{}", db.name);
    }
}

/// Derives stored originals again as the write path would now: parsed as the source they
/// were stored as, stamped with their receive time, named by `tools`, redacted by `redactor`.
fn derive_with<'a>(tools: &'a ToolResolver, redactor: &'a Redactor) -> impl Derive + 'a {
    DeriveNow::new(derive_fn(tools, redactor))
}

/// A [`Derive`] that derives each chunk when it is submitted, on the test's thread.
struct DeriveNow<F> {
    derive: F,
    done: Vec<Result<ltiscope_redact::Redacted<ltiscope_redact::StoredEvent>, String>>,
}

impl<F> DeriveNow<F> {
    fn new(derive: F) -> Self {
        DeriveNow {
            derive,
            done: Vec::new(),
        }
    }
}

impl<F> Derive for DeriveNow<F>
where
    F: FnMut(
        &[ltiscope_store::StoredOriginal],
    ) -> Vec<Result<ltiscope_redact::Redacted<ltiscope_redact::StoredEvent>, String>>,
{
    fn submit(&mut self, originals: std::sync::Arc<Vec<ltiscope_store::StoredOriginal>>) {
        let results = (self.derive)(&originals);
        self.done.extend(results);
    }

    fn finish(
        &mut self,
    ) -> Vec<Result<ltiscope_redact::Redacted<ltiscope_redact::StoredEvent>, String>> {
        std::mem::take(&mut self.done)
    }
}

/// What [`derive_with`] derives with.
fn derive_fn<'a>(
    tools: &'a ToolResolver,
    redactor: &'a Redactor,
) -> impl FnMut(
    &[ltiscope_store::StoredOriginal],
) -> Vec<Result<ltiscope_redact::Redacted<ltiscope_redact::StoredEvent>, String>>
+ 'a {
    move |originals| {
        originals
            .iter()
            .map(|o| {
                let ctx = Context {
                    received_at: o.received_at,
                    source: Some(o.source),
                    tools,
                };
                let mut parsed = parse_document(o.body.as_bytes(), &ctx);
                match (parsed.rejected.first(), parsed.events.len()) {
                    (Some(r), _) => Err(r.reason.to_string()),
                    (None, 1) => Ok(redactor.event(parsed.events.remove(0))),
                    (None, n) => Err(format!("{n} events")),
                }
            })
            .collect()
    }
}

/// Every stored event, window by window of event time (as `ltiscope rederive` goes).
fn rederive_all(
    store: &mut Store,
    dry_run: bool,
    derive: &mut dyn Derive,
) -> ltiscope_store::RederiveOutcome {
    let mut all = ltiscope_store::RederiveOutcome::default();
    let hours = store.stored_hours(None, None).expect("hours");
    assert!(!hours.is_empty());
    // A window of a few days at a time, so that several transactions take part.
    for days in hours.chunks(60) {
        let from = days[0].0;
        let to = days[days.len() - 1].0 + chrono::Duration::hours(1);
        all += store.rederive(from, to, dry_run, derive).expect("rederive");
    }
    all
}

/// Writes a generated term of every source, redacted by `redactor`, and rolls it up.
fn write_mixed(store: &mut Store, n: u64, seed: u64, redactor: &Redactor) {
    for b in mixed_batches(n, seed, redactor) {
        store.write(&b).expect("write");
    }
    store.refresh_rollups().expect("refresh");
}

/// A generated term of every source (launches, returns, tool use, non-LTI events).
fn mixed_batches(n: u64, seed: u64, redactor: &Redactor) -> Vec<WriteBatch> {
    use ltiscope_ingest::generate::{Generator, Options, Platform};
    let docs: Vec<String> = Generator::new(Options::new(Platform::Mixed, n, seed)).collect();
    let tools = ToolResolver::default();
    docs.chunks(100)
        .map(|c| {
            let b = redacted_batch(c.join("\n").as_bytes(), &tools, redactor);
            assert!(b.rejected.is_empty(), "a generated event quarantined");
            b
        })
        .collect()
}

/// The kept original of every stored event derives again to exactly what is stored: with the
/// same rules a re-derive finds nothing to change, on both backends, whatever the source, under
/// minimise and pseudonymise, also for an event without an id of its own.
#[test]
fn stored_originals_derive_again_to_what_is_stored() {
    let key =
        || ltiscope_redact::PseudonymKey::new(b"a pseudonym key, sixteen+".to_vec()).expect("key");
    for (policy, key) in [
        (PiiPolicy::Minimise, None),
        (PiiPolicy::Pseudonymise, Some(key())),
    ] {
        on_each(|db| {
            let store = &mut db.store;
            let redactor = Redactor::new(policy, key.clone()).expect("redactor");
            write_mixed(store, 300, 3, &redactor);
            // A Caliper 1.0 event has no id: its id is made from its content as received.
            let v1p0 = redacted_batch(V1P0_LAUNCH, &ToolResolver::default(), &redactor);
            assert!(ltiscope_ingest::is_content_id(
                &v1p0.events[0].get().meta().event_id
            ));
            store.write(&v1p0).expect("write");
            let before = store.kept_originals().expect("originals");
            let tools = ToolResolver::default();
            let o = rederive_all(store, false, &mut derive_with(&tools, &redactor));
            assert_eq!(
                o.examined as usize,
                before.len(),
                "every stored event looked at"
            );
            assert_eq!(
                (o.changed, o.unparsed, o.moved),
                (0, 0, 0),
                "nothing differs: {o:?}"
            );
            assert_eq!(store.kept_originals().expect("originals"), before);
        });
    }
}

/// Other tool rules and a stricter PII policy: a dry run says what would change and changes
/// nothing; the re-derive then replaces the records and originals that differ, the reports
/// follow once the rollups are refreshed, and a second re-derive finds nothing left to do.
#[test]
fn a_rederive_applies_new_rules_and_policy_to_what_is_stored() {
    on_each(|db| {
        let store = &mut db.store;
        let keep = Redactor::new(PiiPolicy::Keep, None).expect("redactor");
        write_mixed(store, 400, 5, &keep);
        let everything = ReportFilter::default();
        let before = tools(store, &everything);
        let originals = store.kept_originals().expect("originals");
        let with_email = originals.iter().filter(|(_, b)| b.contains('@')).count();
        assert!(with_email > 0, "keep stores emails");

        let video = |host: &str| ltiscope_ingest::ToolRule {
            id: "video".into(),
            name: "Video".into(),
            host: Some(host.into()),
            ..Default::default()
        };
        let rules = vec![video("*.kaltura.com"), video("*.panopto.com")];
        let renamed = ToolResolver::new(rules);
        let minimise = Redactor::new(PiiPolicy::Minimise, None).expect("redactor");

        let dry = rederive_all(store, true, &mut derive_with(&renamed, &minimise));
        assert!(dry.records > 0 && dry.originals > 0, "{dry:?}");
        assert!(
            dry.columns.get("tool_id").copied().unwrap_or(0) > 0,
            "{dry:?}"
        );
        assert_eq!(
            store.kept_originals().expect("originals"),
            originals,
            "a dry run changes nothing"
        );

        let done = rederive_all(store, false, &mut derive_with(&renamed, &minimise));
        assert_eq!(done, dry, "the dry run said what the re-derive did");
        store.refresh_rollups().expect("refresh");
        let after = tools(store, &everything);
        let launches = |t: &Table, id: &str| -> u64 {
            t.rows
                .iter()
                .filter(|r| matches!(&r[0], Cell::Text(s) if s == id))
                .map(|r| match &r[2] {
                    Cell::Int(n) => *n,
                    _ => 0,
                })
                .sum()
        };
        assert_eq!(
            launches(&after, "video"),
            launches(&before, "kaltura") + launches(&before, "panopto"),
            "the reports count the merged tool"
        );
        assert!(launches(&after, "video") > 0);
        assert_eq!(launches(&after, "kaltura"), 0);
        let originals = store.kept_originals().expect("originals");
        assert!(
            !originals.iter().any(|(_, b)| b.contains("@example")),
            "no email left in the originals"
        );
        let again = rederive_all(store, false, &mut derive_with(&renamed, &minimise));
        assert_eq!(
            (again.changed, again.unparsed, again.moved),
            (0, 0, 0),
            "{again:?}"
        );
    });
}

/// A re-derive that moves launch records out of a course (a parser that now reads another
/// course id) leaves every rollup answering exactly what the launch records answer: the course
/// the records left drops out of the rolled-up courses report too, though no launch is left
/// on its days to make a refresh rewrite its rows.
#[test]
fn rollups_stay_exact_when_a_rederive_moves_launches_to_another_course() {
    on_each(|db| {
        let store = &mut db.store;
        let redactor = Redactor::new(PiiPolicy::Minimise, None).expect("redactor");
        write_mixed(store, 500, 9, &redactor);
        let everything = ReportFilter::default();
        let courses = store
            .answer_raw(Question::Courses, &everything, &params())
            .expect("courses");
        let originals = store.kept_originals().expect("originals");
        // A course whose key its launches' originals carry as it is.
        let moved = courses
            .rows
            .iter()
            .filter_map(|r| match &r[1] {
                Cell::Text(k) if k.len() > 8 => Some(k.clone()),
                _ => None,
            })
            .find(|k| originals.iter().any(|(_, b)| b.contains(k.as_str())))
            .expect("a course key carried in its originals");
        let tools = ToolResolver::default();
        let mut derive = derive_fn(&tools, &redactor);
        let mut moving = DeriveNow::new(|originals: &[ltiscope_store::StoredOriginal]| {
            let elsewhere: Vec<ltiscope_store::StoredOriginal> = originals
                .iter()
                .map(|o| ltiscope_store::StoredOriginal {
                    body: o.body.replace(&moved, &format!("{moved}-elsewhere")),
                    ..o.clone()
                })
                .collect();
            derive(&elsewhere)
        });
        let o = rederive_all(store, false, &mut moving);
        assert!(
            o.columns.get("course_hash").copied().unwrap_or(0) > 0,
            "{o:?}"
        );
        assert_eq!((o.unparsed, o.moved), (0, 0), "{o:?}");
        store.refresh_rollups().expect("refresh");
        for q in ROLLUP_QUESTIONS {
            let rolled = store.answer(q, &everything, &params()).expect("rollups");
            let raw = store
                .answer_raw(q, &everything, &params())
                .expect("records");
            same_cells(&rolled, &raw, &format!("{q:?}"), ("rollups", "records"));
        }
        let rolled = store
            .answer(Question::Courses, &everything, &params())
            .expect("courses");
        let keys: Vec<&Cell> = rolled.rows.iter().map(|r| &r[1]).collect();
        assert!(
            !keys.contains(&&Cell::Text(moved.clone())),
            "{moved} is still rolled up"
        );
        assert!(keys.contains(&&Cell::Text(format!("{moved}-elsewhere"))));
    });
}

/// Compacting keeps everything as it was (originals, reports, quarantine, the schema) and the
/// database goes on working after it (new events, a quarantined item numbered after the
/// others), on both backends.
#[test]
fn compacting_keeps_everything_and_the_database_works_on() {
    for db in backends() {
        eprintln!("-- backend: {}", db.name);
        let Db {
            mut store,
            location,
            dir,
            _pg,
            ..
        } = db;
        let redactor = Redactor::new(PiiPolicy::Minimise, None).expect("redactor");
        write_mixed(&mut store, 300, 13, &redactor);
        let cutoff = chrono::DateTime::from_timestamp(1_769_000_000, 0).expect("t");
        let purged = store.purge(cutoff, false).expect("purge");
        assert!(purged.events > 0);
        store.write(&batch(b"{\"not\": json")).expect("quarantine");
        let everything = ReportFilter::default();
        let originals = store.kept_originals().expect("originals");
        let tools_before = tools(&store, &everything);
        let quarantined = store.quarantine_list(None, 100).expect("list");
        assert!(!quarantined.is_empty());
        let version = store.schema_version().expect("version");

        let (before, after) = store.compact().expect("compact");
        assert!(before > 0 && after > 0, "{before} {after}");
        let mut store = Store::open(&location).expect("reopen");
        assert_eq!(store.kept_originals().expect("originals"), originals);
        let tools_after = tools(&store, &everything);
        same_cells(
            &tools_after,
            &tools_before,
            "tools",
            ("compacted", "before"),
        );
        assert_eq!(store.quarantine_list(None, 100).expect("list"), quarantined);
        assert_eq!(store.schema_version().expect("version"), version);

        store
            .write(&batch(BDS_LAUNCH))
            .expect("write after compacting");
        store
            .write(&batch(b"[1, {\"also\": \"bad\"}]"))
            .expect("quarantine");
        let list = store.quarantine_list(None, 100).expect("list");
        assert!(list.len() > quarantined.len());
        let newest = list.iter().map(|q| q.id).max();
        assert!(newest > quarantined.iter().map(|q| q.id).max(), "ids go on");
        drop(dir);
    }
}
