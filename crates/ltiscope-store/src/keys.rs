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
    let mut buf = Vec::with_capacity(tenant.len() + event_id.len() + 24);
    buf.extend_from_slice(source.as_str().as_bytes());
    buf.push(0);
    buf.extend_from_slice(tenant.as_bytes());
    buf.push(0);
    buf.extend_from_slice(event_id.as_bytes());
    xxhash_rust::xxh3::xxh3_128(&buf) as i128
}

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
