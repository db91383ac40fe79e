//! `ltiscope import`: files and folders of `.json`, `.jsonl`/`.ndjson` and their `.gz` forms,
//! each holding envelopes, arrays, single events or JSON Lines (detected per file, then per
//! record).
//!
//! JSON Lines are streamed: a reader cuts the file into chunks of whole lines, worker threads
//! parse and redact them (those beyond one per CPU beside the writer's at the lowest priority:
//! `priority.rs`), and this thread appends them in order, committing every
//! [`COMMIT_EVENTS`] events, so memory stays bounded whatever the file size. A file that is one
//! JSON document is read whole (up to a cap).

use crate::Pipeline;
use ltiscope_model::{Source, Timestamp};
use ltiscope_store::{Store, StoreError, WriteBatch, WriteOutcome};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};

/// Largest single JSON document (not JSON Lines) that is read whole.
pub const MAX_DOCUMENT_BYTES: u64 = 512 * 1024 * 1024;

/// Lines per chunk: what a worker parses at once and the writer appends at once. Half of the
/// 2,048 it was cut peak memory by 80 MiB at the same speed (a parsed chunk holds its JSON
/// trees until redacted, and a few chunks are in flight).
pub const CHUNK_LINES: usize = 1024;

/// Parsed chunks that wait for the writer, beyond the one each worker holds. The writer's pace
/// is uneven: most chunks it only appends, but with some it fills a row group, which is
/// compressed and written at once, or commits. While it does that the workers fill the queue
/// and stop; when it comes back it empties the queue faster than they refill it and waits in
/// turn. With two places (one per worker on two cores) each worker stood ~11 s and the writer
/// ~1.6 s of a million-event import; four were 2% faster (BENCHMARKS.md, "The writer's
/// queue"), eight with DuckDB's buffers bounded lower to make room ([`STREAM_MEMORY_BYTES`])
/// 7% faster again ("A deeper queue in smaller buffers"). Since a chunk's kept originals are
/// held at their length (a third less memory per chunk), sixteen fit where eight did: faster
/// again in three pairs of three ("Bodies at their length"); twenty-four and thirty-two, in
/// two rounds each, were within the noise of sixteen and peaked at up to 494 and 518 MiB. The
/// depth is the writer's: it does not grow with the number of workers.
pub const QUEUED_CHUNKS: usize = 16;

/// The memory the store's buffers may use while an import streams (the store's default is
/// 256 MB). What it gives up pays for the deeper [`QUEUED_CHUNKS`]: beside eight queued
/// chunks, 192, 208 and 224 MB were equally fast within the noise, and peaked 421-437,
/// 423-449 and 443-477 MiB. Beside sixteen, 192 MB peaked at 437-485 MiB in fifteen runs;
/// 176 MB was as fast in three rounds alternating with it and peaked 20-25 MiB lower
/// (425-446 MiB), 160 MB lower again (412-421 MiB) but 0.4 s slower in one of three
/// (BENCHMARKS.md, "Bodies at their length").
pub const STREAM_MEMORY_BYTES: u64 = 176 * 1024 * 1024;

/// Events per transaction of an import: whole row groups of the DuckDB store, so that most of
/// the data can be written straight into the database file rather than logged first and
/// written again at the next checkpoint (our reading of the measured gain: a million events
/// 29% faster than a transaction per chunk; smaller transactions of 16,384 or 65,536 events
/// gained nothing). 245,760 events: two row groups of DuckDB's default size when that was
/// measured, eight of the store's now. An import that fails loses at most this many events'
/// progress (importing the file again stores only what is missing).
pub const COMMIT_EVENTS: usize = 8 * ltiscope_store::ROW_GROUP_ROWS;

/// The write-ahead log size at which the store checkpoints during an import. Each checkpoint
/// rewrites the partly filled row group the import is appending to; with DuckDB's 16 MiB
/// default that happens every few thousand events and made a million-event import twice as
/// slow. A bulk import checkpoints rarely (and once more when it closes).
pub const CHECKPOINT_BYTES: u64 = 1024 * 1024 * 1024;

/// The memory the store's buffers may use during an import's closing rollup refresh (the
/// streaming keeps [`STREAM_MEMORY_BYTES`]). The refresh reads each run of days' launch
/// records once, so DuckDB's cache of them buys nothing; bounded lower, the two lanes of the refresh fit in
/// what the import had already used: at a million launches its peak was 485-489 MiB with the
/// lanes at 256 MB, 429-445 MiB at 128 MB (427-441 MiB with one lane at 256 MB), and a full
/// rebuild was no slower (BENCHMARKS.md, "The closing refresh in two lanes").
pub const REFRESH_MEMORY_BYTES: u64 = 128 * 1024 * 1024;

/// Import failures: only IO and storage. Bad events are quarantined, never errors.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file or folder could not be read. (The message says the IO error, so it is not also
    /// the `source()`: printed with its causes, it would say it twice.)
    #[error("cannot read {path}: {cause}")]
    Read {
        /// The path.
        path: String,
        /// The IO error.
        cause: std::io::Error,
    },
    /// A single-document file larger than [`MAX_DOCUMENT_BYTES`].
    #[error(
        "{path} is one JSON document of more than {MAX_DOCUMENT_BYTES} bytes: split it into JSON Lines (one event or envelope per line) and import that"
    )]
    DocumentTooLarge {
        /// The path.
        path: String,
    },
    /// The store refused a batch.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The system would not start one of the import's threads.
    #[error(
        "cannot start the import's {thread} thread: {cause}; the system is short of threads or memory: try again, with fewer --workers"
    )]
    Thread {
        /// Which thread.
        thread: &'static str,
        /// The system's error.
        cause: std::io::Error,
    },
}

/// Starts one of the import's threads under its name (the writer is the calling thread), so
/// that `top -H`, `perf` and `bench/threads.py` tell them apart.
fn spawn<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    thread: &'static str,
    work: impl FnOnce() -> T + Send + 'scope,
) -> Result<std::thread::ScopedJoinHandle<'scope, T>, ImportError> {
    std::thread::Builder::new()
        .name(thread.to_owned())
        .spawn_scoped(scope, work)
        .map_err(|cause| ImportError::Thread { thread, cause })
}

/// Import options.
#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    /// Force the source instead of detecting it.
    pub source: Option<Source>,
    /// Parse/redact worker threads.
    pub workers: usize,
}

/// Progress, reported after each committed chunk.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Bytes read so far (of uncompressed input).
    pub bytes: u64,
    /// Bytes of the files read from disk so far, as they are stored (compressed where they
    /// are; a little ahead of what is parsed): what [`input_size`] totals.
    pub file_bytes: u64,
    /// Records (lines or documents) processed.
    pub records: u64,
    /// What storing did so far.
    pub outcome: WriteOutcome,
}

/// The end-of-import summary.
#[derive(Debug, Clone, Default)]
pub struct ImportSummary {
    /// Files imported.
    pub files: u64,
    /// Totals.
    pub progress: Progress,
    /// Quarantined items by reason code.
    pub quarantined_by_reason: BTreeMap<String, u64>,
}

/// The files under `paths`: files as given, folders walked for importable extensions, sorted.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ImportError> {
    fn importable(p: &Path) -> bool {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let name = name.strip_suffix(".gz").unwrap_or(name);
        [".json", ".jsonl", ".ndjson"]
            .iter()
            .any(|e| name.ends_with(e))
    }
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ImportError> {
        let read = |cause| ImportError::Read {
            path: dir.display().to_string(),
            cause,
        };
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(read)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(read)?;
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out)?;
            } else if importable(&p) {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else {
            std::fs::metadata(p).map_err(|cause| ImportError::Read {
                path: p.display().to_string(),
                cause,
            })?;
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// The bytes an import of `files` reads from disk (compressed where they are), for showing
/// how far it has come; a file it cannot size counts 0.
pub fn input_size(files: &[PathBuf]) -> u64 {
    files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum()
}

/// A reader that counts the bytes it hands on (those of the file, before decompression).
struct Counted<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

fn open(path: &Path, read: Arc<AtomicU64>) -> Result<Box<dyn BufRead + Send>, ImportError> {
    let file = File::open(path).map_err(|cause| ImportError::Read {
        path: path.display().to_string(),
        cause,
    })?;
    let mut reader = BufReader::with_capacity(1 << 20, Counted { inner: file, read });
    let gz = reader
        .fill_buf()
        .map(ltiscope_ingest::is_gzip)
        .map_err(|cause| ImportError::Read {
            path: path.display().to_string(),
            cause,
        })?;
    Ok(if gz {
        Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::bufread::MultiGzDecoder::new(reader),
        ))
    } else {
        Box::new(reader)
    })
}

/// Imports files into the store, calling `progress` after every commit.
pub fn import_files(
    store: &mut Store,
    pipeline: &Pipeline,
    files: &[PathBuf],
    opts: ImportOptions,
    now: &dyn Fn() -> Timestamp,
    progress: &mut dyn FnMut(&Progress),
) -> Result<ImportSummary, ImportError> {
    let mut summary = ImportSummary::default();
    for path in files {
        let before = summary.progress.file_bytes;
        let read = Arc::new(AtomicU64::new(0));
        let file_read = Arc::clone(&read);
        let mut on_progress = |p: &Progress| {
            progress(&Progress {
                file_bytes: before + file_read.load(Ordering::Relaxed),
                ..*p
            })
        };
        let done = import_file(
            store,
            pipeline,
            (path, read.clone()),
            opts,
            now,
            &mut summary,
            &mut on_progress,
        );
        summary.progress.file_bytes = before + read.load(Ordering::Relaxed);
        done?;
        summary.files += 1;
    }
    Ok(summary)
}

fn record(summary: &mut ImportSummary, batch: &WriteBatch, outcome: WriteOutcome) {
    for r in &batch.rejected {
        *summary
            .quarantined_by_reason
            .entry(r.get().reason.code().to_owned())
            .or_default() += 1;
    }
    summary.progress.outcome += outcome;
}

fn import_file(
    store: &mut Store,
    pipeline: &Pipeline,
    (path, read): (&Path, Arc<AtomicU64>),
    opts: ImportOptions,
    now: &dyn Fn() -> Timestamp,
    summary: &mut ImportSummary,
    progress: &mut dyn FnMut(&Progress),
) -> Result<(), ImportError> {
    let shown = path.display().to_string();
    // Quarantined items are keyed by their origin, so the origin is the file, not the way it
    // was named: `data/a.jsonl`, `./data/a.jsonl`, its absolute path or a symlink to it are one
    // origin, and importing it again under another name stores none of its broken lines twice.
    // Messages keep the path as the user gave it.
    let origin = std::fs::canonicalize(path)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| shown.clone());
    let read_err = |cause| ImportError::Read {
        path: shown.clone(),
        cause,
    };
    let mut reader = open(path, read)?;
    // The first lines, up to as many non-empty ones as the format is told by, kept as the
    // start of what is read.
    let mut first = Vec::new();
    let (mut first_lines, mut non_empty) = (0, 0);
    while non_empty < ltiscope_ingest::DETECT_LINES {
        let before = first.len();
        if reader.read_until(b'\n', &mut first).map_err(read_err)? == 0 {
            break;
        }
        first_lines += 1;
        if !first[before..].trim_ascii().is_empty() {
            non_empty += 1;
        }
    }
    if non_empty == 0 {
        return Ok(()); // empty file
    }
    // JSON Lines as the collector decides it (a one-line array is a document, read whole).
    let is_lines = first.trim_ascii_start().first() != Some(&b'[')
        && ltiscope_ingest::looks_like_json_lines(&first);
    if !is_lines {
        let mut body = first;
        #[allow(clippy::disallowed_methods)] // bounded by take() and checked below
        reader
            .take(MAX_DOCUMENT_BYTES + 1)
            .read_to_end(&mut body)
            .map_err(read_err)?;
        if body.len() as u64 > MAX_DOCUMENT_BYTES {
            return Err(ImportError::DocumentTooLarge { path: shown });
        }
        let batch = pipeline.prepare(&body, opts.source, now(), &origin);
        let outcome = store.write(&batch)?;
        summary.progress.bytes += body.len() as u64;
        summary.progress.records += 1;
        record(summary, &batch, outcome);
        progress(&summary.progress);
        return Ok(());
    }
    stream_lines(
        store,
        pipeline,
        reader,
        (first, first_lines),
        (&origin, &shown),
        opts,
        now,
        summary,
        progress,
    )
}

/// A chunk of whole lines and the number of its first line.
struct Chunk {
    first_line: usize,
    bytes: Vec<u8>,
    lines: usize,
}

/// A parsed chunk on its way to the writer: its batch, and the lines and bytes it came from
/// (for progress). Once written, it goes back to the worker that parsed it to be freed there
/// (see [`Parsed::drop`]).
struct Parsed {
    lines: usize,
    bytes: u64,
    batch: WriteBatch,
    /// The worker that parsed it, which frees its written batches.
    back: mpsc::Sender<WriteBatch>,
}

impl Drop for Parsed {
    /// Hands the written batch back to its worker instead of freeing it here, on the writer.
    /// Freeing a chunk's thousand events (their records' strings and kept originals) was 5.4%
    /// of the writer's samples while an import streamed; the writer is the import's critical
    /// path, and the workers wait for it part of the time. Freed by their worker, they cost
    /// the workers no measurable CPU (BENCHMARKS.md, "Freed where they were made").
    /// A worker that has stopped leaves it to be freed here.
    fn drop(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        let _ = self.back.send(batch);
    }
}

impl AsRef<WriteBatch> for Parsed {
    fn as_ref(&self) -> &WriteBatch {
        &self.batch
    }
}

/// The reader's side of a stream: cuts what follows the `first` lines already read into
/// chunks of [`CHUNK_LINES`] whole lines and sends them, until the input ends or the workers
/// stop taking them.
fn read_chunks(
    mut reader: Box<dyn BufRead + Send>,
    (first, first_lines): (Vec<u8>, usize),
    chunks: &mpsc::SyncSender<Chunk>,
) -> Result<(), std::io::Error> {
    let mut line_no = 1;
    let mut buf = first;
    let mut lines = first_lines;
    loop {
        while lines < CHUNK_LINES {
            let before = buf.len();
            if reader.read_until(b'\n', &mut buf)? == 0 {
                break;
            }
            if buf.len() > before {
                lines += 1;
            }
        }
        if buf.is_empty() {
            return Ok(());
        }
        // The next chunk's buffer starts at this one's size (and a little more), not
        // empty: grown by doubling, it was copied and given fresh pages again and again
        // (a third of this thread's samples; half is the kernel's read).
        let next = Vec::with_capacity(buf.len() + buf.len() / 8);
        let chunk = Chunk {
            first_line: line_no,
            bytes: std::mem::replace(&mut buf, next),
            lines,
        };
        let done = lines < CHUNK_LINES;
        line_no += lines;
        lines = 0;
        if chunks.send(chunk).is_err() || done {
            return Ok(());
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn stream_lines(
    store: &mut Store,
    pipeline: &Pipeline,
    reader: Box<dyn BufRead + Send>,
    (first, first_lines): (Vec<u8>, usize),
    (origin, shown): (&str, &str),
    opts: ImportOptions,
    now: &dyn Fn() -> Timestamp,
    summary: &mut ImportSummary,
    progress: &mut dyn FnMut(&Progress),
) -> Result<(), ImportError> {
    let workers = opts.workers.max(1);
    // Bounded queues: at most a few chunks in flight, so memory does not grow with the file.
    let (chunk_tx, chunk_rx) = mpsc::sync_channel::<Chunk>(workers);
    // Shared by the workers only: when the last worker stops, the reader's sends fail and it stops.
    let chunk_rx = std::sync::Arc::new(std::sync::Mutex::new(chunk_rx));
    let (batch_tx, batch_rx) = mpsc::sync_channel::<Parsed>(QUEUED_CHUNKS);
    let received_at = now();
    std::thread::scope(|scope| -> Result<(), ImportError> {
        let reader_handle = spawn(scope, "import-reader", move || {
            read_chunks(reader, (first, first_lines), &chunk_tx)
        })?;
        for worker in 0..workers {
            let batch_tx = batch_tx.clone();
            let chunk_rx = std::sync::Arc::clone(&chunk_rx);
            spawn(scope, "import-worker", move || {
                crate::priority::take_place(worker, workers);
                let (back, written) = mpsc::channel::<WriteBatch>();
                loop {
                    // This worker's chunks that the writer has written are freed here,
                    // before the next is parsed: no more than this worker had queued.
                    written.try_iter().for_each(drop);
                    let next = chunk_rx.lock().ok().and_then(|rx| rx.recv().ok());
                    let Some(chunk) = next else { return };
                    let batch = pipeline.prepare_lines(
                        &chunk.bytes,
                        chunk.first_line,
                        opts.source,
                        received_at,
                        origin,
                    );
                    let parsed = Parsed {
                        lines: chunk.lines,
                        bytes: chunk.bytes.len() as u64,
                        batch,
                        back: back.clone(),
                    };
                    if batch_tx.send(parsed).is_err() {
                        return;
                    }
                }
            })?;
        }
        drop(batch_tx);
        drop(chunk_rx);
        // This thread is the single writer, in arrival order, in transactions of many chunks.
        let failure = store
            .write_stream(batch_rx.iter(), COMMIT_EVENTS, |p: &Parsed, outcome| {
                summary.progress.bytes += p.bytes;
                summary.progress.records += p.lines as u64;
                record(summary, &p.batch, outcome);
                progress(&summary.progress);
            })
            .err();
        // Dropping the receiver stops the workers, which stops the reader.
        drop(batch_rx);
        if let Some(e) = failure {
            return Err(e.into());
        }
        reader_handle
            .join()
            .map_err(|_| ImportError::Read {
                path: shown.to_owned(),
                cause: std::io::Error::other("reader thread panicked"),
            })?
            .map_err(|cause| ImportError::Read {
                path: shown.to_owned(),
                cause,
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(origin: &str, back: &mpsc::Sender<WriteBatch>) -> Parsed {
        Parsed {
            lines: 1,
            bytes: 1,
            batch: WriteBatch {
                origin: origin.to_owned(),
                ..WriteBatch::default()
            },
            back: back.clone(),
        }
    }

    /// A written chunk's batch goes back to the worker that parsed it, whole; once that
    /// worker has stopped, dropping a chunk frees it where it is, without an error.
    #[test]
    fn a_written_chunk_goes_back_to_its_worker() {
        let (back, written) = mpsc::channel();
        drop(parsed("first", &back));
        drop(parsed("second", &back));
        let returned: Vec<String> = written.try_iter().map(|b| b.origin).collect();
        assert_eq!(returned, ["first", "second"]);
        drop(written);
        drop(parsed("after the worker stopped", &back));
    }
}
