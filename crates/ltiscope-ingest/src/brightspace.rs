//! Brightspace Data Streams (xAPI) events, and xAPI statements in general.
//!
//! The LTI launch (verb `.../verbs/launched`, object type `.../tools/lti/link/launch`) becomes a
//! launch record; every other verb (Site_Login, Site_Logout, ...) is kept as a raw event. BDS
//! sends no return event. Per the BDS documentation any key may be missing or `null` and numbers
//! may come as strings; the seed's own placeholders (`"BrightspaceRoleIdNumber>"`) must not break
//! anything. Statements from other xAPI sources are kept raw under the `xapi` source.

use crate::Context;
use crate::fields::{
    content_id, normalise_event_id, scalar_text, short_term, str_at, string_list, text_at, url_host,
};
use crate::json::Json;
use crate::outcome::Reason;
use crate::roles::normalise_roles;
use crate::time::parse_timestamp;
use ltiscope_model::{
    Action, CourseRef, EventMeta, LaunchRecord, LtiVersion, Source, ToolRef, UserRef,
};

const EXT: &str = "https://api.brightspace.com/xapi/extension_keys/context/";
const LAUNCHED: &str = "https://api.brightspace.com/xapi/verbs/launched";
const LTI_LAUNCH: &str = "/tools/lti/link/launch";

/// True for an xAPI statement: an actor and a verb.
pub(crate) fn is_statement(v: &Json) -> bool {
    v.get("verb").is_some() && v.get("actor").is_some()
}

fn is_brightspace(v: &Json, verb: &str) -> bool {
    verb.starts_with("https://api.brightspace.com/")
        || home_page(v).is_some_and(|h| h.contains(".d2l.com") || h.contains("brightspace"))
        || v.pointer("/context/extensions")
            .and_then(Json::as_object)
            .is_some_and(|m| m.keys().any(|k| k.starts_with(EXT)))
}

fn home_page(v: &Json) -> Option<&str> {
    v.pointer("/actor/account/homePage").and_then(Json::as_str)
}

/// The Brightspace extension map `name` (`actor`, `object`, `context`), or null.
fn ext<'a>(v: &'a Json, name: &str) -> &'a Json {
    static NULL: Json = Json::Null;
    v.get("context")
        .and_then(|c| c.get("extensions"))
        .and_then(|e| e.get(&format!("{EXT}{name}")))
        .unwrap_or(&NULL)
}

fn strip_urn_uuid(s: &str) -> String {
    normalise_event_id(s)
}

pub(crate) fn parse_statement(v: &Json, ctx: &Context<'_>) -> Result<crate::EventKind, Reason> {
    let verb = v
        .get("verb")
        .and_then(|verb| str_at(verb, "id"))
        .ok_or_else(|| Reason::MissingField("verb.id".into()))?;
    let brightspace = is_brightspace(v, verb);
    let source = ctx.source.unwrap_or(if brightspace {
        Source::BrightspaceBds
    } else {
        Source::Xapi
    });
    let event_time = match v.get("timestamp") {
        None | Some(Json::Null) => {
            if brightspace {
                return Err(Reason::MissingField("timestamp".into()));
            }
            // xAPI lets an LRS fill the timestamp in: for a generic statement, it is now.
            ctx.received_at
        }
        Some(Json::String(s)) => {
            parse_timestamp(s).ok_or_else(|| Reason::InvalidTimestamp("timestamp".into()))?
        }
        Some(_) => return Err(Reason::InvalidTimestamp("timestamp".into())),
    };
    let context_ext = ext(v, "context");
    let tenant = text_at(context_ext, "tenantId")
        .or_else(|| {
            home_page(v)
                .and_then(url_host)
                .map(|h| h.split('.').next().unwrap_or(&h).to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let meta = EventMeta {
        source,
        tenant,
        event_id: str_at(v, "id")
            .map(normalise_event_id)
            .unwrap_or_else(|| content_id(v)),
        event_type: short_term(verb).to_owned(),
        raw_action: verb.to_owned(),
        event_time,
        received_at: ctx.received_at,
    };
    let object_type = v
        .pointer("/object/definition/type")
        .and_then(Json::as_str)
        .unwrap_or("");
    if brightspace && verb == LAUNCHED && object_type.ends_with(LTI_LAUNCH) {
        Ok(crate::EventKind::Launch(Box::new(launch(v, meta, ctx))))
    } else {
        Ok(crate::EventKind::Other(meta))
    }
}

fn launch(v: &Json, meta: EventMeta, ctx: &Context<'_>) -> LaunchRecord {
    let actor_ext = ext(v, "actor");
    let object_ext = ext(v, "object");
    let context_ext = ext(v, "context");

    let user = UserRef {
        platform_id: text_at(actor_ext, "userId"),
        iri: v
            .pointer("/actor/account/name")
            .and_then(scalar_text)
            .map(|n| strip_urn_uuid(&n)),
        external_id: None,
    };
    let mut raw_roles = string_list(actor_ext.get("imsRoleIds"));
    let mut roles = normalise_roles(&raw_roles);
    if let Some(role_id) = text_at(actor_ext, "roleId") {
        // The org-defined Brightspace role: kept beside the IMS roles for reports by role.
        raw_roles.push(format!("brightspace-role:{role_id}"));
        roles.raw = raw_roles;
    }

    let course = CourseRef {
        platform_id: text_at(context_ext, "orgUnitId"),
        iri: v
            .pointer("/context/registration")
            .and_then(scalar_text)
            .map(|r| strip_urn_uuid(&r)),
        label: None,
        title: None,
        course_number: None,
        org_unit_type: text_at(context_ext, "orgUnitType"),
    };

    let launch_url = text_at(object_ext, "ltiLaunchUrl");
    let tool = ToolRef {
        host: launch_url.as_deref().and_then(url_host),
        launch_url,
        consumer_key: None,
        client_id: text_at(object_ext, "ltiClientId"),
        deployment_id: text_at(object_ext, "ltiDeploymentId"),
        tool_provider_id: text_at(object_ext, "ltiToolProviderId"),
    };
    let tool_identity = ctx.tools.resolve(&tool);
    let message_type = text_at(object_ext, "ltiMessageType");
    let lti_version = if tool.client_id.is_some()
        || tool.deployment_id.is_some()
        || message_type
            .as_deref()
            .is_some_and(|m| m.starts_with("Lti"))
    {
        Some(LtiVersion::Lti1p3)
    } else if tool.tool_provider_id.is_some()
        || message_type.as_deref() == Some("basic-lti-launch-request")
    {
        Some(LtiVersion::Lti1p1)
    } else {
        None
    };

    LaunchRecord {
        meta,
        action: Action::Launch,
        user,
        roles,
        impersonator: text_at(actor_ext, "impersonatingUserId"),
        course,
        tool,
        tool_identity,
        lti_version,
        message_type,
        resource_link_id: text_at(object_ext, "id"),
        launch_id: v
            .pointer("/object/id")
            .and_then(scalar_text)
            .map(|id| strip_urn_uuid(&id)),
        session_id: text_at(context_ext, "sessionId"),
        locale: None,
        metrics: Vec::new(),
    }
}
