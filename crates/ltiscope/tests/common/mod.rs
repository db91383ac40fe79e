//! What the real-process tests share: running the binary against a store, starting collectors
//! on free loopback ports, minimal HTTP/1.1 requests and generated envelopes.
#![allow(dead_code)] // each test file uses part of this

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const SEED: &str = include_str!("../seed-envelope.json");

/// Where a process under test keeps its data.
#[derive(Clone, Copy)]
pub enum Db<'a> {
    /// A DuckDB file.
    File(&'a Path),
    /// A PostgreSQL URL.
    Url(&'a str),
}

/// The binary with a clean environment, pointed at `db`.
pub fn bin(db: Db<'_>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ltiscope"));
    c.env_remove("LTISCOPE_CONFIG")
        .env_remove("LTISCOPE_PII")
        .env_remove("LTISCOPE_LISTEN")
        .env_remove("LTISCOPE_DB")
        .env_remove("LTISCOPE_DATABASE_URL");
    match db {
        Db::File(path) => c.env("LTISCOPE_DB", path),
        Db::Url(url) => c.env("LTISCOPE_DATABASE_URL", url),
    };
    c
}

/// Runs a command to success and returns its standard output.
pub fn run(db: Db<'_>, args: &[&str]) -> Vec<u8> {
    let out = bin(db).args(args).output().expect("runs");
    assert!(
        out.status.success(),
        "ltiscope {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Creates a key (`keys create --name test` plus `args`) and returns it.
pub fn create_key(db: Db<'_>, args: &[&str]) -> String {
    let mut all = vec!["keys", "create", "--name", "test"];
    all.extend_from_slice(args);
    String::from_utf8(run(db, &all))
        .expect("utf8")
        .trim()
        .to_owned()
}

/// Starts `ltiscope serve` on a free loopback port; returns the child and its address.
pub fn start_with(db: Db<'_>, extra: &[&str]) -> (Child, SocketAddr) {
    let mut child = bin(db)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--commit-window-ms",
            "2",
        ])
        .args(extra)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("listening on http://") {
                let _ = tx.send(addr.to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("server announces its address");
    (child, addr.parse().expect("address"))
}

/// SIGTERM, then waits; returns whether the process exited successfully.
pub fn terminate(mut child: Child) -> bool {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    child.wait().map(|s| s.success()).unwrap_or(false)
}

/// A minimal HTTP/1.1 POST of a Caliper envelope; returns the status code.
pub fn post(addr: SocketAddr, key: &str, body: &str) -> std::io::Result<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(
        s,
        "POST /caliper HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    s.read_to_string(&mut response)?;
    response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))
}

/// A GET with a bearer key; returns (status, body).
pub fn get(addr: SocketAddr, path: &str, key: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut response = String::new();
    s.read_to_string(&mut response).expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Envelopes of 20 LTIEvents each, every event with its own id: per sender, (body, ids).
pub fn envelopes(senders: usize, per_sender: usize) -> Vec<Vec<(String, Vec<String>)>> {
    let template: serde_json::Value = serde_json::from_str(SEED).expect("seed");
    let event = &template["data"][0];
    (0..senders)
        .map(|s| {
            (0..per_sender)
                .map(|e| {
                    let ids: Vec<String> = (0..20)
                        .map(|i| format!("00000000-0000-4000-8000-{:04}{:04}{:04}", s, e, i))
                        .collect();
                    let data: Vec<serde_json::Value> = ids
                        .iter()
                        .map(|id| {
                            let mut ev = event.clone();
                            ev["id"] = serde_json::json!(id);
                            ev
                        })
                        .collect();
                    let mut env = template.clone();
                    env["data"] = serde_json::Value::Array(data);
                    (env.to_string(), ids)
                })
                .collect()
        })
        .collect()
}
