//! The keys a bulk load into an empty store has written, as a Bloom filter: which events of a
//! chunk are certainly new without asking the database.
//!
//! A stream that began on a store without any event is the only writer of its keys (DuckDB
//! has one process per file, and an import is that process's only writer). A key the filter
//! has never seen is then certainly new, and is appended to `event_keys` (in key order, when
//! its transaction ends or before the database is asked about another key); only the
//! keys the filter may have seen (repeats, and the rare false positive) are decided by the
//! primary key of `event_keys`, as every other write is. The primary key still guards every
//! appended key: were the filter ever wrong, the append would fail loudly (and the stream with
//! it), never store an event twice.
//!
//! Why: the database's decision (`INSERT OR IGNORE ... RETURNING` through a staging table)
//! was 8% of a million-event import's samples, a seventh of its single writer thread
//! (docs/benchmarks-history.md, "Keys of a fresh import").

/// Bits of the filter: 16 MiB, whatever the stream's size.
const BITS: usize = 1 << 27;

/// Bits set per key.
const PROBES: u64 = 5;

/// Keys after which the filter is given up: by the Bloom formula (1 - e^(-5n/2^27))^5 its
/// false positives would then pass ~4% of the keys on to the database (~7e-8 at a million);
/// beyond that the database decides every key, as for any other write.
const MAX_KEYS: u64 = 20_000_000;

/// A Bloom filter of 128-bit event keys (themselves hashes, so their bits index it directly).
pub(crate) struct StreamKeys {
    words: Vec<u64>,
    /// Keys inserted.
    pub(crate) len: u64,
}

impl StreamKeys {
    /// An empty filter.
    pub(crate) fn new() -> Self {
        StreamKeys {
            words: vec![0; BITS / 64],
            len: 0,
        }
    }

    /// The bit positions of a key: double hashing over its two 64-bit halves.
    fn positions(key: i128) -> impl Iterator<Item = usize> {
        let (lo, hi) = (key as u64, ((key as u128) >> 64) as u64 | 1);
        (0..PROBES).map(move |i| (lo.wrapping_add(i.wrapping_mul(hi)) as usize) & (BITS - 1))
    }

    /// Whether the key may have been inserted (`false`: it certainly was not).
    pub(crate) fn may_contain(&self, key: i128) -> bool {
        Self::positions(key).all(|p| self.words[p / 64] & (1 << (p % 64)) != 0)
    }

    /// Records a key.
    pub(crate) fn insert(&mut self, key: i128) {
        for p in Self::positions(key) {
            self.words[p / 64] |= 1 << (p % 64);
        }
        self.len += 1;
    }

    /// Whether the filter still decides well enough to be worth asking.
    pub(crate) fn useful(&self) -> bool {
        self.len < MAX_KEYS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys as the store makes them: 128-bit hashes.
    fn key(i: u64) -> i128 {
        xxhash_rust::xxh3::xxh3_128(&i.to_le_bytes()) as i128
    }

    #[test]
    fn every_inserted_key_is_found() {
        let mut f = StreamKeys::new();
        for i in 0..200_000 {
            f.insert(key(i));
        }
        assert!((0..200_000).all(|i| f.may_contain(key(i))));
        assert_eq!(f.len, 200_000);
    }

    #[test]
    fn keys_never_inserted_are_almost_always_known_new() {
        let mut f = StreamKeys::new();
        for i in 0..1_000_000 {
            f.insert(key(i));
        }
        // At a million keys the expected false-positive rate is ~7e-8.
        let false_positives = (1_000_000..1_200_000)
            .filter(|i| f.may_contain(key(*i)))
            .count();
        assert!(false_positives <= 2, "{false_positives} false positives");
    }

    #[test]
    fn an_empty_filter_contains_nothing() {
        let f = StreamKeys::new();
        assert!((0..1000).all(|i| !f.may_contain(key(i))));
        assert!(f.useful());
    }
}
