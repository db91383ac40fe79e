//! The Caliper rules ltiscope enforces before accepting an IMS event or entity: reference shapes,
//! date-times, durations and the profile constraints of the events we report on (Session,
//! ToolLaunch, ToolUse). Looser than a full JSON-LD validator on purpose: unknown fields and
//! types pass, so a newer sensor never loses data; what is checked is what reports rely on and
//! what the 1EdTech conformance fixtures mark invalid.

use crate::fields::{looks_like_iri, type_of};
use crate::json::Json;
use crate::outcome::Reason;
use crate::time::{is_iso_duration, parse_timestamp};

/// Event properties that hold an entity or its IRI.
const REFERENCES: &[&str] = &[
    "actor",
    "object",
    "target",
    "generated",
    "referrer",
    "edApp",
    "group",
    "membership",
    "session",
    "federatedSession",
];

const DATE_FIELDS: &[&str] = &[
    "dateCreated",
    "dateModified",
    "startedAtTime",
    "endedAtTime",
    "datePublished",
    "dateToActivate",
    "dateToShow",
    "dateToStartOn",
    "dateToSubmit",
];

/// Maps whose members are data, not Caliper entities: never descended into.
const OPAQUE: &[&str] = &[
    "extensions",
    "messageParameters",
    "launchParameters",
    "customParameters",
];

/// Agents, organisations and sessions: never a valid resource, tool or referrer.
fn is_agent_like(t: &str) -> bool {
    matches!(
        t,
        "Person"
            | "Agent"
            | "Organization"
            | "Group"
            | "CourseOffering"
            | "CourseSection"
            | "Membership"
            | "Session"
            | "LtiSession"
    )
}

/// Checks an IMS Caliper event (not Blackboard's own `LTIEvent`, which predates the profiles).
pub(crate) fn check_event(v: &Json, event_type: &str, action: &str) -> Result<(), Reason> {
    for field in REFERENCES {
        check_reference(v, field)?;
    }
    let entity = |field: &str| v.get(field).and_then(type_of);
    let expect =
        |field: &str, expected: &'static str, ok: &dyn Fn(&str) -> bool| match entity(field) {
            Some(found) if !ok(found) => Err(Reason::WrongEntityType {
                field: field.to_owned(),
                expected,
                found: found.to_owned(),
            }),
            _ => Ok(()),
        };
    let unsupported = || {
        Err(Reason::UnsupportedAction {
            event_type: event_type.to_owned(),
            action: action.to_owned(),
        })
    };
    match event_type {
        "SessionEvent" => {
            match action {
                "LoggedIn" | "LoggedOut" => expect("object", "a SoftwareApplication", &|t| {
                    t == "SoftwareApplication"
                })?,
                "TimedOut" => expect("object", "a Session", &|t| {
                    t == "Session" || t == "LtiSession"
                })?,
                _ => return unsupported(),
            }
            expect(
                "referrer",
                "a DigitalResource or SoftwareApplication",
                &|t| !is_agent_like(t),
            )?;
        }
        "ToolLaunchEvent" => {
            if !matches!(action, "Launched" | "Returned") {
                return unsupported();
            }
            expect("object", "a SoftwareApplication", &|t| {
                t == "SoftwareApplication"
            })?;
            expect("target", "a DigitalResource or LtiLink", &|t| {
                !is_agent_like(t)
            })?;
            expect(
                "referrer",
                "a DigitalResource or SoftwareApplication",
                &|t| !is_agent_like(t),
            )?;
        }
        "ToolUseEvent" => {
            if action != "Used" {
                return unsupported();
            }
            expect("object", "a SoftwareApplication", &|t| {
                t == "SoftwareApplication"
            })?;
            expect("target", "a SoftwareApplication", &|t| {
                t == "SoftwareApplication"
            })?;
            expect("generated", "an AggregateMeasureCollection", &|t| {
                t == "AggregateMeasureCollection"
            })?;
        }
        _ => {}
    }
    for field in REFERENCES {
        if let Some(e @ Json::Object(_)) = v.get(field) {
            check_entity(e, field)?;
        }
    }
    Ok(())
}

/// A reference is an entity object or an IRI string.
fn check_reference(v: &Json, field: &str) -> Result<(), Reason> {
    match v.get(field) {
        None | Some(Json::Null) | Some(Json::Object(_)) => Ok(()),
        Some(Json::String(s)) if looks_like_iri(s) => Ok(()),
        Some(_) => Err(Reason::InvalidField {
            field: field.to_owned(),
            expected: "an entity object or an IRI",
        }),
    }
}

/// Checks an entity and the entities nested in it.
pub(crate) fn check_entity(e: &Json, path: &str) -> Result<(), Reason> {
    let Json::Object(map) = e else {
        return Ok(());
    };
    for field in DATE_FIELDS {
        match map.get(field) {
            None | Some(Json::Null) => {}
            Some(Json::String(s)) if parse_timestamp(s).is_some() => {}
            Some(_) => return Err(Reason::InvalidTimestamp(format!("{path}.{field}"))),
        }
    }
    match map.get("duration") {
        None | Some(Json::Null) => {}
        Some(Json::String(s)) if is_iso_duration(s) => {}
        Some(_) => {
            return Err(Reason::InvalidField {
                field: format!("{path}.duration"),
                expected: "an ISO 8601 duration such as PT1H30M",
            });
        }
    }
    match map.get("academicSession") {
        None | Some(Json::Null) | Some(Json::String(_)) => {}
        Some(_) => {
            return Err(Reason::InvalidField {
                field: format!("{path}.academicSession"),
                expected: "a string",
            });
        }
    }
    match map.get("messageParameters") {
        None | Some(Json::Null) | Some(Json::Object(_)) => {}
        Some(_) => {
            return Err(Reason::InvalidField {
                field: format!("{path}.messageParameters"),
                expected: "an object of LTI message claims",
            });
        }
    }
    for (key, child) in map {
        if OPAQUE.contains(&key.as_str()) {
            continue;
        }
        match child {
            Json::Object(_) => check_entity(child, &format!("{path}.{key}"))?,
            Json::Array(items) => {
                for item in items.iter().filter(|i| i.is_object()) {
                    check_entity(item, &format!("{path}.{key}[]"))?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}
