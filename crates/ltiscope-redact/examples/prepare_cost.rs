//! Where the parse side of the write path spends its time, stage by stage, on one thread:
//! generated Blackboard `LTIEvent`s (the import benchmark's events) are parsed into
//! `serde_json::Value` only (the parse ceiling), then parsed and normalised, then parsed,
//! normalised and redacted (the scrubbed original serialised) two ways: a chunk of the
//! import's 1,024 lines parsed, then redacted; and each event redacted the moment it is
//! parsed, through the redactor's sink, as the write path does.
//! Each stage runs over the same bytes, in rounds alternating the stages, and the best round
//! of each is printed as µs per event.
//!
//! Usage: `cargo run --example prepare_cost -- [EVENTS] [ROUNDS]`
//! (`valgrind --tool=callgrind` on it counts instructions per stage function.)

use ltiscope_ingest::generate::{Generator, Options, Platform};
use ltiscope_ingest::{Batch, Context, ToolResolver};
use ltiscope_redact::{PiiPolicy, Redactor};
use std::hint::black_box;
use std::time::Instant;

/// The allocator `ltiscope` itself uses, so the costs are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Lines per chunk, as `ltiscope import` cuts them.
const CHUNK: usize = 1024;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let rounds: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let mut opts = Options::new(Platform::Blackboard, n, 1);
    opts.return_rate = 0.0;
    opts.non_lti_rate = 0.0;
    let lines: Vec<String> = Generator::new(opts).collect();
    let bytes: usize = lines.iter().map(String::len).sum();
    let tools = ToolResolver::default();
    let ctx = Context {
        received_at: chrono::Utc::now(),
        source: None,
        tools: &tools,
    };
    let redactor = match Redactor::new(PiiPolicy::Minimise, None) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };

    let parse = || {
        for l in &lines {
            black_box(serde_json::from_str::<serde_json::Value>(l).ok());
        }
    };
    // In chunks of the import's size: the parsed trees of a chunk are alive together.
    let normalise = || {
        for (c, chunk) in lines.chunks(CHUNK).enumerate() {
            let mut batch = Batch::default();
            for (i, l) in chunk.iter().enumerate() {
                ltiscope_ingest::parse_line(l.as_bytes(), &ctx, &mut batch, c * CHUNK + i);
            }
            black_box(batch);
        }
    };
    let redact = || {
        for (c, chunk) in lines.chunks(CHUNK).enumerate() {
            let mut batch = Batch::default();
            for (i, l) in chunk.iter().enumerate() {
                ltiscope_ingest::parse_line(l.as_bytes(), &ctx, &mut batch, c * CHUNK + i);
            }
            let stored: Vec<_> = batch
                .events
                .into_iter()
                .map(|e| redactor.event(e))
                .collect();
            black_box(stored);
        }
    };
    // Each event redacted as soon as it is parsed, while its tree is still in the cache: the
    // redactor's sink, as `Pipeline` parses.
    let per_event = || {
        for (c, chunk) in lines.chunks(CHUNK).enumerate() {
            let (mut events, mut rejected) = (Vec::with_capacity(chunk.len()), Vec::new());
            let mut sink = redactor.sink(&mut events, &mut rejected);
            for (i, l) in chunk.iter().enumerate() {
                ltiscope_ingest::parse_line(l.as_bytes(), &ctx, &mut sink, c * CHUNK + i);
            }
            black_box((events, rejected));
        }
    };
    let stages: [(&str, &dyn Fn()); 4] = [
        ("parse into Value (the ceiling)", &parse),
        ("parse + normalise", &normalise),
        ("parse a chunk, then redact + serialise it", &redact),
        ("the same, each event redacted once parsed", &per_event),
    ];
    let mut best = [f64::MAX; 4];
    for _ in 0..rounds {
        for (i, (_, stage)) in stages.iter().enumerate() {
            let t = Instant::now();
            stage();
            best[i] = best[i].min(t.elapsed().as_secs_f64());
        }
    }
    println!(
        "{} events, {:.0} bytes each on average, best of {rounds} rounds:",
        lines.len(),
        bytes as f64 / lines.len() as f64
    );
    for (i, (name, _)) in stages.iter().enumerate() {
        println!(
            "  {name:<42} {:>6.2} µs per event",
            best[i] * 1e6 / lines.len() as f64
        );
    }
}
