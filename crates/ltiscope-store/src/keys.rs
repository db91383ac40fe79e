//! The idempotency key.

use ltiscope_model::EventMeta;

/// The 128-bit key of an event: a hash of (source, tenant, event id). Two deliveries of the
/// same event get the same key; 128 bits make an accidental collision between different events
/// vanishingly unlikely (about 1 in 10^20 at a billion events).
pub fn event_key(meta: &EventMeta) -> i128 {
    let mut buf = Vec::with_capacity(meta.tenant.len() + meta.event_id.len() + 24);
    buf.extend_from_slice(meta.source.as_str().as_bytes());
    buf.push(0);
    buf.extend_from_slice(meta.tenant.as_bytes());
    buf.push(0);
    buf.extend_from_slice(meta.event_id.as_bytes());
    xxhash_rust::xxh3::xxh3_128(&buf) as i128
}
