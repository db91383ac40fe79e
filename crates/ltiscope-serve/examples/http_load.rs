//! HTTP ingest load generator for the benchmarks: reads Blackboard LTIEvents (JSON Lines),
//! wraps them in Caliper envelopes of `--per-envelope` events and posts them to `/caliper`
//! from `--senders` threads over keep-alive connections, retrying on 503. Prints one JSON
//! object: events/s, request latency p50/p99, statuses.
//!
//! Usage: `http_load ADDR[,ADDR...] KEY FILE [SENDERS] [PER_ENVELOPE]` (loopback addresses
//! only; with several collectors, sender i posts to address i mod n).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: http_load ADDR KEY FILE [SENDERS] [PER_ENVELOPE]");
        std::process::exit(2);
    }
    let addrs: Vec<SocketAddr> = args[1]
        .split(',')
        .map(|a| a.parse().map_err(std::io::Error::other))
        .collect::<Result<_, _>>()?;
    assert!(
        addrs.iter().all(|a| a.ip().is_loopback()),
        "load goes to loopback addresses only"
    );
    let key = args[2].clone();
    let senders: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(16);
    let per: usize = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(100);
    let lines: Vec<String> = BufReader::new(std::fs::File::open(&args[3])?)
        .lines()
        .collect::<Result<_, _>>()?;
    let bodies: Vec<String> = lines
        .chunks(per)
        .map(|c| {
            format!(
                "{{\"sensor\":\"bench\",\"sendTime\":\"2026-01-01T00:00:00.000Z\",\"dataVersion\":\"http://purl.imsglobal.org/ctx/caliper/v1p1\",\"data\":[{}]}}",
                c.join(",")
            )
        })
        .collect();
    let bodies = Arc::new(bodies);
    let next = Arc::new(Mutex::new(0usize));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let statuses = Arc::new(Mutex::new(std::collections::BTreeMap::<u16, u64>::new()));
    let started = Instant::now();
    let threads: Vec<_> = (0..senders)
        .map(|t| {
            let addr = addrs[t % addrs.len()];
            let (bodies, next, latencies, statuses, key) = (
                Arc::clone(&bodies),
                Arc::clone(&next),
                Arc::clone(&latencies),
                Arc::clone(&statuses),
                key.clone(),
            );
            std::thread::spawn(move || -> std::io::Result<()> {
                let mut conn = Conn::open(addr)?;
                loop {
                    let i = {
                        let mut n = next.lock().map_err(|_| std::io::Error::other("lock"))?;
                        let i = *n;
                        *n += 1;
                        i
                    };
                    let Some(body) = bodies.get(i) else {
                        return Ok(());
                    };
                    // Bounded retries: a 503 means "later", a broken connection is reopened.
                    for attempt in 0..50 {
                        let t = Instant::now();
                        let status = match conn.post(&key, body) {
                            Ok(s) => s,
                            Err(_) => {
                                conn = Conn::open(addr)?;
                                continue;
                            }
                        };
                        if let Ok(mut l) = latencies.lock() {
                            l.push(t.elapsed().as_secs_f64());
                        }
                        if let Ok(mut s) = statuses.lock() {
                            *s.entry(status).or_default() += 1;
                        }
                        if status != 503 {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(20 * (attempt + 1)));
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join()
            .map_err(|_| std::io::Error::other("sender panicked"))??;
    }
    let secs = started.elapsed().as_secs_f64();
    let mut l = latencies
        .lock()
        .map_err(|_| std::io::Error::other("lock"))?
        .clone();
    l.sort_by(f64::total_cmp);
    let q = |p: f64| {
        l.get(((l.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0.0)
            * 1000.0
    };
    println!(
        "{{\"events\": {}, \"senders\": {senders}, \"per_envelope\": {per}, \"seconds\": {secs:.3}, \"events_per_second\": {:.0}, \"p50_ms\": {:.1}, \"p99_ms\": {:.1}, \"statuses\": {:?}}}",
        lines.len(),
        lines.len() as f64 / secs,
        q(0.5),
        q(0.99),
        statuses
            .lock()
            .map(|s| format!("{s:?}"))
            .unwrap_or_default()
    );
    Ok(())
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
    addr: SocketAddr,
}

impl Conn {
    fn open(addr: SocketAddr) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        let reader = BufReader::new(stream.try_clone()?);
        Ok(Conn {
            stream,
            reader,
            addr,
        })
    }

    fn post(&mut self, key: &str, body: &str) -> std::io::Result<u16> {
        write!(
            self.stream,
            "POST /caliper HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        )?;
        self.stream.write_all(body.as_bytes())?;
        let mut status_line = String::new();
        self.reader.read_line(&mut status_line)?;
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other("bad status line"))?;
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut sink = vec![0u8; length];
        self.reader.read_exact(&mut sink)?;
        Ok(status)
    }
}
