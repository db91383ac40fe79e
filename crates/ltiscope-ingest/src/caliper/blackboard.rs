//! Blackboard Learn's `LTIEvent` (type `http://caliper.blackboard.com/caliper/v1/LTIEvent`).
//!
//! Caliper 1.1: action `LoggedIn` = the user clicked an LTI link, `LoggedOut` = the user came
//! back. Caliper 1.0 (archives before 2019): `...action#LTILaunch` / `#LTILaunchReturn`. The
//! object (`LTILaunchInfo`) carries the launch URL and the whole LTI form post; its id ends in
//! `/ltiLaunches/<uuid>`, the `ext_launch_id` that pairs a launch with its return. The field
//! mapping is documented in `docs/mapping.md`.

use crate::Context;
use crate::fields::{id_of, str_at, text_at};
use crate::json::Json;
use crate::lti::launch_facts;
use crate::outcome::Reason;
use ltiscope_model::{Action, CourseRef, EventMeta, LaunchRecord, UserRef};

pub(super) fn launch(
    v: &Json,
    meta: EventMeta,
    action: &str,
    ctx: &Context<'_>,
) -> Result<LaunchRecord, Reason> {
    let action = match action {
        "LoggedIn" | "LTILaunch" => Action::Launch,
        "LoggedOut" | "LTILaunchReturn" => Action::Return,
        other => {
            return Err(Reason::UnsupportedAction {
                event_type: "LTIEvent".into(),
                action: other.to_owned(),
            });
        }
    };
    let object = &v["object"];
    let empty = Json::Null;
    let params = object.get("launchParameters").unwrap_or(&empty);
    let facts = launch_facts(params);
    let roles = facts.roles(v.get("membership"));
    let launch_url = str_at(object, "launchUrl")
        .map(str::to_owned)
        .or_else(|| facts.target_link_uri.clone());
    let tool = facts.tool_ref(launch_url);

    let actor = &v["actor"];
    let actor_ext = actor.get("extensions").unwrap_or(&empty);
    let user = UserRef {
        platform_id: text_at(actor_ext, "bb:user.id"),
        iri: id_of(actor).map(str::to_owned),
        external_id: text_at(actor_ext, "bb:user.externalId").or(facts.person_sourcedid),
    };

    let membership = v.get("membership").unwrap_or(&empty);

    let group = v.get("group").unwrap_or(&empty);
    let course = CourseRef {
        platform_id: facts.context_id,
        iri: id_of(group)
            .or_else(|| membership.get("organization").and_then(id_of))
            .map(str::to_owned),
        label: facts.context_label,
        title: facts.context_title.or_else(|| text_at(group, "name")),
        course_number: text_at(group, "courseNumber").or(facts.course_number),
        org_unit_type: facts
            .context_type
            .or_else(|| crate::fields::type_of(group).map(str::to_owned)),
    };

    let tool_identity = ctx.tools.resolve(&tool);

    // `/ltiLaunches/<uuid>` in the object id is the launch id; `ext_launch_id` says the same.
    let launch_id = facts.launch_id.or_else(|| {
        id_of(object)
            .and_then(|id| id.split_once("/ltiLaunches/"))
            .map(|(_, tail)| tail.split(['/', '?']).next().unwrap_or(tail).to_owned())
    });
    let session_id = v
        .get("session")
        .and_then(id_of)
        .or_else(|| v.get("federatedSession").and_then(id_of))
        .map(str::to_owned);

    Ok(LaunchRecord {
        meta,
        action,
        user,
        roles,
        impersonator: None,
        course,
        tool,
        tool_identity,
        lti_version: facts.version,
        message_type: facts.message_type,
        resource_link_id: facts.resource_link_id,
        launch_id,
        session_id,
        locale: facts.locale,
        metrics: Vec::new(),
    })
}
