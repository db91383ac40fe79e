//! What parsing produces: accepted events and rejections, side by side. A bad event is data
//! (a [`Rejection`] with a [`Reason`]), never an error that stops its batch.

use crate::json::Json;
use ltiscope_model::{EventMeta, LaunchRecord};
use std::fmt;

/// Why an event or body was quarantined. Each reason has a stable [`code`](Reason::code) that
/// counters and reports group by, and a message that tells the sender what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The bytes are not JSON (or not UTF-8, or nested too deeply).
    NotJson(String),
    /// Valid JSON, but not an object where an event was expected.
    NotAnObject(&'static str),
    /// An object that is neither a Caliper envelope, event or entity nor an xAPI statement.
    UnknownFormat,
    /// Caliper where the source given for the input (`import --source`, the Brightspace
    /// endpoint) sends xAPI statements, or the other way round. Labelled with that source it
    /// would be counted under the wrong platform, and stored a second time when imported
    /// again with its own (the source is part of an event's identity).
    SourceMismatch {
        /// What the input is: `a Caliper envelope`, `a Caliper event or entity`, `an xAPI
        /// statement`.
        found: &'static str,
        /// The source given.
        source: &'static str,
        /// What that source sends.
        sends: &'static str,
    },
    /// A required field is absent or null.
    MissingField(String),
    /// A field has the wrong shape.
    InvalidField {
        /// The field, as a path (`federatedSession.messageParameters`).
        field: String,
        /// What it should have been.
        expected: &'static str,
    },
    /// A field that must be an ISO 8601 date-time with offset is not.
    InvalidTimestamp(String),
    /// The action is not one the event type allows.
    UnsupportedAction {
        /// The event type.
        event_type: String,
        /// The action received.
        action: String,
    },
    /// An entity of the wrong type where the profile requires another.
    WrongEntityType {
        /// The field.
        field: String,
        /// The type(s) allowed.
        expected: &'static str,
        /// The type received.
        found: String,
    },
}

impl Reason {
    /// Every [`code`](Reason::code), in declaration order (what `quarantine list --reason`
    /// accepts).
    pub const CODES: [&'static str; 9] = [
        "not_json",
        "not_an_object",
        "unknown_format",
        "source_mismatch",
        "missing_field",
        "invalid_field",
        "invalid_timestamp",
        "unsupported_action",
        "wrong_entity_type",
    ];

    /// The stable code used for counting and filtering.
    pub fn code(&self) -> &'static str {
        Self::CODES[self.place()]
    }

    /// The variant's place in declaration order, where [`Reason::CODES`] holds its code.
    /// Exhaustive: a new variant must be given its place here, and its code there.
    fn place(&self) -> usize {
        match self {
            Reason::NotJson(_) => 0,
            Reason::NotAnObject(_) => 1,
            Reason::UnknownFormat => 2,
            Reason::SourceMismatch { .. } => 3,
            Reason::MissingField(_) => 4,
            Reason::InvalidField { .. } => 5,
            Reason::InvalidTimestamp(_) => 6,
            Reason::UnsupportedAction { .. } => 7,
            Reason::WrongEntityType { .. } => 8,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NotJson(detail) => write!(f, "body is not valid JSON: {detail}"),
            Reason::NotAnObject(what) => write!(f, "expected a JSON object, found {what}"),
            Reason::UnknownFormat => f.write_str(
                "not a Caliper envelope, event or entity, nor an xAPI statement \
                 (no `type` with `action`, no `verb`)",
            ),
            Reason::SourceMismatch {
                found,
                source,
                sends,
            } => write!(
                f,
                "{found}, but the source given for it, {source}, sends {sends}: import it without --source (or with its own), or post it to the endpoint of its format"
            ),
            Reason::MissingField(field) => write!(f, "required field `{field}` is missing"),
            Reason::InvalidField { field, expected } => {
                write!(f, "field `{field}` must be {expected}")
            }
            Reason::InvalidTimestamp(field) => write!(
                f,
                "field `{field}` must be an ISO 8601 date-time with offset, e.g. 2024-03-05T14:20:02.118Z"
            ),
            Reason::UnsupportedAction { event_type, action } => {
                write!(f, "action `{action}` is not allowed for {event_type}")
            }
            Reason::WrongEntityType {
                field,
                expected,
                found,
            } => write!(f, "field `{field}` must be {expected}, found {found}"),
        }
    }
}

/// The quarantined input: the JSON value when it parsed, else the text as received.
#[derive(Debug, Clone, PartialEq)]
pub enum RejectedBody {
    /// A JSON value that failed validation.
    Json(Json),
    /// Bytes that are not JSON, lossily decoded.
    Text(String),
}

/// One quarantined item.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// Position of the item in its input (array index, envelope `data` index or line number).
    pub index: usize,
    /// Why.
    pub reason: Reason,
    /// What was rejected (not yet scrubbed: `ltiscope-redact` does that before storage).
    pub body: RejectedBody,
}

/// What an accepted event is.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// An LTI launch, return or use.
    Launch(Box<LaunchRecord>),
    /// Any other event of the firehose, kept raw and counted.
    Other(EventMeta),
    /// A Caliper entity description sent in an envelope's `data`, kept raw.
    Entity(EventMeta),
}

/// An accepted event: the canonical view plus the original it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedEvent {
    /// The canonical view.
    pub kind: EventKind,
    /// The event as received (scrubbed later, before storage).
    pub original: Json,
}

impl EventKind {
    /// Identity and times of the event, whatever its kind.
    pub fn meta(&self) -> &EventMeta {
        match self {
            EventKind::Launch(r) => &r.meta,
            EventKind::Other(m) | EventKind::Entity(m) => m,
        }
    }
}

impl ParsedEvent {
    /// Identity and times of the event, whatever its kind.
    pub fn meta(&self) -> &EventMeta {
        self.kind.meta()
    }
}

/// The result of parsing one input: every accepted event and every rejection.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Batch {
    /// Accepted events in input order.
    pub events: Vec<ParsedEvent>,
    /// Quarantined items in input order.
    pub rejected: Vec<Rejection>,
}

/// Where parsing puts what it finds, item by item and in input order. A [`Batch`] collects
/// them; the write path's sink (`Redactor::sink`) redacts each event as it arrives instead,
/// while its tree is still in the cache.
pub trait Sink {
    /// An accepted event.
    fn accept(&mut self, event: ParsedEvent);
    /// A quarantined item.
    fn reject(&mut self, rejection: Rejection);
}

impl Sink for Batch {
    fn accept(&mut self, event: ParsedEvent) {
        self.events.push(event);
    }

    fn reject(&mut self, rejection: Rejection) {
        self.rejected.push(rejection);
    }
}

impl Batch {
    /// Moves everything from `other` into this batch.
    pub fn append(&mut self, other: &mut Batch) {
        self.events.append(&mut other.events);
        self.rejected.append(&mut other.rejected);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_lists_the_code_of_every_reason() {
        let text = String::new;
        let every = [
            Reason::NotJson(text()),
            Reason::NotAnObject("null"),
            Reason::UnknownFormat,
            Reason::SourceMismatch {
                found: "",
                source: "",
                sends: "",
            },
            Reason::MissingField(text()),
            Reason::InvalidField {
                field: text(),
                expected: "",
            },
            Reason::InvalidTimestamp(text()),
            Reason::UnsupportedAction {
                event_type: text(),
                action: text(),
            },
            Reason::WrongEntityType {
                field: text(),
                expected: "",
                found: text(),
            },
        ];
        assert_eq!(every.len(), Reason::CODES.len());
        for (i, r) in every.iter().enumerate() {
            assert_eq!(r.place(), i);
            assert_eq!(Reason::CODES[i], r.code());
        }
    }
}
