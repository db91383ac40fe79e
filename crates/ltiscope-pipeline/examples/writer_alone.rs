//! The import's writer on its own: what `ltiscope import` could reach if parsing cost nothing.
//!
//! Reads a JSON Lines file, parses and redacts all of it first in chunks of the import's size
//! (untimed, on every core), then stores those batches into a fresh DuckDB file exactly as the
//! import's single writer thread does (`Store::write_stream` in the import's transactions,
//! with the import's store settings), then refreshes the rollups as the import does before it
//! reports. Only the storing and the refresh are timed. The import runs its writer beside the
//! parse workers, so it can never be faster than this: the figure bounds the import, and its
//! ratio to the parse ceiling bounds the import's.
//!
//! Usage: `writer_alone FILE DB` (prints one JSON object per measurement; DB must not exist)

use ltiscope_ingest::ToolResolver;
use ltiscope_pipeline::Pipeline;
use ltiscope_pipeline::import::{
    CHECKPOINT_BYTES, CHUNK_LINES, COMMIT_EVENTS, REFRESH_MEMORY_BYTES, STREAM_MEMORY_BYTES,
};
use ltiscope_redact::{PiiPolicy, Redactor};
use ltiscope_store::{RollupConfig, Store, WriteBatch};
use std::path::PathBuf;
use std::time::Instant;

/// The allocator `ltiscope` itself uses, so the costs are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let (Some(file), Some(db)) = (args.next(), args.next()) else {
        return Err("usage: writer_alone FILE DB".into());
    };
    if db.exists() {
        return Err(format!("{} exists: give a path for a fresh database", db.display()).into());
    }
    #[allow(clippy::disallowed_methods)] // a benchmark's own input file
    let bytes = std::fs::read(&file)?;
    let chunks = line_chunks(&bytes);
    let pipeline = Pipeline::new(
        ToolResolver::default(),
        Redactor::new(PiiPolicy::Minimise, None)?,
    );
    let received_at = chrono::Utc::now();
    let origin = file.display().to_string();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut batches: Vec<WriteBatch> = Vec::with_capacity(chunks.len());
    std::thread::scope(|scope| {
        let per = chunks.len().div_ceil(workers).max(1);
        let handles: Vec<_> = chunks
            .chunks(per)
            .map(|part| {
                let (pipeline, origin) = (&pipeline, &origin);
                scope.spawn(move || {
                    part.iter()
                        .map(|(first_line, lines)| {
                            pipeline.prepare_lines(lines, *first_line, None, received_at, origin)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            batches.extend(h.join().unwrap_or_default());
        }
    });
    let events: usize = batches.iter().map(|b| b.events.len()).sum();

    let mut store = Store::open_duckdb(&db)?;
    store.configure_rollups(&RollupConfig::default())?;
    store.set_checkpoint_threshold(CHECKPOINT_BYTES)?;
    store.set_memory_limit(STREAM_MEMORY_BYTES)?;
    let started = Instant::now();
    let mut stored = 0u64;
    store.write_stream(batches.iter(), COMMIT_EVENTS, |_, o| {
        stored += o.launches + o.non_lti;
    })?;
    let write = started.elapsed().as_secs_f64();
    let refreshed = Instant::now();
    store.set_memory_limit(REFRESH_MEMORY_BYTES)?;
    store.refresh_rollups()?;
    let refresh = refreshed.elapsed().as_secs_f64();
    drop(store);
    let total = started.elapsed().as_secs_f64();
    println!(
        "{{\"writer_events\": {events}, \"writer_stored\": {stored}, \"writer_write_seconds\": {write:.2}, \
         \"writer_refresh_seconds\": {refresh:.2}, \"writer_seconds\": {total:.2}, \
         \"writer_per_second\": {:.0}}}",
        events as f64 / total
    );
    Ok(())
}

/// The file cut as the import cuts it: chunks of [`CHUNK_LINES`] lines, each with the number
/// of its first line.
fn line_chunks(bytes: &[u8]) -> Vec<(usize, &[u8])> {
    let mut chunks = Vec::new();
    let (mut start, mut lines, mut first_line) = (0, 0, 1);
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\n' {
            lines += 1;
            if lines == CHUNK_LINES {
                chunks.push((first_line, &bytes[start..=i]));
                (start, first_line, lines) = (i + 1, first_line + CHUNK_LINES, 0);
            }
        }
    }
    if start < bytes.len() {
        chunks.push((first_line, &bytes[start..]));
    }
    chunks
}
