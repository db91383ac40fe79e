//! The collector as a real process: a 2xx means durably stored, through SIGKILL and restart;
//! retries are stored once; SIGTERM drains. Traffic goes to loopback only, in bounded loops.

use ltiscope_model::Source;
mod common;

use common::{Db, SEED, bin, envelopes, get, post, start_with};
use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn create_key(db: &Path) -> String {
    common::create_key(Db::File(db), &["--source", "blackboard"])
}

fn start(db: &Path) -> (Child, SocketAddr) {
    start_with(Db::File(db), &[])
}

fn post_ok(addr: SocketAddr, key: &str) -> u16 {
    post(addr, key, SEED).unwrap_or(0)
}

fn stored_ids(db: &Path, source: Source) -> Vec<(String, u64)> {
    let store = ltiscope_store::Store::open_duckdb(db).expect("open after the server stopped");
    store.event_id_counts(source).expect("ids")
}

#[test]
fn acknowledged_events_survive_sigkill_and_retries_are_stored_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("crash.duckdb");
    let key = create_key(&db);
    let work = Arc::new(envelopes(8, 40));
    let all: HashSet<String> = work
        .iter()
        .flatten()
        .flat_map(|(_, ids)| ids.clone())
        .collect();

    let (mut server, addr) = start(&db);
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let acked_envelopes = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..work.len())
        .map(|s| {
            let (work, acked, count, key) = (
                Arc::clone(&work),
                Arc::clone(&acked),
                Arc::clone(&acked_envelopes),
                key.clone(),
            );
            std::thread::spawn(move || {
                for (body, ids) in &work[s] {
                    // Anything but 200 (refused, reset, killed) is not acknowledged.
                    if let Ok(200) = post(addr, &key, body) {
                        acked.lock().expect("lock").extend(ids.iter().cloned());
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    // Kill the server mid-run, once some but not all envelopes are acknowledged.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked_envelopes.load(Ordering::SeqCst) < 60 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill().expect("SIGKILL");
    server.wait().expect("reaped");
    for s in senders {
        s.join().expect("sender");
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(
        !acked.is_empty(),
        "nothing was acknowledged before the kill"
    );
    assert!(
        acked.len() < all.len(),
        "the kill came too late to test anything"
    );

    // Every acknowledged event is stored, exactly once.
    let stored = stored_ids(&db, Source::BlackboardCaliper);
    assert!(stored.iter().all(|(_, n)| *n == 1));
    let stored: HashSet<String> = stored.into_iter().map(|(id, _)| id).collect();
    let lost: Vec<_> = acked.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events lost, e.g. {:?}",
        lost.len(),
        lost.first()
    );

    // The senders retry everything (acknowledged or not) against the restarted server.
    let (server, addr) = start(&db);
    for sender in work.iter() {
        for (body, _) in sender {
            assert_eq!(post(addr, &key, body).expect("retry"), 200);
        }
    }
    // SIGTERM: graceful, exits successfully.
    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let mut server = server;
    let exit = server.wait().expect("exits");
    assert!(exit.success(), "graceful shutdown failed: {exit:?}");

    let stored = stored_ids(&db, Source::BlackboardCaliper);
    assert_eq!(stored.len(), all.len(), "every event stored after retries");
    assert!(stored.iter().all(|(_, n)| *n == 1), "no event stored twice");
}

#[test]
fn an_independent_xapi_client_library_is_understood() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("xapi.duckdb");
    let out = bin(Db::File(&db))
        .args(["keys", "create", "--name", "lrs", "--source", "xapi"])
        .output()
        .expect("keys create");
    let key = String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_owned();
    let (mut server, addr) = start(&db);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/xapi_tincan.py");
    let client = Command::new("python3")
        .args([script, &format!("http://{addr}/xapi/"), &key])
        .output()
        .expect("python3 runs");
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
    assert!(
        client.status.success(),
        "the tincan client failed (install it with `pip install tincan==1.0.0`; .ci/run does): {}",
        String::from_utf8_lossy(&client.stderr)
    );
    let sent: HashSet<String> = String::from_utf8_lossy(&client.stdout)
        .lines()
        .map(|l| l.trim().to_ascii_lowercase())
        .collect();
    assert_eq!(sent.len(), 4, "{sent:?}");
    let stored = stored_ids(&db, Source::Xapi);
    assert!(stored.iter().all(|(_, n)| *n == 1));
    let stored: HashSet<String> = stored.into_iter().map(|(id, _)| id).collect();
    assert_eq!(stored, sent);
}

#[test]
fn slow_senders_are_cut_off_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("slow.duckdb");
    let key = create_key(&db);
    let (mut server, addr) = start_with(
        Db::File(&db),
        &["--header-timeout-secs", "1", "--body-timeout-secs", "1"],
    );
    // Slowloris: headers trickle in and never finish.
    let mut slow_headers = TcpStream::connect(addr).expect("connect");
    slow_headers
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    slow_headers
        .write_all(b"POST /caliper HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    // A body that never arrives.
    let mut slow_body = TcpStream::connect(addr).expect("connect");
    slow_body
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        slow_body,
        "POST /caliper HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
    )
    .expect("write");
    let started = Instant::now();
    let mut buf = Vec::new();
    // The server closes the header-stalled connection (possibly after a 408).
    #[allow(clippy::disallowed_methods)] // bounded by take()
    let _ = (&mut slow_headers).take(64 * 1024).read_to_end(&mut buf);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "headers were not timed out"
    );
    let mut reply = String::new();
    let _ = slow_body.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "body was not timed out"
    );
    // Meanwhile and afterwards, normal requests are served.
    assert_eq!(post(addr, &key, SEED).expect("post"), 200);
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
}

/// Sends raw bytes, returns the status code of the reply (0 if the connection closed silently).
fn raw(addr: SocketAddr, request: &[u8]) -> u16 {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
    let _ = s.write_all(request);
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    // Up to the end of the status line is enough.
    while !response.windows(2).any(|w| w == b"\r\n") && response.len() < 65536 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&response)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_catalogue_of_bad_requests_at_the_real_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("bad.duckdb");
    let key = create_key(&db);
    let (mut server, addr) = start_with(Db::File(&db), &["--max-body-bytes", "262144"]);
    let post = |headers: &str, body: &[u8]| {
        let mut r = format!(
            "POST /caliper HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n{headers}\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    };
    let auth = format!("Authorization: Bearer {key}\r\n");
    let json = "Content-Type: application/json\r\n";
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // 100 MiB of spaces: ~100 KiB on the wire (inside the body cap), far past the 50 MiB
    // inflation cap.
    gzip.write_all(&vec![b' '; 100 * 1024 * 1024])
        .expect("gzip");
    let bomb = gzip.finish().expect("gzip");
    assert!(bomb.len() < 262_144, "{}", bomb.len());
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("garbage request line", b"GARBAGE\r\n\r\n".to_vec(), 400),
        (
            "huge header",
            format!(
                "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
                "a".repeat(1 << 20)
            )
            .into_bytes(),
            431,
        ),
        ("no key", post(json, SEED.as_bytes()), 401),
        (
            "wrong key",
            post(
                &format!("{json}Authorization: Bearer lts_nope\r\n"),
                SEED.as_bytes(),
            ),
            401,
        ),
        (
            "wrong content type",
            post(
                &format!("{auth}Content-Type: text/html\r\n"),
                SEED.as_bytes(),
            ),
            415,
        ),
        (
            "truncated JSON",
            post(&format!("{auth}{json}"), &SEED.as_bytes()[..SEED.len() / 2]),
            400,
        ),
        (
            "invalid UTF-8",
            post(&format!("{auth}{json}"), &[0xff, 0xfe, b'{', 0x80]),
            400,
        ),
        (
            "deep nesting",
            post(
                &format!("{auth}{json}"),
                format!("{}{}", "[".repeat(30_000), "]".repeat(30_000)).as_bytes(),
            ),
            400,
        ),
        (
            "declared too large",
            format!(
                "POST /caliper HTTP/1.1\r\nHost: x\r\n{auth}{json}Content-Length: 999999999\r\n\r\n"
            )
            .into_bytes(),
            413,
        ),
        (
            "gzip bomb",
            post(&format!("{auth}{json}Content-Encoding: gzip\r\n"), &bomb),
            413,
        ),
        (
            "wrong method",
            b"DELETE /caliper HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
            405,
        ),
        (
            "unknown path",
            b"GET /admin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
            404,
        ),
    ];
    for (what, request, want) in cases {
        assert_eq!(raw(addr, &request), want, "{what}");
    }
    // Still serving.
    assert_eq!(post_ok(addr, &key), 200);
    assert_eq!(
        raw(
            addr,
            b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ),
        200
    );
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    assert!(server.wait().expect("exits").success());
}

/// The CLI and the API are views of one read path: the same question gives the same rows.
#[test]
fn the_cli_and_the_api_give_the_same_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("agree.duckdb");
    let events = dir.path().join("events.jsonl");
    let run = |args: &[&str]| common::run(Db::File(&db), args);
    run(&[
        "generate",
        "--launches",
        "3000",
        "--seed",
        "3",
        "--out",
        events.to_str().expect("path"),
    ]);
    run(&["import", events.to_str().expect("path")]);
    let read_key = String::from_utf8(run(&["keys", "create", "--kind", "read", "--name", "t"]))
        .expect("utf8")
        .trim()
        .to_owned();
    let range = "--from=2026-02-01";
    let cli: serde_json::Value = serde_json::from_slice(&run(&[
        "report",
        "tools",
        range,
        "--to=2026-04-01",
        "--format",
        "json",
    ]))
    .expect("json");
    let cli_adoption: serde_json::Value =
        serde_json::from_slice(&run(&["report", "adoption", "--format", "json"])).expect("json");
    let (mut child, addr) = start(&db);
    let (status, body) = get(
        addr,
        "/api/v1/reports/tools?from=2026-02-01&to=2026-04-01",
        &read_key,
    );
    assert_eq!(status, 200, "{body}");
    let api: serde_json::Value = serde_json::from_str(&body).expect("json");
    let (_, body) = get(addr, "/api/v1/reports/adoption", &read_key);
    let api_adoption: serde_json::Value = serde_json::from_str(&body).expect("json");
    let _ = child.kill();
    let _ = child.wait();
    assert!(cli["tools"].as_array().expect("rows").len() > 10);
    assert_eq!(cli["tools"], api["sections"]["tools"]["rows"]);
    assert_eq!(
        cli_adoption["adoption"],
        api_adoption["sections"]["adoption"]["rows"]
    );
}

/// Retention: `serve --keep-days 20` deletes at start everything that happened before the
/// first of the 20 days kept (midnight UTC, the default report time zone); the rest stays.
#[test]
fn the_collector_enforces_its_retention() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("kept.duckdb");
    let events = dir.path().join("events.jsonl");
    let run = |args: &[&str]| common::run(Db::File(&db), args);
    // Sixty days up to today, whenever the test runs.
    let today = chrono::Utc::now().date_naive();
    let start = (today - chrono::Days::new(60))
        .format("%Y-%m-%d")
        .to_string();
    run(&[
        "generate",
        "--launches",
        "2000",
        "--seed",
        "5",
        "--start",
        &start,
        "--days",
        "60",
        "--out",
        events.to_str().expect("path"),
    ]);
    run(&["import", events.to_str().expect("path")]);
    let key = String::from_utf8(run(&["keys", "create", "--kind", "read", "--name", "t"]))
        .expect("utf8")
        .trim()
        .to_owned();
    let cutoff = format!(
        "{}T00:00:00",
        (today - chrono::Days::new(20)).format("%Y-%m-%d")
    );
    // Launches before a date, from the records (the CLI reads the file once serve stopped).
    let launches_before = |date: &str| -> u64 {
        let tools: serde_json::Value = serde_json::from_slice(&run(&[
            "report",
            "tools",
            "--to",
            &date[..10],
            "--format",
            "json",
        ]))
        .expect("json");
        tools["tools"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| r["launches"].as_u64().unwrap_or(0))
            .sum()
    };
    assert!(
        launches_before(&cutoff) > 0,
        "the term begins before the cutoff"
    );
    let (mut child, addr) = start_with(Db::File(&db), &["--keep-days", "20"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let span = loop {
        let (status, body) = get(addr, "/api/v1/meta", &key);
        assert_eq!(status, 200, "{body}");
        let meta: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(meta["keep_days"], 20, "readers are told: {meta}");
        let span = meta["span"].clone();
        let first = span["first_launch"].as_str().unwrap_or_default().to_owned();
        if first >= cutoff || Instant::now() > deadline {
            break span;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = child.kill();
    let _ = child.wait();
    let first = span["first_launch"].as_str().expect("launches are left");
    assert!(first >= cutoff.as_str(), "{span} against {cutoff}");
    let last = span["last_launch"].as_str().expect("a last launch");
    assert!(last > cutoff.as_str(), "the kept days stay: {span}");
    assert_eq!(
        launches_before(&cutoff),
        0,
        "nothing before the cutoff is left"
    );
    assert!(launches_before("2999-01-01") > 0, "the kept days are left");
}
