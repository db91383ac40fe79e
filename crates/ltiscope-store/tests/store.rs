//! The storage contract, run against the DuckDB backend (PostgreSQL will run the same suite):
//! idempotency, one transaction per batch, quarantine, migrations, and the report queries.

use ltiscope_ingest::{Context, ToolResolver, parse_document};
use ltiscope_model::Source;
use ltiscope_model::report::ReportFilter;
use ltiscope_redact::{PiiPolicy, Redactor};
use ltiscope_store::{Store, WriteBatch};

const LAUNCH_AND_RETURN: &[u8] = include_bytes!(
    "../../ltiscope-ingest/tests/data/blackboard/envelope-lti-launch-and-return.constructed.json"
);
const BDS_LAUNCH: &[u8] = include_bytes!(
    "../../ltiscope-ingest/tests/data/brightspace/lti-launch-lti13.constructed.json"
);

fn batch(bytes: &[u8]) -> WriteBatch {
    let tools = ToolResolver::default();
    let received_at = chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("valid");
    let ctx = Context {
        received_at,
        source: None,
        tools: &tools,
    };
    let redactor = Redactor::new(PiiPolicy::Minimise, None).expect("redactor");
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

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_duckdb(&dir.path().join("t.duckdb")).expect("open");
    (dir, store)
}

#[test]
fn the_same_events_twice_are_stored_once() {
    let (_dir, mut store) = open();
    let first = store.write(&batch(LAUNCH_AND_RETURN)).expect("write");
    assert_eq!((first.launches, first.duplicates), (2, 0));
    let again = store.write(&batch(LAUNCH_AND_RETURN)).expect("write");
    assert_eq!((again.launches, again.duplicates), (0, 2));
    let tools = store.tool_usage(&ReportFilter::default()).expect("report");
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0].launches, 1, "returns are not launches");
    assert_eq!(tools[0].tool_id, "ltiah.herokuapp.com");
}

#[test]
fn repeats_within_one_batch_are_duplicates() {
    let (_dir, mut store) = open();
    let mut b = batch(BDS_LAUNCH);
    let copy = batch(BDS_LAUNCH);
    b.events.extend(copy.events);
    let o = store.write(&b).expect("write");
    assert_eq!((o.launches, o.duplicates), (1, 1));
    let q = store
        .source_quality(&ReportFilter::default())
        .expect("quality");
    let bds = q
        .iter()
        .find(|q| q.source == Some(Source::BrightspaceBds))
        .expect("bds row");
    assert_eq!((bds.launch_records, bds.duplicates), (1, 1));
}

#[test]
fn quarantine_is_listed_and_counted_by_reason() {
    let (_dir, mut store) = open();
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
    let counts = store.quarantine_counts().expect("counts");
    assert_eq!(counts.iter().map(|c| c.count).sum::<u64>(), 2);
    store
        .quarantine_mark_replayed(&[items[0].id], chrono::Utc::now())
        .expect("mark");
    assert_eq!(store.quarantine_list(None, 10).expect("list").len(), 1);
}

#[test]
fn reopening_keeps_data_and_schema_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.duckdb");
    {
        let mut store = Store::open_duckdb(&path).expect("open");
        store.write(&batch(LAUNCH_AND_RETURN)).expect("write");
    }
    let store = Store::open_duckdb(&path).expect("reopen");
    assert_eq!(store.schema_version().expect("version"), 2);
    assert_eq!(
        store.tool_usage(&ReportFilter::default()).expect("report")[0].launches,
        1
    );
}

#[test]
fn filters_narrow_reports() {
    let (_dir, mut store) = open();
    store.write(&batch(LAUNCH_AND_RETURN)).expect("write");
    store.write(&batch(BDS_LAUNCH)).expect("write");
    let all = store.tool_usage(&ReportFilter::default()).expect("report");
    assert_eq!(all.iter().map(|t| t.launches).sum::<u64>(), 2);
    let only_bds = ReportFilter {
        source: Some(Source::BrightspaceBds),
        ..ReportFilter::default()
    };
    let bds = store.tool_usage(&only_bds).expect("report");
    assert_eq!(bds.len(), 1);
    assert_eq!(bds[0].tool_id, "example.org");
    assert_eq!(bds[0].learner_launches, 1);
    let later = ReportFilter {
        from: Some(chrono::DateTime::from_timestamp(1_600_000_000, 0).expect("t")),
        to: Some(chrono::DateTime::from_timestamp(1_650_000_000, 0).expect("t")),
        ..ReportFilter::default()
    };
    // Only the Blackboard launch (2020-12-24) is in that range.
    let t = store.tool_usage(&later).expect("report");
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].tool_id, "ltiah.herokuapp.com");
    let courses = store
        .course_usage(&ReportFilter::default())
        .expect("courses");
    assert_eq!(courses.len(), 2);
    assert!(courses.iter().all(|c| c.launches == 1 && c.tools == 1));
}
