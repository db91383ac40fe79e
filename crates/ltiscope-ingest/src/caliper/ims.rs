//! The IMS Caliper 1.2 Tool Launch and Tool Use profiles: `ToolLaunchEvent` (`Launched`,
//! `Returned`) with the LTI 1.3 claims in `federatedSession.messageParameters`, and
//! `ToolUseEvent` (`Used`) with its `AggregateMeasure` metrics.

use crate::Context;
use crate::fields::{id_of, scalar_text, str_at, text_at, type_of};
use crate::json::Json;
use crate::lti::launch_facts;
use ltiscope_model::{Action, CourseRef, EventMeta, LaunchRecord, UserRef};

/// The actor Caliper sensors use for anonymous events: not a user.
const ANONYMOUS_PERSON: &str = "http://purl.imsglobal.org/caliper/Person";

pub(super) fn launch(v: &Json, meta: EventMeta, action: &str, ctx: &Context<'_>) -> LaunchRecord {
    let action = match action {
        "Launched" => Action::Launch,
        "Returned" => Action::Return,
        _ => Action::Use,
    };
    let empty = Json::Null;
    let fed = v.get("federatedSession").unwrap_or(&empty);
    let params = fed.get("messageParameters").unwrap_or(&empty);
    let facts = launch_facts(params);
    let roles = facts.roles(v.get("membership"));
    let target = v.get("target").unwrap_or(&empty);
    // The launched tool: the LTI target link, else an LtiLink target, else the tool itself.
    let launch_url = facts
        .target_link_uri
        .clone()
        .or_else(|| {
            (type_of(target) == Some("LtiLink"))
                .then(|| id_of(target))
                .flatten()
                .map(str::to_owned)
        })
        .or_else(|| id_of(&v["object"]).map(str::to_owned));
    let tool = facts.tool_ref(launch_url);

    let actor_id = id_of(&v["actor"]).filter(|id| *id != ANONYMOUS_PERSON);
    let user = UserRef {
        platform_id: facts.user_id.filter(|sub| Some(sub.as_str()) != actor_id),
        iri: actor_id.map(str::to_owned),
        external_id: facts.person_sourcedid,
    };

    let group = v.get("group").unwrap_or(&empty);
    let group_id = id_of(group).filter(|id| !id.starts_with("http://purl.imsglobal.org/caliper/"));
    let course = CourseRef {
        platform_id: facts
            .context_id
            .clone()
            .filter(|c| Some(c.as_str()) != group_id),
        iri: group_id.map(str::to_owned).or(facts.context_id),
        label: facts.context_label,
        title: facts.context_title.or_else(|| text_at(group, "name")),
        course_number: text_at(group, "courseNumber").or(facts.course_number),
        org_unit_type: type_of(group).map(str::to_owned).or(facts.context_type),
    };

    let tool_identity = ctx.tools.resolve(&tool);

    let message_type = facts
        .message_type
        .or_else(|| text_at(target, "messageType"));
    let metrics = v
        .get("generated")
        .and_then(|g| g.get("items"))
        .and_then(Json::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|m| {
                    let name = str_at(m, "metric")?.to_owned();
                    let value = m.get("metricValue").and_then(Json::as_f64)?;
                    Some((name, value, m.get("maxMetricValue").and_then(Json::as_f64)))
                })
                .collect()
        })
        .unwrap_or_default();

    LaunchRecord {
        meta,
        action,
        user,
        roles,
        impersonator: None,
        course,
        tool,
        tool_identity,
        lti_version: facts.version,
        message_type,
        resource_link_id: facts.resource_link_id,
        // Launched and Returned share the LTI session: it pairs them.
        launch_id: id_of(fed).map(str::to_owned),
        session_id: v.get("session").and_then(id_of).map(str::to_owned),
        locale: facts
            .locale
            .or_else(|| params.get("locale").and_then(scalar_text)),
        metrics,
    }
}
