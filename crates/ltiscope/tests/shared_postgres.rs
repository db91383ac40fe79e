//! A shared deployment as real processes: three `ltiscope serve` on different loopback ports
//! in front of one PostgreSQL database. Senders spread envelopes across them with retries (and
//! re-send some that were acknowledged, as a sender does when an acknowledgement is lost); one
//! collector is SIGKILLed mid-run. Afterwards every event is stored exactly once and the three
//! collectors (the killed one restarted) answer reports alike. Loopback only, bounded loops.

mod common;

use common::{Db, create_key, envelopes, get, post, start_with, terminate};
use ltiscope_model::Source;
use ltiscope_store::testing::TempDatabase;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Posts `body` to the collectors in turn, starting at `first`, until one acknowledges it
/// (bounded: 60 attempts). Returns the index of the collector that did.
fn send_with_retries(addrs: &[SocketAddr], first: usize, key: &str, body: &str) -> Option<usize> {
    for attempt in 0..60 {
        let i = (first + attempt) % addrs.len();
        if let Ok(200) = post(addrs[i], key, body) {
            return Some(i);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn three_collectors_share_one_postgres_and_store_every_event_once_through_a_sigkill() {
    let pg = TempDatabase::create();
    let db = Db::Url(pg.url());
    let key = create_key(db, &["--source", "blackboard"]);
    let read_key = create_key(db, &["--kind", "read"]);
    let mut children = Vec::new();
    let mut addrs = Vec::new();
    for _ in 0..3 {
        let (child, addr) = start_with(db, &[]);
        children.push(Some(child));
        addrs.push(addr);
    }
    let addrs = Arc::new(addrs);
    let work = Arc::new(envelopes(6, 30));
    let all: HashSet<String> = work
        .iter()
        .flatten()
        .flat_map(|(_, ids)| ids.clone())
        .collect();
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let acked_envelopes = Arc::new(AtomicUsize::new(0));
    let resent = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..work.len())
        .map(|s| {
            let (work, addrs, acked, count, resent, key) = (
                Arc::clone(&work),
                Arc::clone(&addrs),
                Arc::clone(&acked),
                Arc::clone(&acked_envelopes),
                Arc::clone(&resent),
                key.clone(),
            );
            std::thread::spawn(move || {
                for (e, (body, ids)) in work[s].iter().enumerate() {
                    let Some(by) = send_with_retries(&addrs, s + e, &key, body) else {
                        continue;
                    };
                    acked.lock().expect("lock").extend(ids.iter().cloned());
                    count.fetch_add(1, Ordering::SeqCst);
                    // Every fourth envelope is sent again to another collector, as after a
                    // lost acknowledgement: it must be accepted and not stored twice.
                    if e % 4 == 0 && send_with_retries(&addrs, by + 1, &key, body).is_some() {
                        resent.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    // Kill the middle collector once some, but not all, envelopes are acknowledged.
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked_envelopes.load(Ordering::SeqCst) < 40 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut victim = children[1].take().expect("running");
    victim.kill().expect("SIGKILL");
    victim.wait().expect("reaped");
    let killed_after = acked_envelopes.load(Ordering::SeqCst);
    for s in senders {
        s.join().expect("sender");
    }
    let total: usize = work.iter().map(Vec::len).sum();
    assert!(
        killed_after > 0 && killed_after < total,
        "the kill should land mid-run: {killed_after} of {total} acknowledged"
    );
    assert!(resent.load(Ordering::SeqCst) > 0, "nothing was re-sent");
    let acked = acked.lock().expect("lock").clone();
    assert_eq!(
        acked, all,
        "the surviving collectors acknowledged every envelope"
    );

    // Every event stored, exactly once.
    let store = ltiscope_store::Store::open_postgres(pg.url()).expect("open");
    let stored = store
        .event_id_counts(Source::BlackboardCaliper)
        .expect("ids");
    let twice: Vec<_> = stored.iter().filter(|(_, n)| *n != 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    let stored: HashSet<String> = stored.into_iter().map(|(id, _)| id).collect();
    assert_eq!(stored, all);

    // The killed collector comes back; all three give the same reports.
    let (child, addr) = start_with(db, &[]);
    children[1] = Some(child);
    let mut addrs = (*addrs).clone();
    addrs[1] = addr;
    for path in [
        "/api/v1/reports/tools?from=2019-01-01&to=2030-01-01",
        "/api/v1/reports/quality?from=2019-01-01&to=2030-01-01",
    ] {
        let answers: Vec<serde_json::Value> = addrs
            .iter()
            .map(|a| {
                let (status, body) = get(*a, path, &read_key);
                assert_eq!(status, 200, "{path}: {body}");
                serde_json::from_str::<serde_json::Value>(&body).expect("json")["sections"].clone()
            })
            .collect();
        assert!(answers[0].is_object(), "{path}: {}", answers[0]);
        assert_eq!(answers[0], answers[1], "{path}");
        assert_eq!(answers[0], answers[2], "{path}");
    }
    let tools = get(
        addrs[0],
        "/api/v1/reports/tools?from=2019-01-01&to=2030-01-01",
        &read_key,
    )
    .1;
    let tools: serde_json::Value = serde_json::from_str(&tools).expect("json");
    let launches: u64 = tools["sections"]["tools"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["launches"].as_u64())
        .sum();
    assert_eq!(
        launches as usize,
        all.len(),
        "every stored launch is counted once"
    );
    for child in children.into_iter().flatten() {
        assert!(terminate(child), "graceful shutdown");
    }
}
