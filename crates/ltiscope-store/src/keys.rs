//! The idempotency keys: of a stored event, and of a quarantined item.

use ltiscope_model::{EventMeta, Source};

/// The 128-bit key of an event: a hash of (source, tenant, event id). Two deliveries of the
/// same event get the same key; 128 bits make an accidental collision between different events
/// vanishingly unlikely (about 1 in 10^20 at a billion events).
pub fn event_key(meta: &EventMeta) -> i128 {
    key_of(meta.source, &meta.tenant, &meta.event_id)
}

/// [`event_key`] of the identity a stored row gives.
pub(crate) fn key_of(source: Source, tenant: &str, event_id: &str) -> i128 {
    let parts = [
        source.as_str().as_bytes(),
        b"\0",
        tenant.as_bytes(),
        b"\0",
        event_id.as_bytes(),
    ];
    xxh3_128(&parts) as i128
}

/// A set of event keys. The keys are hashes already, so the set hashes them with the
/// crate's fast hasher rather than SipHash: a write looks each of its keys up in such sets a
/// few times.
pub(crate) type KeySet = std::collections::HashSet<i128, crate::Fast>;

/// The 64-bit xxh3 hash of `parts` back to back (see [`joined`]).
pub(crate) fn xxh3_64(parts: &[&[u8]]) -> u64 {
    joined(parts, xxhash_rust::xxh3::xxh3_64)
}

/// The 128-bit xxh3 hash of `parts` back to back (see [`joined`]).
pub(crate) fn xxh3_128(parts: &[&[u8]]) -> u128 {
    joined(parts, xxhash_rust::xxh3::xxh3_128)
}

/// `hash` of `parts` back to back, joined on the stack when they fit in [`ON_STACK`] bytes (the
/// identifiers a key or a row's hash is made of nearly always do), so that a hash allocates
/// nothing. xxh3's streaming state, fed part by part, allocated nothing either, but each one
/// started by copying its secret and each part went through its buffer: 1.5% of an import's
/// samples, on the writer, which takes a few hashes per event (BENCHMARKS.md, "Bodies at
/// their length").
fn joined<T>(parts: &[&[u8]], hash: impl FnOnce(&[u8]) -> T) -> T {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if len > ON_STACK {
        return hash(&parts.concat());
    }
    let mut buffer = [0u8; ON_STACK];
    let mut at = 0;
    for part in parts {
        buffer[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    hash(&buffer[..len])
}

/// The most bytes [`joined`] joins on the stack.
const ON_STACK: usize = 256;

/// The key of a quarantined item: the hex SHA-256 of its origin, its index there and its
/// (scrubbed) body, joined by the unit separator U+001F. The same item quarantined again (a
/// file imported twice, a request a sender retries after its 400) gets the same key and is
/// stored once. Items stored before got theirs from DuckDB migration 11 and PostgreSQL
/// migration 9, which compute the same digest in SQL; keep the three alike (a store test
/// compares them on both backends).
pub(crate) fn quarantine_key(origin: &str, index: i64, body: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(origin.as_bytes());
    h.update([0x1f]);
    h.update(index.to_string().as_bytes());
    h.update([0x1f]);
    h.update(body.as_bytes());
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash of parts is that of the parts back to back, joined on the stack or not, so
    /// keys and hashes stay those stored before (which fed xxh3's streaming state part by
    /// part, and before that joined them in a vector).
    #[test]
    fn hashes_of_parts_are_those_of_the_parts_back_to_back() {
        // 14 bytes besides `long`: 255, 256 and 257 bytes in all around `ON_STACK`.
        for len in [0, 1, 100, 241, 242, 243, 5_000] {
            let long = "x".repeat(len);
            let parts = [
                b"blackboard".as_slice(),
                b"\0",
                long.as_bytes(),
                b"\0",
                b"id",
            ];
            let together = parts.concat();
            let mut streamed = xxhash_rust::xxh3::Xxh3Default::new();
            parts.iter().for_each(|p| streamed.update(p));
            assert_eq!(
                xxh3_128(&parts),
                xxhash_rust::xxh3::xxh3_128(&together),
                "{len}"
            );
            assert_eq!(xxh3_128(&parts), streamed.digest128(), "{len}");
            assert_eq!(
                xxh3_64(&parts),
                xxhash_rust::xxh3::xxh3_64(&together),
                "{len}"
            );
            assert_eq!(xxh3_64(&parts), streamed.digest(), "{len}");
        }
        assert_eq!(
            key_of(Source::BlackboardCaliper, "t", "e"),
            xxhash_rust::xxh3::xxh3_128(b"blackboard-caliper\0t\0e") as i128
        );
    }
}
