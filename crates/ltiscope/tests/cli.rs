//! The binary as users run it: generate → import → report, the seed's secrets nowhere in the
//! database file, exit codes and error messages.

use std::path::Path;
use std::process::{Command, Output};

const SEED: &str = "tests/seed-envelope.json";
const SIGNATURE: &str = "PEPikqcsphXcnKe/WQajV2VDNcQ=";

fn ltiscope(db: &Path, args: &[&str]) -> Output {
    ltiscope_with(db, &[], args)
}

/// `ltiscope` with some `LTISCOPE_*` settings in its environment.
fn ltiscope_with(db: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ltiscope"))
        .args(args)
        .env("LTISCOPE_DB", db)
        .env_remove("LTISCOPE_CONFIG")
        .env_remove("LTISCOPE_PII")
        .envs(env.iter().copied())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("ltiscope runs")
}

/// `ltiscope` that must succeed (else the test fails with what it said).
fn succeeds(db: &Path, args: &[&str]) -> Output {
    let out = ltiscope(db, args);
    assert!(
        out.status.success(),
        "ltiscope {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn the_seed_oauth_signature_is_nowhere_in_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("seed.duckdb");
    let out = ltiscope(&db, &["import", SEED]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout(&out).contains("launch records stored: 2"),
        "{}",
        stdout(&out)
    );

    let store = ltiscope_store::Store::open_duckdb(&db).expect("open");
    // Positive control: the same audit finds what must be kept (the consumer key) ...
    assert!(!store.find_text("mykeyagain").expect("audit").is_empty());
    // ... and finds no secret, name, email or IP address.
    for gone in [
        SIGNATURE,
        "171815513849839",
        "Blackboard Administrator",
        "noreply@blackboard.com",
        "186.28.208.123",
    ] {
        assert_eq!(
            store.find_text(gone).expect("audit"),
            vec![],
            "{gone} is stored"
        );
    }
    drop(store);
    // And not in the raw bytes of any file DuckDB wrote either.
    for entry in std::fs::read_dir(dir.path()).expect("dir") {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("read");
        assert!(
            !bytes
                .windows(SIGNATURE.len())
                .any(|w| w == SIGNATURE.as_bytes()),
            "signature found in a database file"
        );
    }
}

#[test]
fn a_token_in_a_launch_url_is_nowhere_in_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("url.duckdb");
    let statement = std::fs::read_to_string(
        "../ltiscope-ingest/tests/data/brightspace/lti-launch-lti13.constructed.json",
    )
    .expect("fixture");
    let secret = "Zq9xW7vT-launch-url-secret";
    let url = format!("https://tool.example.org/lti/launch?unit=4&access_token={secret}");
    let statement = statement.replace("https://tool.example.org/lti/launch", &url);
    assert!(
        statement.contains(secret),
        "the fixture has no launch URL to plant in"
    );
    let file = dir.path().join("statement.json");
    std::fs::write(&file, statement).expect("write");
    let out = ltiscope(&db, &["import", file.to_str().expect("utf8")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = ltiscope_store::Store::open_duckdb(&db).expect("open");
    // Positive control: the rest of the URL is kept, in the record and the original.
    assert!(
        store
            .find_text("launch?unit=4&access_token=[redacted]")
            .expect("audit")
            .len()
            >= 2
    );
    assert_eq!(store.find_text(secret).expect("audit"), vec![]);
}

/// A database written before a redaction rule existed keeps what the rule removes (here a
/// token inside a launch URL, planted back into the stored original and record as an older
/// ltiscope stored them): `rederive` says what it would change, then removes it, and the
/// launch is still counted.
#[test]
fn rederive_removes_a_secret_an_older_version_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("old.duckdb");
    let statement = std::fs::read_to_string(
        "../ltiscope-ingest/tests/data/brightspace/lti-launch-lti13.constructed.json",
    )
    .expect("fixture");
    let url = "https://tool.example.org/lti/launch?unit=4&access_token=[redacted]";
    let statement = statement.replace("https://tool.example.org/lti/launch", url);
    let file = dir.path().join("statement.json");
    std::fs::write(&file, statement).expect("write");
    succeeds(&db, &["import", file.to_str().expect("utf8")]);

    let secret = "Zq9xW7vT-stored-by-an-older-version";
    {
        let conn = duckdb::Connection::open(&db).expect("open");
        for table_column in [("events", "body"), ("launches", "launch_url")] {
            let (table, column) = table_column;
            let changed = conn
                .execute(
                    &format!(
                        "UPDATE {table} SET {column} = replace({column}, 'access_token=[redacted]', 'access_token={secret}')"
                    ),
                    [],
                )
                .expect("plant");
            assert_eq!(changed, 1, "{table}");
        }
    }
    let found = |db: &Path| {
        let store = ltiscope_store::Store::open_duckdb(db).expect("open");
        store.find_text(secret).expect("audit").len()
    };
    assert_eq!(found(&db), 2, "planted in the original and the record");

    let dry = succeeds(&db, &["rederive", "--dry-run"]);
    assert!(
        stdout(&dry)
            .contains("would replace: 1 (originals scrubbed again: 1; launch records changed: 1)")
            && stdout(&dry).contains("launch_url 1"),
        "{}",
        stdout(&dry)
    );
    assert_eq!(found(&db), 2, "a dry run changes nothing");

    let done = succeeds(&db, &["rederive"]);
    assert!(
        stdout(&done)
            .contains("replaced: 1 (originals scrubbed again: 1; launch records changed: 1)"),
        "{}",
        stdout(&done)
    );
    assert_eq!(found(&db), 0, "the secret is gone");
    let report = succeeds(&db, &["report", "tools", "--format", "json"]);
    assert!(
        stdout(&report).contains("\"launches\":1"),
        "{}",
        stdout(&report)
    );
    let again = ltiscope(&db, &["rederive"]);
    assert!(
        stdout(&again).contains("unchanged:   1"),
        "{}",
        stdout(&again)
    );

    // The replaced row's bytes are still in the file's free space (DuckDB does not overwrite
    // freed blocks: the control that makes the next check mean something), and the
    // re-derive said so; `compact` leaves nothing of them.
    let in_files = || {
        std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| std::fs::read(e.expect("entry").path()).expect("read"))
            .filter(|bytes| bytes.windows(secret.len()).any(|w| w == secret.as_bytes()))
            .count()
    };
    assert!(
        in_files() > 0,
        "the control: the freed bytes are still in the file"
    );
    assert!(
        String::from_utf8_lossy(&done.stderr).contains("run `ltiscope compact`"),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let compacted = succeeds(&db, &["compact"]);
    assert!(
        stdout(&compacted).contains("MB after"),
        "{}",
        stdout(&compacted)
    );
    assert_eq!(
        in_files(),
        0,
        "the secret is in no file of the database any more"
    );
    let report = ltiscope(&db, &["report", "tools", "--format", "json"]);
    assert!(
        stdout(&report).contains("\"launches\":1"),
        "{}",
        stdout(&report)
    );
}

/// `import` (like `serve`) says when the stored events were derived otherwise than it would
/// derive them (here: under another PII policy), until a full `rederive` has derived them
/// again; a fresh database never says it.
#[test]
fn import_says_when_a_rederive_would_change_the_stored_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("policy.duckdb");
    let advice = "ltiscope rederive --dry-run";
    let said = |o: &Output| String::from_utf8_lossy(&o.stderr).contains(advice);
    let first = succeeds(&db, &["import", SEED]);
    assert!(!said(&first), "{}", String::from_utf8_lossy(&first.stderr));
    let keep = succeeds(&db, &["--pii", "keep", "import", SEED]);
    assert!(said(&keep), "{}", String::from_utf8_lossy(&keep.stderr));
    let same = succeeds(&db, &["import", SEED]);
    assert!(!said(&same), "the policy it was derived under");
    let partial = succeeds(&db, &["--pii", "keep", "rederive", "--from", "2000-01-01"]);
    assert!(
        stdout(&partial).contains("unchanged"),
        "{}",
        stdout(&partial)
    );
    assert!(
        said(&succeeds(&db, &["--pii", "keep", "import", SEED])),
        "a part is not all"
    );
    succeeds(&db, &["--pii", "keep", "rederive"]);
    let after = succeeds(&db, &["--pii", "keep", "import", SEED]);
    assert!(!said(&after), "{}", String::from_utf8_lossy(&after.stderr));
}

#[test]
fn generate_import_report_agree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("demo.duckdb");
    let events = dir.path().join("events.jsonl.gz");
    let generated = ltiscope(
        &db,
        &[
            "generate",
            "--platform",
            "mixed",
            "--launches",
            "2000",
            "--seed",
            "7",
            "--duplicates",
            "0.01",
            "--malformed",
            "0.01",
            "--out",
            events.to_str().expect("utf8"),
        ],
    );
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let imp = ltiscope(&db, &["import", events.to_str().expect("utf8")]);
    assert!(
        imp.status.success(),
        "quarantined events are not a failure: {}",
        String::from_utf8_lossy(&imp.stderr)
    );
    let summary = stdout(&imp);
    assert!(summary.contains("duplicates skipped:"), "{summary}");
    assert!(summary.contains("quarantined:"), "{summary}");

    let rep = ltiscope(&db, &["report", "tools", "--format", "json"]);
    assert!(rep.status.success());
    let report: serde_json::Value = serde_json::from_slice(&rep.stdout).expect("json report");
    let rows = &report["tools"];
    let launches: u64 = rows
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["launches"].as_u64().expect("n"))
        .sum();
    // 2,000 generated launches minus test users (0.3%) and malformed ones (1%).
    assert!((1_900..=2_000).contains(&launches), "{launches}");
    // The generator repeats about 12% of launches minutes later: those are not new visits.
    let visits: u64 = rows
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["visits"].as_u64().expect("n"))
        .sum();
    assert!(
        visits < launches && visits * 100 > launches * 80,
        "{visits} visits of {launches} launches"
    );
    assert_eq!(
        rows[0]["tool_id"], "turnitin",
        "the most popular generated tool leads"
    );

    let csv = ltiscope(
        &db,
        &["report", "tools", "--format", "csv", "--role", "instructor"],
    );
    assert!(stdout(&csv).starts_with("tool_id,tool,launches,visits,users,courses,"));
    let turnitin = ltiscope(&db, &["report", "tool", "--tool", "turnitin"]);
    let text = stdout(&turnitin);
    assert!(text.contains("heatmap (168 rows)"), "{text}");
    assert!(text.contains("deployments"), "{text}");
    let no_tool = ltiscope(&db, &["report", "tool"]);
    assert_eq!(no_tool.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no_tool.stderr).contains("--tool"));
    for name in [
        "overview",
        "courses",
        "adoption",
        "dormant",
        "health",
        "time-in-tool",
    ] {
        let r = ltiscope(&db, &["report", name, "--format", "json"]);
        assert!(
            r.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&r.stdout).expect("json");
        assert!(v.is_object(), "{name}");
    }
    // Generated Blackboard and Caliper launches come back: time in tool is measured.
    let time = ltiscope(&db, &["report", "time-in-tool", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&time.stdout).expect("json");
    let paired: u64 = v["time_in_tool"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["paired"].as_u64().unwrap_or(0))
        .sum();
    assert!(paired > 500, "{paired}");
    // Small-cell suppression shows "<k" instead of small counts, in every format.
    let suppressed = ltiscope_with(
        &db,
        &[("LTISCOPE_SUPPRESS_BELOW", "5")],
        &["report", "courses", "--format", "csv"],
    );
    assert!(
        stdout(&suppressed).contains(",<5,"),
        "{}",
        stdout(&suppressed)
    );
    // Exports: every launch record (launches and returns) in each format.
    for name in ["all.csv", "all.jsonl", "all.parquet"] {
        let out = dir.path().join(name);
        let e = ltiscope(
            &db,
            &["export", "launches", "--out", out.to_str().expect("path")],
        );
        assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
        assert!(String::from_utf8_lossy(&e.stderr).contains("exported"));
        assert!(
            std::fs::metadata(&out).expect("file").len() > 1000,
            "{name}"
        );
    }
    let jsonl = std::fs::read_to_string(dir.path().join("all.jsonl")).expect("read");
    assert!(
        jsonl.lines().count() as u64 > launches,
        "returns are exported too"
    );
    let quality = ltiscope(&db, &["report", "quality"]);
    assert!(stdout(&quality).contains("brightspace-bds"));
    let waiting = || {
        let q = ltiscope(
            &db,
            &[
                "quarantine",
                "list",
                "--limit",
                "100000",
                "--format",
                "json",
            ],
        );
        let items: serde_json::Value = serde_json::from_slice(&q.stdout).expect("json");
        items.as_array().expect("array").len()
    };
    let quarantined = waiting();
    assert!(quarantined > 10, "{quarantined}");
    // Regression: the same file imported again stored its quarantined lines again.
    let again = stdout(&ltiscope(&db, &["import", events.to_str().expect("utf8")]));
    assert!(again.contains("launch records stored: 0"), "{again}");
    assert!(
        again.contains(&format!(
            "quarantined:           {quarantined} ({quarantined} of them already in quarantine"
        )),
        "{again}"
    );
    assert_eq!(waiting(), quarantined);
    // Regression: the same file named another way (through `.`, through a symlink) was another
    // origin, and its quarantined lines were stored again.
    let dotted = dir
        .path()
        .join(".")
        .join(events.file_name().expect("file name"));
    let linked = dir.path().join("linked.jsonl.gz");
    std::os::unix::fs::symlink(&events, &linked).expect("symlink");
    for other in [dotted, linked] {
        let again = stdout(&ltiscope(&db, &["import", other.to_str().expect("utf8")]));
        assert!(
            again.contains(&format!("({quarantined} of them already in quarantine")),
            "{}: {again}",
            other.display()
        );
    }
    assert_eq!(waiting(), quarantined);
}

/// The stderr of a command that failed (exit code 1) and said `cause` exactly once.
fn fails_saying_once(out: &Output, cause: &str) -> String {
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(said.matches(cause).count(), 1, "{said}");
    said
}

#[test]
fn failures_say_what_to_do_and_exit_non_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("x.duckdb");
    // Regression: each cause was said twice (once in the message, once as its source).
    let said = fails_saying_once(
        &ltiscope(&db, &["import", "does-not-exist.jsonl"]),
        "No such file or directory",
    );
    assert!(said.contains("does-not-exist.jsonl"), "{said}");
    let nowhere = dir.path().join("no-such-folder").join("x.duckdb");
    let said = fails_saying_once(
        &ltiscope(&nowhere, &["import", SEED]),
        "No such file or directory",
    );
    assert!(said.contains("--db"), "says what to do: {said}");
    assert!(!said.contains("Unknown error code"), "{said}");
    // A compaction that cannot clear the way says what is in it and leaves the database be.
    let compacting = dir.path().join("c.duckdb");
    succeeds(&compacting, &["import", SEED]);
    std::fs::create_dir(dir.path().join("c.duckdb.compacting")).expect("in the way");
    let said = fails_saying_once(&ltiscope(&compacting, &["compact"]), "Is a directory");
    assert!(said.contains("remove it and run again"), "{said}");
    let tools = stdout(&succeeds(
        &compacting,
        &["report", "tools", "--format", "json"],
    ));
    assert!(tools.contains("\"launches\":1"), "{tools}");
    // Nothing listens on port 1 of the loopback address.
    let refused = Command::new(env!("CARGO_BIN_EXE_ltiscope"))
        .args(["report", "tools"])
        .env(
            "LTISCOPE_DATABASE_URL",
            "postgres://ltiscope@127.0.0.1:1/none",
        )
        .env_remove("LTISCOPE_DB")
        .env_remove("LTISCOPE_CONFIG")
        .output()
        .expect("runs");
    let said = fails_saying_once(&refused, "Connection refused");
    assert!(
        said.contains("LTISCOPE_DATABASE_URL"),
        "says what to do: {said}"
    );
    // Regression: a command that only reads or changes what is stored created an empty
    // database at a mistyped path and answered from it ("tools (0 rows)").
    let missing = dir.path().join("mistyped.duckdb");
    let out = dir.path().join("out.csv");
    for args in [
        &["report", "tools"][..],
        &["export", "launches", "--out", out.to_str().expect("utf8")],
        &["quarantine", "list"],
        &["quarantine", "replay"],
        &["purge", "--before", "2026-01-01"],
        &["keys", "list"],
        &["keys", "revoke", "1"],
    ] {
        let said = fails_saying_once(&ltiscope(&missing, args), "no database at");
        assert!(
            said.contains("mistyped.duckdb") && said.contains("--db"),
            "{args:?}: {said}"
        );
        assert!(!missing.exists(), "{args:?} created the database");
    }
    // Regression: an extension that names no export format was written as CSV.
    let stocked = dir.path().join("stocked.duckdb");
    assert!(ltiscope(&stocked, &["import", SEED]).status.success());
    let xlsx = dir.path().join("launches.xlsx");
    let said = fails_saying_once(
        &ltiscope(
            &stocked,
            &["export", "launches", "--out", xlsx.to_str().expect("utf8")],
        ),
        "cannot tell the export format",
    );
    assert!(said.contains("--format"), "says what to do: {said}");
    assert!(!xlsx.exists());
    // Regression: the one-tool report of a tool id nothing was launched with (a typo, a
    // tool's name for its id) was an empty report; a known tool with no launches in the
    // range still is (so does a course).
    let said = fails_saying_once(
        &ltiscope(&stocked, &["report", "tool", "--tool", "LTIAH"]),
        "no tool \"LTIAH\"",
    );
    assert!(
        said.contains("did you mean \"ltiah.herokuapp.com\"") && said.contains("report tools"),
        "{said}"
    );
    let said = fails_saying_once(
        &ltiscope(&stocked, &["report", "course", "--course", "_14_1"]),
        "no course \"_14_1\"",
    );
    assert!(said.contains("report courses"), "{said}");
    for (report, flag, known) in [
        ("tool", "--tool", "ltiah.herokuapp.com"),
        ("course", "--course", "_41_1"),
    ] {
        let quiet = ltiscope(
            &stocked,
            &["report", report, flag, known, "--from", "2025-01-01"],
        );
        let err = String::from_utf8_lossy(&quiet.stderr);
        assert!(quiet.status.success(), "{report}: {err}");
        let out = String::from_utf8_lossy(&quiet.stdout);
        assert!(out.starts_with("summary (0 rows)"), "{report}: {out}");
    }
    // Creating a key before the first `serve` is how a deployment starts.
    let key = ltiscope(
        &missing,
        &[
            "keys",
            "create",
            "--name",
            "first",
            "--kind",
            "ingest",
            "--source",
            "blackboard",
        ],
    );
    assert!(
        key.status.success(),
        "{}",
        String::from_utf8_lossy(&key.stderr)
    );
    assert!(missing.exists());
    let bad_date = ltiscope(&db, &["report", "tools", "--from", "last tuesday"]);
    assert_eq!(bad_date.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad_date.stderr).contains("YYYY-MM-DD"));
    let usage = ltiscope(&db, &["report", "nonsense"]);
    assert_eq!(usage.status.code(), Some(2));
    // A retention of no day at all would delete launches as they arrive.
    let none_kept = ltiscope(&db, &["serve", "--keep-days", "0"]);
    assert_eq!(none_kept.status.code(), Some(1));
    let said = String::from_utf8_lossy(&none_kept.stderr);
    assert!(said.contains("keep_days must be at least 1"), "{said}");
    // Regression: an unknown reason code listed nothing, as if nothing were waiting.
    let usage = ltiscope(&stocked, &["quarantine", "list", "--reason", "bad_json"]);
    assert_eq!(usage.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&usage.stderr).contains("not_json"));
    // Regression: an envelope imported with the wrong --source stayed in quarantine, however
    // often it was replayed, until its file was imported again.
    let wrong = dir.path().join("wrong-source.duckdb");
    let said = ltiscope(&wrong, &["import", "--source", "brightspace-bds", SEED]);
    assert!(said.status.success());
    assert!(
        stdout(&said).contains("source_mismatch"),
        "{}",
        stdout(&said)
    );
    let again = stdout(&ltiscope(&wrong, &["quarantine", "replay"]));
    assert!(again.contains(" 0 recovered"), "{again}");
    let detected = ltiscope(
        &wrong,
        &[
            "quarantine",
            "replay",
            "--reason",
            "source_mismatch",
            "--detect-source",
        ],
    );
    let detected = stdout(&detected);
    assert!(
        !detected.contains(" 0 recovered") && detected.ends_with("0 still failing\n"),
        "{detected}"
    );
    let tools = stdout(&ltiscope(&wrong, &["report", "tools", "--format", "csv"]));
    assert_eq!(tools.lines().count(), 2, "one tool: {tools}");
    let pseudo = Command::new(env!("CARGO_BIN_EXE_ltiscope"))
        .args(["--pii", "pseudonymise", "import", SEED])
        .env("LTISCOPE_DB", &db)
        .env_remove("LTISCOPE_PSEUDONYM_KEY")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("runs");
    assert_eq!(pseudo.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&pseudo.stderr).contains("LTISCOPE_PSEUDONYM_KEY"));
}

/// Every command against PostgreSQL instead of the file: import (twice: duplicates), reports,
/// exports in three formats, quarantine list and replay, keys, retention, and the seed's
/// secret nowhere in the database.
#[test]
fn every_command_works_on_postgres() {
    let pg = ltiscope_store::testing::TempDatabase::create();
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| -> Output {
        Command::new(env!("CARGO_BIN_EXE_ltiscope"))
            .args(args)
            .env("LTISCOPE_DATABASE_URL", pg.url())
            .env_remove("LTISCOPE_DB")
            .env_remove("LTISCOPE_CONFIG")
            .env_remove("LTISCOPE_PII")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("ltiscope runs")
    };
    let ok = |args: &[&str]| -> String {
        let out = run(args);
        assert!(
            out.status.success(),
            "ltiscope {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout(&out)
    };
    let events = dir.path().join("events.jsonl");
    let events = events.to_str().expect("utf8");
    ok(&[
        "generate",
        "--launches",
        "1500",
        "--seed",
        "11",
        "--malformed",
        "0.02",
        "--out",
        events,
    ]);
    let first = ok(&["import", events]);
    assert!(first.contains("launch records stored:"), "{first}");
    let again = ok(&["import", events]);
    assert!(again.contains("launch records stored: 0"), "{again}");
    ok(&["import", SEED]);

    let tools: serde_json::Value =
        serde_json::from_str(&ok(&["report", "tools", "--format", "json"])).expect("json");
    let launches: u64 = tools["tools"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["launches"].as_u64())
        .sum();
    assert!(launches > 1000, "{launches}");
    for report in [
        "overview",
        "adoption",
        "dormant",
        "health",
        "quality",
        "time-in-tool",
    ] {
        ok(&["report", report, "--format", "json"]);
    }

    // `export` reports "exported N launch records to ..." on stderr; every format holds the
    // same N, and N is every launch, return and use record (more than the launches counted).
    let mut counts = Vec::new();
    for ext in ["csv", "jsonl", "parquet"] {
        let path = dir.path().join(format!("x.{ext}"));
        let out = run(&["export", "launches", "--out", path.to_str().expect("utf8")]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let message = String::from_utf8_lossy(&out.stderr).into_owned();
        let n: u64 = message
            .strip_prefix("exported ")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count in {message:?}"));
        counts.push(n);
        let bytes = std::fs::read(&path).expect("exported");
        match ext {
            "csv" => {
                assert!(bytes.starts_with(b"source,tenant,event_id,"));
                assert_eq!(
                    bytes.iter().filter(|b| **b == b'\n').count() as u64,
                    n + 1,
                    "a header and one line per record"
                );
            }
            "jsonl" => {
                assert!(bytes.starts_with(b"{"));
                assert_eq!(bytes.iter().filter(|b| **b == b'\n').count() as u64, n);
            }
            _ => assert_eq!(&bytes[..4], b"PAR1"),
        }
    }
    assert!(counts[0] > launches, "{counts:?} vs {launches} launches");
    assert!(counts.iter().all(|n| *n == counts[0]), "{counts:?}");

    let waiting = ok(&["quarantine", "list", "--format", "json"]);
    assert!(waiting.contains("reason"), "{waiting}");
    ok(&["quarantine", "replay"]);

    // Tool naming on PostgreSQL: the generated term's tools as stored, and nothing to rename
    // by the rules (none) that named them.
    let listed = ok(&["tools", "list", "--format", "csv"]);
    assert!(
        listed.contains("\nturnitin,Turnitin,catalogue,"),
        "{listed}"
    );
    let apply = ok(&["tools", "apply", "--dry-run"]);
    assert!(apply.starts_with("nothing to rename"), "{apply}");

    let key_list = ok(&["keys", "list"]);
    ok(&["keys", "create", "--kind", "read", "--name", "pg"]);
    assert!(ok(&["keys", "list"]).lines().count() > key_list.lines().count());

    let store = ltiscope_store::Store::open_postgres(pg.url()).expect("open");
    assert_eq!(store.find_text(SIGNATURE).expect("audit"), vec![]);
    assert!(!store.find_text("mykeyagain").expect("audit").is_empty());

    // Retention: the generated term starts 2026-01-12; everything before March goes.
    let dry = ok(&["purge", "--before", "2026-03-01", "--dry-run"]);
    assert!(dry.contains("would delete"), "{dry}");
    let purged = ok(&["purge", "--before", "2026-03-01"]);
    assert!(purged.contains("monthly partitions dropped"), "{purged}");
    let left: serde_json::Value = serde_json::from_str(&ok(&[
        "report",
        "tools",
        "--to",
        "2026-03-01",
        "--format",
        "json",
    ]))
    .expect("json");
    assert_eq!(
        left["tools"].as_array().map(Vec::len),
        Some(0),
        "nothing before the cutoff is left: {left}"
    );
    let future = run(&["purge", "--before", "2999-01-01"]);
    assert!(!future.status.success());
    assert!(String::from_utf8_lossy(&future.stderr).contains("future"));

    // What is left derives again to itself; compacting rewrites the tables and keeps it.
    let rederived = ok(&["rederive"]);
    assert!(
        rederived.contains("replaced: 0 (") && !rederived.contains("left as stored"),
        "{rederived}"
    );
    let before = ok(&["report", "tools", "--format", "json"]);
    let compacted = ok(&["compact"]);
    assert!(compacted.contains("MB after"), "{compacted}");
    assert_eq!(ok(&["report", "tools", "--format", "json"]), before);
}

/// A one-off time zone on a report is answered from the launch records, in that zone, and
/// leaves the rollups as they are; `import` with it makes the rollups follow it.
#[test]
fn a_one_off_time_zone_on_a_report_leaves_the_rollups_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("tz.duckdb");
    let file = dir.path().join("bb.jsonl");
    let file = file.to_str().expect("utf-8 path");
    let generated = ltiscope(
        &db,
        &[
            "generate",
            "--platform",
            "blackboard",
            "--launches",
            "300",
            "--seed",
            "4",
            "--out",
            file,
        ],
    );
    assert!(generated.status.success());
    assert!(ltiscope(&db, &["import", file]).status.success());
    let with_zone =
        |args: &[&str]| ltiscope_with(&db, &[("LTISCOPE_TIMEZONE", "Pacific/Auckland")], args);
    let rebuilt =
        |o: &Output| String::from_utf8_lossy(&o.stderr).contains("report rollups: now by");
    let daily = |o: &Output| -> Vec<(String, u64)> {
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        v["daily"]
            .as_array()
            .map(|rows| {
                let day = |r: &serde_json::Value| r["day"].as_str().unwrap_or("").to_owned();
                rows.iter()
                    .map(|r| (day(r), r["launches"].as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let utc = ltiscope(&db, &["report", "overview", "--format", "json"]);
    let report = with_zone(&["report", "overview", "--format", "json"]);
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    assert!(!rebuilt(&report), "a report does not rebuild the rollups");
    // Days cut at Auckland midnights, 11 or 13 hours ahead of UTC: other first and last days.
    assert!(!daily(&utc).is_empty());
    assert_ne!(daily(&report), daily(&utc));
    let import = with_zone(&["import", file]);
    assert!(
        rebuilt(&import),
        "import makes the rollups follow the setting"
    );
}

/// A tool rule written after the launches were collected: `tools apply --dry-run` says what
/// it would rename and renames nothing, `tools apply` renames, and `import` renames by itself
/// when the rules changed since the records were named (here: when they are taken away again).
#[test]
fn tool_rules_written_later_rename_stored_launches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.duckdb");
    assert!(ltiscope(&db, &["import", SEED]).status.success());
    let tools = |args: &[&str]| {
        let out = ltiscope(
            &db,
            &[args, &["report", "tools", "--format", "csv"]].concat(),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout(&out)
    };
    let before = tools(&[]);
    assert!(before.contains("ltiah.herokuapp.com"), "{before}");
    let config = dir.path().join("ltiscope.toml");
    std::fs::write(
        &config,
        "[[tools.rules]]\nname = \"LTI Harness\"\nhost = \"ltiah.herokuapp.com\"\n\n\
         [[tools.rules]]\nname = \"Licensed But Unused\"\nhost = \"unused.example.com\"\n",
    )
    .expect("config");
    let with_rules = ["--config", config.to_str().expect("utf8")];

    let dry = ltiscope(
        &db,
        &[&with_rules[..], &["tools", "apply", "--dry-run"]].concat(),
    );
    let said = stdout(&dry);
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(
        said.contains(
            "ltiah.herokuapp.com (ltiah.herokuapp.com) -> lti-harness (LTI Harness, by rule)"
        ) && said.contains("dry run"),
        "{said}"
    );
    assert_eq!(tools(&[]), before, "a dry run renames nothing");

    // A report by the new rules says the records were named by others, and keeps them.
    let noted = ltiscope(&db, &[&with_rules[..], &["report", "tools"]].concat());
    let note = String::from_utf8_lossy(&noted.stderr);
    assert!(note.contains("ltiscope tools apply"), "{note}");
    assert_eq!(tools(&[]), before, "a report renames nothing");

    let applied = stdout(&ltiscope(
        &db,
        &[&with_rules[..], &["tools", "apply"]].concat(),
    ));
    assert!(applied.contains("-> lti-harness"), "{applied}");
    let after = tools(&[]);
    assert!(
        after.contains("lti-harness,LTI Harness") && !after.contains("ltiah.herokuapp.com"),
        "{after}"
    );
    let again = stdout(&ltiscope(
        &db,
        &[&with_rules[..], &["tools", "apply"]].concat(),
    ));
    assert!(again.starts_with("nothing to rename"), "{again}");
    let listed = stdout(&ltiscope(
        &db,
        &[&with_rules[..], &["tools", "list", "--format", "csv"]].concat(),
    ));
    assert!(
        listed.contains("\nlti-harness,LTI Harness,rule,2,ltiah.herokuapp.com,"),
        "{listed}"
    );
    // The dormant report lists the tools the rules name that never launched, first; a tool
    // that launched is not among them.
    let dormant = ltiscope(
        &db,
        &[&with_rules[..], &["report", "dormant", "--format", "csv"]].concat(),
    );
    assert!(String::from_utf8_lossy(&dormant.stderr).is_empty());
    let dormant = stdout(&dormant);
    let rows: Vec<&str> = dormant.lines().collect();
    assert_eq!(
        rows[1], "licensed-but-unused,Licensed But Unused,,,0",
        "{dormant}"
    );
    // Its own report is empty, not an error: the tool is known, it just never launched.
    let own = ltiscope(
        &db,
        &[
            &with_rules[..],
            &["report", "tool", "--tool", "licensed-but-unused"],
        ]
        .concat(),
    );
    assert!(
        own.status.success(),
        "{}",
        String::from_utf8_lossy(&own.stderr)
    );
    assert!(
        stdout(&own).starts_with("summary (0 rows)"),
        "{}",
        stdout(&own)
    );
    assert!(
        rows[2].starts_with("lti-harness,LTI Harness,20") && !rows[2].ends_with(",0"),
        "{dormant}"
    );

    // Importing without the rule names the stored records by the catalogue and domain again.
    let import = ltiscope(&db, &["import", SEED]);
    let err = String::from_utf8_lossy(&import.stderr);
    assert!(
        import.status.success() && err.contains("lti-harness (LTI Harness) -> ltiah.herokuapp.com"),
        "{err}"
    );
    assert_eq!(tools(&[]), before);
}

/// The summary's time and rate are the whole import's, the closing rollup refresh included,
/// split into storing and rolling up (`bench/import.sh` reads the storing part from it); the
/// rolling up is the refresh its progress line reports.
#[test]
fn the_import_summary_times_storing_and_rolling_up_together() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("timed.duckdb");
    let events = dir.path().join("events.jsonl");
    let events = events.to_str().expect("utf8");
    succeeds(
        &db,
        &[
            "generate",
            "--launches",
            "2000",
            "--seed",
            "5",
            "--out",
            events,
        ],
    );
    let imported = succeeds(&db, &["import", events]);
    let out = stdout(&imported);
    let line = out
        .lines()
        .find(|l| l.starts_with("imported "))
        .unwrap_or_else(|| panic!("no summary line in {out}"));
    // "imported 1 file(s), N records in Ts (R records/s; Ss storing them, Us rolling them up for reports)"
    let number_before = |marker: &str| -> f64 {
        let head = &line[..line
            .find(marker)
            .unwrap_or_else(|| panic!("{marker:?} in {line}"))];
        let start = head.rfind([' ', '(']).map_or(0, |i| i + 1);
        head[start..]
            .trim_end_matches('s')
            .parse()
            .unwrap_or_else(|e| panic!("{e}: {line}"))
    };
    let records = number_before(" records in");
    let total = number_before(" (");
    let storing = number_before(" storing them");
    let rolling = number_before(" rolling them up for reports)");
    assert!(records >= 2000.0, "{line}");
    // Each part is printed to a tenth of a second.
    assert!(
        (storing + rolling - total).abs() <= 0.11,
        "the parts do not add up: {line}"
    );
    assert!(storing <= total + 0.05, "{line}");
    let progress = String::from_utf8_lossy(&imported.stderr);
    let refreshed = progress
        .lines()
        .find_map(|l| {
            l.strip_prefix("rolled up ")?
                .rsplit_once(" in ")?
                .1
                .strip_suffix('s')
        })
        .unwrap_or_else(|| panic!("no refresh line in {progress}"));
    assert_eq!(
        refreshed.parse::<f64>().ok(),
        Some(rolling),
        "the summary's rolling up is not the refresh: {line} / {progress}"
    );
}
