//! The facts of an LTI launch message, read from either generation: the LTI 1.1 form post
//! (Blackboard `launchParameters`) or the LTI 1.3 id_token claims (Caliper 1.2
//! `federatedSession.messageParameters`). Both may appear in one map (Blackboard forwards 1.3
//! launches with their claims flattened), so every fact is looked up in both spellings.

use crate::fields::{scalar_text, str_at, string_list, text_at};
use crate::json::Json;
use ltiscope_model::LtiVersion;

/// What ltiscope keeps of a launch message.
#[derive(Debug, Default)]
pub(crate) struct LaunchFacts {
    pub consumer_key: Option<String>,
    pub client_id: Option<String>,
    pub deployment_id: Option<String>,
    pub version: Option<LtiVersion>,
    pub message_type: Option<String>,
    pub resource_link_id: Option<String>,
    pub context_id: Option<String>,
    pub context_label: Option<String>,
    pub context_title: Option<String>,
    pub context_type: Option<String>,
    pub roles: Vec<String>,
    pub user_id: Option<String>,
    pub person_sourcedid: Option<String>,
    pub locale: Option<String>,
    pub launch_id: Option<String>,
    pub target_link_uri: Option<String>,
    pub platform_guid: Option<String>,
    pub issuer: Option<String>,
    pub course_number: Option<String>,
}

/// The LTI 1.3 claim `name` of a message, if present and not null. The full claim URI is
/// spelt out at compile time: building it per lookup (ten per launch) cost ~3,400 of the
/// ~47,000 instructions of normalising a Blackboard launch (callgrind,
/// `ltiscope-redact/examples/prepare_cost`).
macro_rules! claim {
    ($params:expr, $name:literal) => {
        $params
            .as_object()
            .and_then(|o| o.get(concat!("https://purl.imsglobal.org/spec/lti/claim/", $name)))
            .filter(|v| !v.is_null())
    };
}

impl LaunchFacts {
    /// The raw tool identifiers of this launch, launched at `launch_url`.
    pub(crate) fn tool_ref(&self, launch_url: Option<String>) -> ltiscope_model::ToolRef {
        ltiscope_model::ToolRef {
            host: launch_url.as_deref().and_then(crate::fields::url_host),
            launch_url,
            consumer_key: self.consumer_key.clone(),
            client_id: self.client_id.clone(),
            deployment_id: self.deployment_id.clone(),
            tool_provider_id: None,
        }
    }

    /// The roles of this launch: the message's own, else the Caliper membership's.
    pub(crate) fn roles(&self, membership: Option<&Json>) -> ltiscope_model::Roles {
        if self.roles.is_empty() {
            crate::roles::normalise_roles(string_list(membership.and_then(|m| m.get("roles"))))
        } else {
            crate::roles::normalise_roles(&self.roles)
        }
    }
}

/// Reads the launch facts from a parameter map (anything that is not an object gives none).
pub(crate) fn launch_facts(params: &Json) -> LaunchFacts {
    let mut f = LaunchFacts {
        consumer_key: text_at(params, "oauth_consumer_key"),
        message_type: text_at(params, "lti_message_type")
            .or_else(|| claim!(params, "message_type").and_then(scalar_text)),
        resource_link_id: text_at(params, "resource_link_id")
            .or_else(|| claim!(params, "resource_link").and_then(|c| text_at(c, "id"))),
        user_id: text_at(params, "user_id").or_else(|| text_at(params, "sub")),
        person_sourcedid: text_at(params, "lis_person_sourcedid")
            .or_else(|| claim!(params, "lis").and_then(|c| text_at(c, "person_sourcedid"))),
        locale: text_at(params, "launch_presentation_locale").or_else(|| text_at(params, "locale")),
        launch_id: text_at(params, "ext_launch_id"),
        target_link_uri: claim!(params, "target_link_uri").and_then(scalar_text),
        issuer: text_at(params, "iss"),
        deployment_id: claim!(params, "deployment_id").and_then(scalar_text),
        course_number: claim!(params, "lis")
            .and_then(|c| text_at(c, "course_section_sourcedid"))
            .or_else(|| text_at(params, "lis_course_section_sourcedid")),
        ..LaunchFacts::default()
    };
    // `aud` may be a string or an array; `azp` names the client when there are several.
    f.client_id = text_at(params, "azp").or_else(|| match params.get("aud") {
        Some(Json::Array(a)) => a.first().and_then(scalar_text),
        Some(v) => scalar_text(v),
        None => None,
    });
    let version_1p3 = claim!(params, "version").and_then(scalar_text);
    f.version = if version_1p3.is_some() || f.deployment_id.is_some() {
        Some(LtiVersion::Lti1p3)
    } else if str_at(params, "lti_version").is_some() || f.consumer_key.is_some() {
        Some(LtiVersion::Lti1p1)
    } else {
        None
    };
    if let Some(ctx) = claim!(params, "context") {
        f.context_id = text_at(ctx, "id");
        f.context_label = text_at(ctx, "label");
        f.context_title = text_at(ctx, "title");
        f.context_type = string_list(ctx.get("type")).into_iter().next();
    } else {
        f.context_id = text_at(params, "context_id");
        f.context_label = text_at(params, "context_label");
        f.context_title = text_at(params, "context_title");
        f.context_type = text_at(params, "context_type");
    }
    f.roles = match claim!(params, "roles") {
        Some(r) => string_list(Some(r)),
        None => string_list(params.get("roles")),
    };
    f.platform_guid = claim!(params, "tool_platform")
        .and_then(|p| text_at(p, "guid"))
        .or_else(|| text_at(params, "tool_consumer_instance_guid"));
    f
}
