//! The write path end to end, in process: import streams, idempotency across imports, and
//! quarantine replay.

use ltiscope_ingest::generate::{Generator, Options, Platform};
use ltiscope_ingest::{Reason, RejectedBody, Rejection, ToolResolver};
use ltiscope_model::Source;
use ltiscope_model::report::{Params, Question, ReportFilter};
use ltiscope_pipeline::import::{ImportOptions, collect_files, import_files, input_size};
use ltiscope_pipeline::{Pipeline, ReplayOptions};
use ltiscope_redact::{PiiPolicy, Redactor};
use ltiscope_store::{Store, WriteBatch};
use std::io::Write;

fn pipeline() -> Pipeline {
    Pipeline::new(
        ToolResolver::default(),
        Redactor::new(PiiPolicy::Minimise, None).expect("redactor"),
    )
}

/// A JSON Lines file of these lines.
fn write_lines<'a>(path: &std::path::Path, lines: impl IntoIterator<Item = &'a str>) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    for l in lines {
        writeln!(f, "{l}").expect("write");
    }
    f.flush().expect("flush");
}

/// Replays the store's quarantine with the test pipeline.
fn replay(store: &mut Store, options: ReplayOptions<'_>) -> ltiscope_pipeline::ReplaySummary {
    ltiscope_pipeline::replay_quarantine(store, &pipeline(), options, now()).expect("replay")
}

fn now() -> ltiscope_model::Timestamp {
    chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("valid")
}

#[test]
fn generated_stream_imports_with_exact_accounting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = Options::new(Platform::Mixed, 3_000, 42);
    opts.duplicate_rate = 0.02;
    opts.malformed_rate = 0.01;
    let docs: Vec<String> = Generator::new(opts).collect();
    let path = dir.path().join("events.jsonl");
    write_lines(&path, docs.iter().map(String::as_str));
    let mut store = Store::open_duckdb(&dir.path().join("db.duckdb")).expect("open");
    let files = collect_files(&[dir.path().to_path_buf()]).expect("files");
    assert_eq!(files, vec![path.clone()]);
    let opts = ImportOptions {
        source: None,
        workers: 2,
    };
    let mut calls = 0;
    let s = import_files(&mut store, &pipeline(), &files, opts, &now, &mut |_| {
        calls += 1
    })
    .expect("import");
    let o = s.progress.outcome;
    assert_eq!(s.progress.records, docs.len() as u64);
    // Every line is accounted for exactly once.
    assert_eq!(
        o.launches + o.non_lti + o.duplicates + o.quarantined,
        docs.len() as u64
    );
    assert!(o.duplicates > 0 && o.quarantined > 0, "{o:?}");
    assert_eq!(s.quarantined_by_reason.values().sum::<u64>(), o.quarantined);
    assert!(calls >= 1);
    // Launches in the tools report = launch records minus returns and test users.
    let tools = store
        .answer(
            Question::ToolCounts,
            &ReportFilter::default(),
            &Params::new(chrono::Utc::now()),
        )
        .expect("tools");
    let launched = tools.sum("launches");
    assert!(launched > 2_800 && launched <= 3_000, "{launched}");
    // Importing the same file again stores nothing new.
    let again =
        import_files(&mut store, &pipeline(), &files, opts, &now, &mut |_| {}).expect("import");
    assert_eq!(again.progress.outcome.launches, 0);
    assert_eq!(again.progress.outcome.non_lti, 0);
    assert_eq!(
        again.progress.outcome.duplicates,
        o.launches + o.non_lti + o.duplicates
    );
}

/// A JSON Lines file whose first line is broken (cut short, as by a copy that lost its start,
/// or corrupt) is still JSON Lines: that line is quarantined, every other event imported.
/// (It was taken for one document and quarantined whole, or refused when large.) A truncated
/// pretty-printed document stays one rejection.
#[test]
fn a_broken_first_line_does_not_sink_a_json_lines_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = Options::new(Platform::Blackboard, 2_000, 9);
    opts.non_lti_rate = 0.0;
    opts.return_rate = 0.0;
    let docs: Vec<String> = Generator::new(opts).collect();
    let path = dir.path().join("events.jsonl");
    let broken = &docs[0][..docs[0].len() / 2];
    write_lines(
        &path,
        std::iter::once(broken).chain(docs[1..].iter().map(String::as_str)),
    );
    let seed = include_str!(
        "../../ltiscope-ingest/tests/data/blackboard/envelope-lti-launch-and-return.constructed.json"
    );
    let cut = dir.path().join("cut.json");
    std::fs::write(&cut, &seed[..seed.len() / 2]).expect("write");
    let mut store = Store::open_duckdb(&dir.path().join("db.duckdb")).expect("open");
    let opts = ImportOptions {
        source: None,
        workers: 2,
    };
    let s =
        import_files(&mut store, &pipeline(), &[path], opts, &now, &mut |_| {}).expect("import");
    assert_eq!(s.progress.records, 2_000);
    assert_eq!(s.progress.outcome.launches, 1_999);
    assert_eq!(s.progress.outcome.quarantined, 1);
    assert_eq!(s.quarantined_by_reason.get("not_json"), Some(&1));
    let s = import_files(&mut store, &pipeline(), &[cut], opts, &now, &mut |_| {}).expect("import");
    assert_eq!(
        (s.progress.outcome.launches, s.progress.outcome.quarantined),
        (0, 1)
    );
}

#[test]
fn gzip_and_single_documents_import() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = include_bytes!(
        "../../ltiscope-ingest/tests/data/blackboard/envelope-lti-launch-and-return.constructed.json"
    );
    let gz = dir.path().join("seed.json.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).expect("create"),
        flate2::Compression::fast(),
    );
    enc.write_all(seed).expect("write");
    enc.finish().expect("finish");
    let mut store = Store::open_duckdb(&dir.path().join("db.duckdb")).expect("open");
    let opts = ImportOptions {
        source: None,
        workers: 1,
    };
    // Also a plain copy (a JSON document is read whole), so the progress counts two files.
    let plain = dir.path().join("seed.json");
    std::fs::write(&plain, seed).expect("write");
    let files = [gz, plain];
    let total = input_size(&files);
    assert!(
        total > seed.len() as u64,
        "the compressed file and the plain one"
    );
    let mut seen = Vec::new();
    let s = import_files(&mut store, &pipeline(), &files, opts, &now, &mut |p| {
        seen.push(p.file_bytes)
    })
    .expect("import");
    assert_eq!(s.progress.outcome.launches, 2);
    assert_eq!(s.progress.outcome.duplicates, 2);
    // How far an import has come is told in the bytes of the files, compressed as they are:
    // it ends at their total, never beyond, and never goes back.
    assert_eq!(s.progress.file_bytes, total);
    assert!(
        s.progress.bytes > total,
        "the gzip file's bytes after decompression"
    );
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]) && seen.iter().all(|b| *b <= total),
        "{seen:?}"
    );
}

#[test]
fn replay_recovers_what_the_parser_now_accepts_and_keeps_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open_duckdb(&dir.path().join("db.duckdb")).expect("open");
    let good: serde_json::Value = serde_json::from_slice(include_bytes!(
        "../../ltiscope-ingest/tests/data/brightspace/lti-launch-lti13.constructed.json"
    ))
    .expect("json");
    let redactor = Redactor::new(PiiPolicy::Minimise, None).expect("redactor");
    // As if an older parser had refused a valid event, plus one that is still bad.
    let batch = WriteBatch {
        events: vec![],
        rejected: vec![
            redactor.rejection(Rejection {
                index: 0,
                reason: Reason::UnknownFormat,
                body: RejectedBody::Json(good.into()),
            }),
            redactor.rejection(Rejection {
                index: 1,
                reason: Reason::NotJson("truncated".into()),
                body: RejectedBody::Text("{\"id\": \"x\", \"verb".into()),
            }),
        ],
        origin: "old parser".into(),
        source_hint: None,
        received_at: Some(now()),
    };
    store.write(&batch).expect("write");
    let s = replay(&mut store, ReplayOptions::default());
    assert_eq!((s.examined, s.recovered, s.still_failing), (2, 1, 1));
    assert_eq!(s.stored.launches, 1);
    assert_eq!(store.quarantine_list(None, 10).expect("list").len(), 1);
    // Replaying again finds only the still-failing one, and stores nothing twice.
    let s = replay(&mut store, ReplayOptions::default());
    assert_eq!((s.examined, s.recovered), (1, 0));
}

/// A Blackboard envelope imported with `--source brightspace-bds` is quarantined as
/// `source_mismatch`. Replaying it as received keeps it waiting (the given source still
/// disagrees); replaying with `detect_source` stores it under the source its body shows.
#[test]
fn replay_can_tell_a_mismatched_item_its_source_from_its_body() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open_duckdb(&dir.path().join("db.duckdb")).expect("open");
    let body =
        include_bytes!("../../ltiscope-ingest/tests/data/blackboard/lti-event-loggedin.json");
    let batch = pipeline().prepare(body, Some(Source::BrightspaceBds), now(), "wrong.json");
    assert_eq!(batch.rejected.len(), 1);
    assert_eq!(batch.rejected[0].get().reason.code(), "source_mismatch");
    store.write(&batch).expect("write");

    let s = replay(&mut store, ReplayOptions::default());
    assert_eq!((s.examined, s.recovered, s.still_failing), (1, 0, 1));

    let detect = ReplayOptions {
        reason: Some("source_mismatch"),
        detect_source: true,
    };
    let s = replay(&mut store, detect);
    assert_eq!((s.examined, s.recovered, s.still_failing), (1, 1, 0));
    assert_eq!(s.stored.launches, 1);
    assert!(store.quarantine_list(None, 10).expect("list").is_empty());
    let launches = store
        .answer(
            Question::ToolCounts,
            &ReportFilter::default(),
            &Params::new(now()),
        )
        .expect("tools");
    assert_eq!(launches.sum("launches"), 1);
}

/// The derivation fingerprint stands for what the write path makes of events: the same for the
/// same policy, another for another PII policy or pseudonym key, and a store keeps the one its
/// events were derived by (an empty store takes it; one derived otherwise says so until a full
/// re-derive records the new one).
#[test]
fn the_derivation_fingerprint_follows_policy_and_key_and_the_store_keeps_it() {
    use ltiscope_redact::PseudonymKey;
    let with = |policy, key: Option<&str>| {
        let key = key.map(|k| PseudonymKey::new(k.as_bytes().to_vec()).expect("key"));
        Pipeline::new(
            ToolResolver::default(),
            Redactor::new(policy, key).expect("redactor"),
        )
        .derivation_fingerprint()
    };
    let minimise = with(PiiPolicy::Minimise, None);
    assert_eq!(minimise, with(PiiPolicy::Minimise, None), "stable");
    let keep = with(PiiPolicy::Keep, None);
    let pseudonyms = with(PiiPolicy::Pseudonymise, Some("a key of sixteen bytes"));
    let other_key = with(PiiPolicy::Pseudonymise, Some("another key, sixteen"));
    let all = [&minimise, &keep, &pseudonyms, &other_key];
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            assert_ne!(a, b, "policies and keys tell apart");
        }
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open_duckdb(&dir.path().join("f.duckdb")).expect("open");
    assert!(
        store.derived_alike(&keep).expect("empty"),
        "an empty store takes it"
    );
    let docs: Vec<String> = Generator::new(Options::new(Platform::Mixed, 20, 2)).collect();
    let batch = pipeline().prepare(docs.join("\n").as_bytes(), None, now(), "test");
    store.write(&batch).expect("write");
    assert!(store.derived_alike(&keep).expect("same"));
    assert!(
        !store.derived_alike(&minimise).expect("other"),
        "derived otherwise"
    );
    store.set_derived_by(&minimise).expect("set");
    assert!(store.derived_alike(&minimise).expect("set"));
    assert!(!store.derived_alike(&keep).expect("other"));
}
