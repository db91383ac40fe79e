//! The kept originals of a batch, packed: the scrubbed original of each event of a batch, in
//! the batch's order, length-prefixed and compressed together as one zstd frame.
//!
//! The DuckDB store keeps them so (`event_bodies`, one row per packed batch; an `events` row
//! names its block and its place in it) instead of one compressed string per event: DuckDB
//! compressing a million ~2 KB documents on the import's single writer thread was the largest
//! part of what the writer did beyond DuckDB's own floor, and a batch's originals, cut from a
//! few templates, compress far better together (BENCHMARKS.md, "Originals packed per batch").
//! An import packs on its parse workers ([`WriteBatch::pack_bodies`]), so the writer only
//! appends one blob per batch. Nothing reads one original at a time: replay, the audits and
//! retention read or rewrite whole blocks.

use crate::{StoreError, WriteBatch, event_key};
use ltiscope_redact::{Redacted, StoredEvent};

/// zstd's level for the blocks: its default, the best ratio per CPU second on our originals.
const LEVEL: i32 = 3;

/// The packed originals of one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedBodies {
    /// The block's key: a hash of the keys of the events packed, in order, so the same
    /// events packed again give the same block (stored once).
    pub(crate) block: i128,
    /// The zstd frame.
    pub(crate) bytes: Vec<u8>,
}

/// Packs the originals of `events`, in order: line `i` of the block is the original of
/// `events[i]`.
pub(crate) fn pack(events: &[Redacted<StoredEvent>]) -> PackedBodies {
    pack_lines(
        events
            .iter()
            .map(|e| (event_key(e.get().meta()), e.get().body.as_str())),
        events.iter().map(|e| e.get().body.len() + 4).sum(),
    )
}

/// Packs (event key, original) pairs, in order; `size` is the size of the lines, for the
/// buffer.
pub(crate) fn pack_lines<'a>(
    lines: impl Iterator<Item = (i128, &'a str)>,
    size: usize,
) -> PackedBodies {
    let mut keys = Vec::new();
    let mut raw = Vec::with_capacity(size);
    for (key, body) in lines {
        keys.extend_from_slice(&key.to_le_bytes());
        frame(&mut raw, body.as_bytes());
    }
    PackedBodies {
        block: xxhash_rust::xxh3::xxh3_128(&keys) as i128,
        bytes: compress(&raw),
    }
}

/// Appends one length-prefixed line.
fn frame(raw: &mut Vec<u8>, line: &[u8]) {
    raw.extend_from_slice(&(line.len() as u32).to_le_bytes());
    raw.extend_from_slice(line);
}

fn compress(raw: &[u8]) -> Vec<u8> {
    // Compressing memory into memory fails only on allocation failure.
    zstd::bulk::compress(raw, LEVEL).expect("zstd compresses into memory")
}

/// The lines of a block, in order (an emptied line, see [`keep_only`], is empty).
pub(crate) fn unpack(bytes: &[u8]) -> Result<Vec<String>, StoreError> {
    let corrupt = |why: &str| StoreError::Corrupt(format!("a block of kept originals {why}"));
    let raw =
        zstd::stream::decode_all(bytes).map_err(|e| corrupt(&format!("is unreadable: {e}")))?;
    let mut lines = Vec::new();
    let mut rest = raw.as_slice();
    while !rest.is_empty() {
        let (len, tail) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| corrupt("ends inside a length"))?;
        let len = u32::from_le_bytes(*len) as usize;
        if tail.len() < len {
            return Err(corrupt("ends inside a line"));
        }
        let (line, tail) = tail.split_at(len);
        lines.push(String::from_utf8(line.to_vec()).map_err(|_| corrupt("holds invalid UTF-8"))?);
        rest = tail;
    }
    Ok(lines)
}

/// The block again with every line not in `keep` emptied (the places of the others
/// unchanged): what retention leaves of a block some of whose events it removed.
pub(crate) fn keep_only(
    bytes: &[u8],
    keep: &std::collections::HashSet<usize>,
) -> Result<Vec<u8>, StoreError> {
    let lines = unpack(bytes)?;
    let mut raw = Vec::with_capacity(bytes.len() * 8);
    for (i, line) in lines.iter().enumerate() {
        frame(
            &mut raw,
            if keep.contains(&i) {
                line.as_bytes()
            } else {
                b""
            },
        );
    }
    Ok(compress(&raw))
}

impl WriteBatch {
    /// Packs the batch's kept originals now (see the module docs): the parse workers of an
    /// import call this so that the writer does not. A store that keeps originals one by one
    /// ignores it; a batch not packed is packed by the store that needs it.
    pub fn pack_bodies(&mut self) {
        self.packed = Some(pack(&self.events));
    }

    /// The packed originals: packed before, else now.
    pub(crate) fn packed(&self) -> std::borrow::Cow<'_, PackedBodies> {
        match &self.packed {
            Some(p) => std::borrow::Cow::Borrowed(p),
            None => std::borrow::Cow::Owned(pack(&self.events)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(lines: &[&str]) -> Vec<u8> {
        let mut raw = Vec::new();
        for l in lines {
            frame(&mut raw, l.as_bytes());
        }
        compress(&raw)
    }

    #[test]
    fn lines_come_back_in_order_and_emptied_ones_keep_their_places() {
        let block = raw(&["{\"a\":1}", "", "{\"b\":\"x\\ny\"}", "{\"c\":3}"]);
        assert_eq!(
            unpack(&block).expect("unpack"),
            ["{\"a\":1}", "", "{\"b\":\"x\\ny\"}", "{\"c\":3}"]
        );
        let kept = keep_only(&block, &[0, 3].into_iter().collect()).expect("keep");
        assert_eq!(
            unpack(&kept).expect("unpack"),
            ["{\"a\":1}", "", "", "{\"c\":3}"]
        );
    }

    #[test]
    fn a_damaged_block_is_an_error_not_a_panic() {
        let block = raw(&["{\"a\":1}", "{\"b\":2}"]);
        for cut in 0..block.len() {
            let _ = unpack(&block[..cut]);
        }
        let mut frame_cut = Vec::new();
        frame(&mut frame_cut, b"{\"a\":1}");
        frame_cut.truncate(frame_cut.len() - 1);
        assert!(matches!(
            unpack(&compress(&frame_cut)),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            unpack(&compress(&[1, 0])),
            Err(StoreError::Corrupt(_))
        ));
        assert!(unpack(b"not zstd").is_err());
    }
}
