//! Caliper 1.0, 1.1 and 1.2: envelopes, events and entity descriptions, from Blackboard Learn
//! and from any other sensor.
//!
//! An envelope's `data` may mix events and entities; each item is parsed on its own so one bad
//! item never sinks the others. Blackboard's `LTIEvent` goes to [`blackboard`], the IMS
//! `ToolLaunchEvent`/`ToolUseEvent` to [`ims`]; every other event is kept as a raw event of its
//! type. Which source an event belongs to is decided per event: Blackboard's firehose carries
//! standard event types too, recognised by the `/v1/sites/<site>/` IRIs Learn mints.

mod blackboard;
mod ims;
mod validate;

use crate::Context;
use crate::fields::{content_id, id_of, normalise_event_id, short_term, str_at, type_of};
use crate::json::{Json, Map};
use crate::outcome::{EventKind, ParsedEvent, Reason, RejectedBody, Rejection, Sink};
use crate::time::parse_timestamp;
use ltiscope_model::{EventMeta, Source};

/// Envelope facts that events inherit.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Envelope<'a> {
    /// The sensor id (the Learn site UUID for Blackboard).
    pub sensor: Option<&'a str>,
}

/// True for `{sensor, sendTime, dataVersion, data}`.
pub(crate) fn is_envelope(v: &Json) -> bool {
    v.get("data").is_some()
        && (v.get("sensor").is_some()
            || v.get("sendTime").is_some()
            || v.get("dataVersion").is_some())
}

/// True for anything with a Caliper type: an event (with `action`) or an entity.
pub(crate) fn is_caliper(v: &Json) -> bool {
    type_of(v).is_some()
}

/// Parses every item of an envelope into `out`.
pub(crate) fn parse_envelope(mut v: Json, ctx: &Context<'_>, out: &mut dyn Sink, index: usize) {
    let sensor = str_at(&v, "sensor").map(str::to_owned);
    let env = Envelope {
        sensor: sensor.as_deref(),
    };
    let data = match v.get_mut("data").map(Json::take) {
        Some(Json::Array(items)) => items,
        Some(single @ Json::Object(_)) => vec![single],
        _ => {
            out.reject(Rejection {
                index,
                reason: Reason::InvalidField {
                    field: "data".into(),
                    expected: "an array of Caliper events and entities",
                },
                body: RejectedBody::Json(v),
            });
            return;
        }
    };
    for (i, item) in data.into_iter().enumerate() {
        push_item(item, env, ctx, out, i);
    }
}

/// Parses one event or entity into `out`.
pub(crate) fn push_item(
    item: Json,
    env: Envelope<'_>,
    ctx: &Context<'_>,
    out: &mut dyn Sink,
    index: usize,
) {
    if !item.is_object() {
        out.reject(Rejection {
            index,
            reason: Reason::NotAnObject("a non-object item in envelope data"),
            body: RejectedBody::Json(item),
        });
        return;
    }
    match parse_item(&item, env, ctx) {
        Ok(kind) => {
            let original = match env.sensor {
                // The tenant came from the envelope: the original keeps the sensor beside
                // the event, as a one-event envelope, so that the event can be derived
                // again from what is stored (a re-derive parses nothing else). `data` first,
                // as serde_json's sorted tree wrote it, so originals stored by earlier
                // releases derive again to the same text.
                Some(sensor) if kind.meta().tenant == sensor => Json::Object(Map::from_iter([
                    ("data".to_owned(), Json::Array(vec![item])),
                    ("sensor".to_owned(), Json::from(sensor)),
                ])),
                _ => item,
            };
            out.accept(ParsedEvent { kind, original })
        }
        Err(reason) => out.reject(Rejection {
            index,
            reason,
            body: RejectedBody::Json(item),
        }),
    }
}

fn parse_item(v: &Json, env: Envelope<'_>, ctx: &Context<'_>) -> Result<EventKind, Reason> {
    let full_type = str_at(v, "type")
        .or_else(|| str_at(v, "@type"))
        .ok_or_else(|| Reason::MissingField("type".into()))?;
    let event_type = short_term(full_type);
    let Some(action_full) = str_at(v, "action") else {
        return parse_entity(v, event_type, env, ctx);
    };
    let action = short_term(action_full);
    let blackboard = is_blackboard(v, full_type);
    let source = ctx.source.unwrap_or(if blackboard {
        Source::BlackboardCaliper
    } else {
        Source::Caliper
    });
    let lti_event = event_type == "LTIEvent";
    if !lti_event {
        validate::check_event(v, event_type, action)?;
    }
    for field in ["actor", "object"] {
        if v.get(field).is_none_or(Json::is_null) {
            return Err(Reason::MissingField(field.into()));
        }
    }
    let time_text =
        str_at(v, "eventTime").ok_or_else(|| Reason::MissingField("eventTime".into()))?;
    let event_time =
        parse_timestamp(time_text).ok_or_else(|| Reason::InvalidTimestamp("eventTime".into()))?;
    let meta = EventMeta {
        source,
        tenant: tenant(v, env, blackboard),
        event_id: id_of(v)
            .map(normalise_event_id)
            .unwrap_or_else(|| content_id(v)),
        event_type: event_type.to_owned(),
        raw_action: action.to_owned(),
        event_time,
        received_at: ctx.received_at,
    };
    if lti_event {
        return blackboard::launch(v, meta, action, ctx).map(|r| EventKind::Launch(Box::new(r)));
    }
    match (event_type, action) {
        ("ToolLaunchEvent", "Launched" | "Returned") | ("ToolUseEvent", "Used") => Ok(
            EventKind::Launch(Box::new(ims::launch(v, meta, action, ctx))),
        ),
        _ => Ok(EventKind::Other(meta)),
    }
}

fn parse_entity(
    v: &Json,
    entity_type: &str,
    env: Envelope<'_>,
    ctx: &Context<'_>,
) -> Result<EventKind, Reason> {
    validate::check_entity(v, entity_type)?;
    let id = id_of(v).ok_or_else(|| Reason::MissingField("id".into()))?;
    let blackboard = id.contains("/v1/sites/");
    let when = ["dateModified", "dateCreated", "startedAtTime"]
        .iter()
        .find_map(|f| str_at(v, f).and_then(parse_timestamp))
        .unwrap_or(ctx.received_at);
    Ok(EventKind::Entity(EventMeta {
        source: ctx.source.unwrap_or(if blackboard {
            Source::BlackboardCaliper
        } else {
            Source::Caliper
        }),
        tenant: tenant(v, env, blackboard),
        // An entity may be described again when it changes: its id plus its modification time
        // identify one description.
        event_id: format!("{}@{}", id, str_at(v, "dateModified").unwrap_or("")),
        event_type: entity_type.to_owned(),
        raw_action: String::new(),
        event_time: when,
        received_at: ctx.received_at,
    }))
}

/// Blackboard Learn mints `.../v1/sites/<site>/...` IRIs and `caliper.blackboard.com` types.
fn is_blackboard(v: &Json, full_type: &str) -> bool {
    full_type.contains("caliper.blackboard.com")
        || ["actor", "edApp", "object"]
            .iter()
            .filter_map(|f| v.get(f).and_then(id_of))
            .any(|id| id.contains("/v1/sites/"))
}

/// The `<site>` of a Blackboard `/v1/sites/<site>/` IRI.
pub(crate) fn blackboard_site(iri: &str) -> Option<&str> {
    let rest = &iri[iri.find("/v1/sites/")? + "/v1/sites/".len()..];
    let site = rest.split(['/', '?', '#']).next()?;
    (!site.is_empty()).then_some(site)
}

/// Learn site for Blackboard; for others the LTI platform (tool_platform guid or issuer), the
/// edApp, or the sensor.
fn tenant(v: &Json, env: Envelope<'_>, blackboard: bool) -> String {
    if blackboard {
        let from_iri = ["actor", "edApp", "object", "session"]
            .iter()
            .filter_map(|f| v.get(f).and_then(id_of))
            .find_map(blackboard_site);
        if let Some(site) = from_iri.or(env.sensor) {
            return site.to_owned();
        }
    }
    let params = v
        .get("federatedSession")
        .and_then(|s| s.get("messageParameters"));
    if let Some(p) = params {
        let facts = crate::lti::launch_facts(p);
        if let Some(t) = facts.platform_guid.or(facts.issuer) {
            return t;
        }
    }
    v.get("edApp")
        .and_then(id_of)
        .or(env.sensor)
        .unwrap_or("unknown")
        .to_owned()
}
