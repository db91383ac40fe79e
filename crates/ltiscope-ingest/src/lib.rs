//! Bytes in, canonical records out: the parsing and normalising half of the write path.
//!
//! Everything here is a pure function of its input and a [`Context`] (the clock is passed in):
//! no IO, no logging, no storage. A body may hold a Caliper envelope, a single Caliper event or
//! entity, an xAPI statement, a JSON array of any of these, or JSON Lines; the format is
//! detected per record. Each item goes to a [`Sink`] as an accepted [`ParsedEvent`] or a
//! [`Rejection`], in input order, so one bad event never sinks its batch; a [`Batch`] collects
//! them. Redaction happens next, in `ltiscope-redact` (the write path's sink redacts each event
//! as it arrives); nothing here is safe to store or log yet.
//!
//! [`generate`] emits synthetic streams in the same wire formats, so they exercise these parsers.

mod brightspace;
mod caliper;
mod fields;
pub mod generate;
mod json;
mod lti;
mod outcome;
pub mod roles;
mod time;
pub mod tools;

use std::io::Read;

pub use fields::{is_content_id, looks_like_iri, normalise_event_id};
pub use outcome::{Batch, EventKind, ParsedEvent, Reason, RejectedBody, Rejection, Sink};
pub use time::parse_timestamp;
pub use tools::{ToolResolver, ToolRule};

pub use json::{Json, Map};

use ltiscope_model::{Source, Timestamp};

/// What parsing needs from the outside world.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The receive time stamped on every event.
    pub received_at: Timestamp,
    /// Forces the source instead of detecting it per event (`--source`).
    pub source: Option<Source>,
    /// Tool identity rules and catalogue.
    pub tools: &'a ToolResolver,
}

/// Parses one JSON value: an envelope, an array, a single event or entity, or a statement.
/// `index` is the position reported in rejections for this value.
pub fn parse_value(v: Json, ctx: &Context<'_>, out: &mut dyn Sink, index: usize) {
    match v {
        Json::Array(items) => {
            for (i, item) in items.into_iter().enumerate() {
                parse_object(item, ctx, out, i);
            }
        }
        other => parse_object(other, ctx, out, index),
    }
}

fn parse_object(v: Json, ctx: &Context<'_>, out: &mut dyn Sink, index: usize) {
    let what = match &v {
        Json::Object(_) => None,
        Json::Array(_) => Some("a nested array"),
        Json::String(_) => Some("a string"),
        Json::Number(_) => Some("a number"),
        Json::Bool(_) => Some("a boolean"),
        Json::Null => Some("null"),
    };
    if let Some(what) = what {
        out.reject(Rejection {
            index,
            reason: Reason::NotAnObject(what),
            body: RejectedBody::Json(v),
        });
        return;
    }
    // What the object is, told once: checked against the source given for the input, then
    // parsed as it.
    let shape = match Shape::of(&v)
        .ok_or(Reason::UnknownFormat)
        .and_then(|shape| shape.given(ctx.source))
    {
        Ok(shape) => shape,
        Err(reason) => {
            out.reject(Rejection {
                index,
                reason,
                body: RejectedBody::Json(v),
            });
            return;
        }
    };
    match shape {
        Shape::Envelope => caliper::parse_envelope(v, ctx, out, index),
        Shape::Statement => match brightspace::parse_statement(&v, ctx) {
            Ok(kind) => out.accept(ParsedEvent { kind, original: v }),
            Err(reason) => out.reject(Rejection {
                index,
                reason,
                body: RejectedBody::Json(v),
            }),
        },
        Shape::CaliperItem => caliper::push_item(v, caliper::Envelope::default(), ctx, out, index),
    }
}

/// What a JSON object is, in the order these are told apart (an envelope first; an object
/// with an xAPI `verb` before a Caliper event or entity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Envelope,
    Statement,
    CaliperItem,
}

impl Shape {
    /// The object's shape; `None` when it is neither Caliper nor xAPI.
    fn of(v: &Json) -> Option<Shape> {
        if caliper::is_envelope(v) {
            Some(Shape::Envelope)
        } else if brightspace::is_statement(v) {
            Some(Shape::Statement)
        } else if caliper::is_caliper(v) {
            Some(Shape::CaliperItem)
        } else {
            None
        }
    }

    /// The shape, when the source given for its input (if any) may send it: a given source
    /// only names the sender of what has its format (Caliper for Blackboard and Caliper
    /// sensors, xAPI for Brightspace and other xAPI senders).
    fn given(self, source: Option<Source>) -> Result<Shape, Reason> {
        let Some(given) = source else {
            return Ok(self);
        };
        let caliper_source = matches!(given, Source::BlackboardCaliper | Source::Caliper);
        if caliper_source == (self != Shape::Statement) {
            return Ok(self);
        }
        Err(Reason::SourceMismatch {
            found: match self {
                Shape::Envelope => "a Caliper envelope",
                Shape::Statement => "an xAPI statement",
                Shape::CaliperItem => "a Caliper event or entity",
            },
            source: given.as_str(),
            sends: if caliper_source {
                "Caliper only"
            } else {
                "xAPI statements only"
            },
        })
    }
}

/// Parses one line of JSON Lines (`line` is 1-based, reported in rejections).
pub fn parse_line(bytes: &[u8], ctx: &Context<'_>, out: &mut dyn Sink, line: usize) {
    match json_value(bytes) {
        Ok(v) => parse_value(v, ctx, out, line),
        Err(e) => out.reject(not_json(bytes, &e, line)),
    }
}

/// The lines of `bytes`: the pieces between `\n`s, as `<[u8]>::split` at `\n` gives them (the
/// piece after the last `\n` too, empty or not). Each `\n` is found by `memchr`, many bytes at
/// a time: splitting a byte at a time through a closure was 5% of an import's instructions
/// (BENCHMARKS.md, "Lines split by memchr").
pub fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(bytes);
    std::iter::from_fn(move || {
        let r = rest?;
        match memchr::memchr(b'\n', r) {
            Some(i) => {
                rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// `bytes` parsed as one JSON value: how every body and line is parsed (the collector's
/// single-document endpoints call it too). Their UTF-8 is checked once, whole, and they are
/// parsed as text: the same value and the same errors as parsing them as bytes, which checks
/// each string's UTF-8 on its own as it meets it, a sixth of the parse's instructions
/// (BENCHMARKS.md, "UTF-8 checked once per line"). Bytes that are not UTF-8 are parsed as
/// bytes, for the parser's own message.
pub fn json_value(bytes: &[u8]) -> Result<Json, serde_json::Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

fn not_json(bytes: &[u8], e: &serde_json::Error, index: usize) -> Rejection {
    Rejection {
        index,
        reason: Reason::NotJson(e.to_string()),
        body: RejectedBody::Text(String::from_utf8_lossy(bytes).into_owned()),
    }
}

/// Parses a whole body: one JSON document (object or array), several concatenated documents,
/// or JSON Lines. A body that is none of these is rejected whole with the parser's message.
pub fn parse_document(bytes: &[u8], ctx: &Context<'_>) -> Batch {
    let mut out = Batch::default();
    parse_document_into(bytes, ctx, &mut out);
    out
}

/// Non-empty lines [`looks_like_json_lines`] looks at.
pub const DETECT_LINES: usize = 16;

/// Whether a body that is not one JSON document, beginning with these bytes (at least its
/// first [`DETECT_LINES`] non-empty lines, or all of it), is JSON Lines: its first non-empty
/// line is a complete JSON value, or, when that one is broken (a truncated or corrupt first
/// event), another of the first [`DETECT_LINES`] is a complete JSON object on its own, which no
/// line of a pretty-printed document is (each opens, continues or closes one). So one bad
/// first line does not turn a file of good events into one rejection.
pub fn looks_like_json_lines(start: &[u8]) -> bool {
    let complete = |l: &[u8]| serde_json::from_slice::<serde::de::IgnoredAny>(l).is_ok();
    let mut lines = lines(start).filter(|l| !l.trim_ascii().is_empty());
    let Some(first) = lines.next() else {
        return false;
    };
    complete(first)
        || lines.take(DETECT_LINES - 1).any(|l| {
            let l = l.trim_ascii();
            l.len() > 2 && l.starts_with(b"{") && l.ends_with(b"}") && complete(l)
        })
}

/// [`parse_document`], item by item into `out`.
pub fn parse_document_into(bytes: &[u8], ctx: &Context<'_>, out: &mut dyn Sink) {
    let first_error = match json_value(bytes) {
        Ok(v) => {
            parse_value(v, ctx, out, 0);
            return;
        }
        Err(e) => e,
    };
    // JSON Lines, or a truncated pretty-printed document (one rejection, not one per line).
    if looks_like_json_lines(bytes) {
        for (n, line) in lines(bytes).enumerate() {
            if !line.trim_ascii().is_empty() {
                parse_line(line, ctx, out, n + 1);
            }
        }
        return;
    }
    // Concatenated pretty-printed documents.
    let mut docs = Vec::new();
    for item in serde_json::Deserializer::from_slice(bytes).into_iter::<Json>() {
        match item {
            Ok(v) => docs.push(v),
            Err(_) => {
                out.reject(not_json(bytes, &first_error, 0));
                return;
            }
        }
    }
    for (i, v) in docs.into_iter().enumerate() {
        parse_value(v, ctx, out, i);
    }
}

/// A JSON value as compact text: how kept bodies are written, each object's members in the
/// order sent, byte for byte what `serde_json::to_string` writes for them (serde_json's
/// `Value` was written by its `Display` once, a token at a time through `fmt::Formatter`, 1.7
/// times the instructions:
/// docs/benchmarks-history.md, "The parse side, a third cheaper").
///
/// Strings are most of a body, and nearly none needs an escape; serde_json looks each byte up
/// in its escape table on the way (its `format_escaped_str` alone was 7.7% of a parse worker's
/// samples). Here a string is first tested for the three things that need escaping (a control
/// character, `"` or `\`) sixteen bytes at a time, a test the compiler turns into vector
/// instructions, and copied whole when it has none; the rare string that has one is written by
/// serde_json.
///
/// The text is written into a buffer this thread keeps and copied out at its length: a kept
/// body waits in the writer's queue with the rest of its chunk, and a string grown by
/// doubling held 4,096 bytes for a Blackboard launch's 2,351 (BENCHMARKS.md, "Bodies at
/// their length").
pub fn json_text(v: &Json) -> String {
    in_scratch(|out| write_json(out, v, Order::Sent))
}

/// Strings as a compact JSON array, byte for byte what `serde_json::to_string` writes for
/// them, each string written as [`json_text`] writes one: how a launch record's roles as sent
/// are stored (`roles_raw`). The store's writer writes it for every launch record it appends;
/// serde_json, escaping it a byte at a time, took 2.2% of that writer's samples in `perf`, and
/// this takes 210 fewer instructions per launch record under callgrind, about 1% of the
/// writer's own (BENCHMARKS.md, "The raw roles written as the bodies are").
pub fn json_strings<S: AsRef<str>>(items: &[S]) -> String {
    let len: usize = items.iter().map(|s| s.as_ref().len() + 3).sum();
    let mut out = String::with_capacity(len + 2);
    write_array(&mut out, items, |out, s| write_json_str(out, s.as_ref()));
    out
}

/// [`json_text`] with each object's members in key order, as serde_json's own tree keeps
/// them: the same text for the same members however they were ordered when sent (what an
/// event's content id is taken of, `fields::content_id`).
pub(crate) fn json_text_sorted(v: &Json) -> String {
    in_scratch(|out| write_json(out, v, Order::Keys))
}

/// What `write` writes, copied out of this thread's scratch buffer into a string of its
/// length. A buffer grown past [`SCRATCH_KEPT`] by a large document is not kept.
fn in_scratch(write: impl FnOnce(&mut String)) -> String {
    thread_local! {
        static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    SCRATCH.with(|scratch| {
        // Taken out, not borrowed, so that a write that needed another text (none does now)
        // would only find an empty buffer.
        let mut out = scratch.take();
        out.clear();
        write(&mut out);
        let text = out.as_str().to_owned();
        if out.capacity() <= SCRATCH_KEPT {
            scratch.replace(out);
        }
        text
    })
}

/// The largest scratch buffer [`in_scratch`] keeps for the next text.
const SCRATCH_KEPT: usize = 1 << 20;

#[derive(Clone, Copy)]
enum Order {
    Sent,
    Keys,
}

fn write_json(out: &mut String, v: &Json, order: Order) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        // serde_json's own formatting of numbers (itoa and ryu), through its Display.
        Json::Number(n) => {
            use std::fmt::Write;
            let _ = write!(out, "{n}");
        }
        Json::String(s) => write_json_str(out, s),
        Json::Array(items) => write_array(out, items, |out, item| write_json(out, item, order)),
        Json::Object(map) => {
            out.push('{');
            match order {
                Order::Sent => write_members(out, map.iter(), order),
                Order::Keys => {
                    let mut members: Vec<(&String, &Json)> = map.iter().collect();
                    members.sort_unstable_by(|a, b| a.0.cmp(b.0));
                    write_members(out, members.into_iter(), order);
                }
            }
            out.push('}');
        }
    }
}

/// `items` as a JSON array, each written by `write_item`, as serde_json writes arrays: no
/// spaces.
fn write_array<T>(out: &mut String, items: &[T], mut write_item: impl FnMut(&mut String, &T)) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_item(out, item);
    }
    out.push(']');
}

fn write_members<'a>(
    out: &mut String,
    members: impl Iterator<Item = (&'a String, &'a Json)>,
    order: Order,
) {
    for (i, (k, item)) in members.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_str(out, k);
        out.push(':');
        write_json(out, item, order);
    }
}

fn write_json_str(out: &mut String, s: &str) {
    if needs_escape(s.as_bytes()) {
        // Cannot fail: a string always serialises.
        if let Ok(quoted) = serde_json::to_string(s) {
            out.push_str(&quoted);
        }
    } else {
        out.push('"');
        out.push_str(s);
        out.push('"');
    }
}

/// Whether JSON needs any byte of `s` escaped: a control character, `"` or `\`.
///
/// Sixteen bytes at a time, with no early exit inside a block, a test the compiler turns into
/// vector instructions. Most strings of an event (nearly every key, many values) are shorter
/// than sixteen bytes, and every string has a tail shorter than that: a short string is tested
/// as one block padded with spaces, a longer one's tail as its last sixteen bytes (overlapping
/// the block before), never byte by byte: that was most of this test's instructions
/// (callgrind: BENCHMARKS.md, "Short strings tested whole"). (Eight bytes at a time as a `u64`
/// with bit tricks, or every block copied to an array first, took 4–8% more instructions than
/// blocks read in place.)
fn needs_escape(s: &[u8]) -> bool {
    fn any_bad(block: &[u8; 16]) -> bool {
        block.iter().fold(false, |any, &b| {
            any | (b < 0x20) | (b == b'"') | (b == b'\\')
        })
    }
    // Every slice below is sixteen bytes long, so none is ever taken for `true` here.
    let block = |b: &[u8]| <&[u8; 16]>::try_from(b).map_or(true, any_bad);
    if s.len() < 16 {
        let mut padded = [b' '; 16];
        padded[..s.len()].copy_from_slice(s);
        return any_bad(&padded);
    }
    let mut blocks = s.chunks_exact(16);
    if blocks.any(block) {
        return true;
    }
    !blocks.remainder().is_empty() && block(&s[s.len() - 16..])
}

/// Why a body could not even be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Gzip data that does not inflate.
    #[error("body is not valid gzip: {0}")]
    Gzip(std::io::Error),
    /// Inflated beyond the cap (a gzip bomb or simply too large).
    #[error("body inflates to more than {0} bytes: send smaller batches")]
    TooLarge(usize),
}

/// True when the bytes start with the gzip magic number.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Inflates a gzip body, refusing to produce more than `max` bytes.
pub fn gunzip(bytes: &[u8], max: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    let mut reader = flate2::read::MultiGzDecoder::new(bytes).take(max as u64 + 1);
    #[allow(clippy::disallowed_methods)] // bounded by take(max + 1) above
    reader.read_to_end(&mut out).map_err(DecodeError::Gzip)?;
    if out.len() > max {
        return Err(DecodeError::TooLarge(max));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every length around the sixteen-byte blocks, each byte that needs an escape at every
    /// place, and none: found wherever it is (in a padded short string, a block, the
    /// overlapping tail), never imagined in the padding.
    #[test]
    fn an_escape_is_found_at_every_place_of_every_length() {
        for len in 0..50 {
            // Exactly `len` bytes, with the bytes of an `é` among them (not to be escaped).
            let bytes: Vec<u8> = (0..len).map(|i| "a/é -".as_bytes()[i % 6]).collect();
            assert!(!needs_escape(&bytes), "{len}");
            for at in 0..len {
                for bad in [b'"', b'\\', b'\n', 0, 0x1f] {
                    let mut b = bytes.to_vec();
                    b[at] = bad;
                    assert!(needs_escape(&b), "{len} {at} {bad}");
                }
            }
        }
    }

    #[test]
    fn json_lines_are_told_from_a_pretty_printed_document() {
        let pretty =
            "{\n  \"sensor\": \"s\",\n  \"data\": [\n    {\n      \"id\": \"x\"\n    }\n  ]\n}\n";
        assert!(looks_like_json_lines("{\"a\": 1}\n{\"a\": 2}\n".as_bytes()));
        // The first line broken: the next whole object says JSON Lines.
        assert!(looks_like_json_lines("{\"a\": \n{\"a\": 2}\n".as_bytes()));
        assert!(!looks_like_json_lines(pretty.as_bytes()));
        assert!(!looks_like_json_lines(
            &pretty.as_bytes()[..pretty.len() / 2]
        ));
        assert!(!looks_like_json_lines("{\"a\": ".as_bytes()));
        assert!(!looks_like_json_lines("".as_bytes()));
    }

    /// A JSON document with escapes, multi-byte characters and every kind of value.
    const JSON: &str = r#"{"a": "x\u00e9\"y\\z\n", "é€😀": [1, -2.5e3, "\ud83d\ude00"], "c": {"d": null, "e": true}}"#;

    proptest::proptest! {
        /// `lines` gives what splitting at every `\n` gives, for bytes dense with `\n`s
        /// (leading, trailing, doubled, none).
        #[test]
        fn lines_are_what_splitting_at_newlines_gives(
            bytes in proptest::collection::vec(prop_oneof![Just(b'\n'), any::<u8>()], 0..200)
        ) {
            let split: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
            prop_assert_eq!(lines(&bytes).collect::<Vec<_>>(), split);
        }

        /// The word-at-a-time escape test says what testing each byte says, for bytes dense
        /// with the ones it looks for and their neighbours (0x1f/0x20, 0x22, 0x5c, 0x80-0xff).
        #[test]
        fn the_escape_test_is_the_byte_test(
            bytes in proptest::collection::vec(
                prop_oneof![any::<u8>(), Just(0x1f), Just(0x20), Just(b'"'), Just(b'\\'), Just(0xa2), Just(0xdc)],
                0..40,
            )
        ) {
            let byte_test = bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
            prop_assert_eq!(needs_escape(&bytes), byte_test);
        }

        /// A list of any strings (control characters, quotes, backslashes, any Unicode) is
        /// written as serde_json writes it.
        #[test]
        fn strings_are_written_as_serde_json_writes_them(
            items in proptest::collection::vec(
                prop_oneof![
                    any::<String>(),
                    "[a-z\"\\\u{0}-\u{1f}é😀]{0,40}",
                ],
                0..6,
            )
        ) {
            let serde = serde_json::to_string(&items).expect("strings serialise");
            prop_assert_eq!(json_strings(&items), serde);
        }

        /// Text parsed once its UTF-8 is checked gives what the bytes parsed as bytes give:
        /// the same value, or the same message (position included), for any bytes, and for
        /// JSON with a few bytes put anywhere in it (broken characters, quotes, backslashes).
        #[test]
        fn json_parsed_as_text_is_json_parsed_as_bytes(
            bytes in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..64),
                (proptest::collection::vec(any::<u8>(), 0..4), 0..=JSON.len()).prop_map(
                    |(junk, at)| {
                        let mut b = JSON.as_bytes().to_vec();
                        b.splice(at..at, junk);
                        b
                    }
                ),
            ]
        ) {
            let as_bytes = serde_json::from_slice::<serde_json::Value>(&bytes).map(Json::from).map_err(|e| e.to_string());
            let as_text = json_value(&bytes).map_err(|e| e.to_string());
            prop_assert_eq!(as_text, as_bytes);
        }
    }

    /// The collector's path: a body of JSON Lines with a broken first line keeps its events.
    #[test]
    fn a_broken_first_line_is_one_rejection_of_a_json_lines_body() {
        let tools = ToolResolver::default();
        let ctx = Context {
            received_at: chrono::Utc::now(),
            source: None,
            tools: &tools,
        };
        let event = r#"{"type": "SessionEvent", "action": "LoggedIn", "id": "urn:uuid:1b8a6e52-5b8e-4d0e-9a43-2b4c4f0b0c11", "actor": "https://x.edu/u/1", "object": "https://x.edu", "eventTime": "2024-01-01T00:00:00Z"}"#;
        let body = format!("{}\n{event}\n", &event[..40]);
        let batch = parse_document(body.as_bytes(), &ctx);
        assert_eq!(batch.rejected.len(), 1);
        assert_eq!(batch.rejected[0].index, 1);
        assert_eq!(batch.events.len(), 1);
    }
}
