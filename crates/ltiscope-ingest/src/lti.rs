//! The facts of an LTI launch message, read from either generation: the LTI 1.1 form post
//! (Blackboard `launchParameters`) or the LTI 1.3 id_token claims (Caliper 1.2
//! `federatedSession.messageParameters`). Both may appear in one map (Blackboard forwards 1.3
//! launches with their claims flattened), so every fact is looked up in both spellings.

use crate::fields::{scalar_text, string_list, text_at};
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

/// The full URI of every LTI 1.3 claim, before its name.
const CLAIM: &str = "https://purl.imsglobal.org/spec/lti/claim/";

/// The members of a launch message that its facts are read from, found in one pass over it
/// (looking each up in turn, ~25 scans of a map of ~40 members, was 6,500 of the ~150,000
/// instructions of a Blackboard launch's parse side: callgrind, `prepare_cost`). A claim that
/// is `null` counts as absent.
#[derive(Default)]
struct Members<'a> {
    consumer_key: Option<&'a Json>,
    message_type: Option<&'a Json>,
    resource_link_id: Option<&'a Json>,
    user_id: Option<&'a Json>,
    sub: Option<&'a Json>,
    person_sourcedid: Option<&'a Json>,
    presentation_locale: Option<&'a Json>,
    locale: Option<&'a Json>,
    launch_id: Option<&'a Json>,
    iss: Option<&'a Json>,
    course_section_sourcedid: Option<&'a Json>,
    azp: Option<&'a Json>,
    aud: Option<&'a Json>,
    lti_version: Option<&'a Json>,
    context_id: Option<&'a Json>,
    context_label: Option<&'a Json>,
    context_title: Option<&'a Json>,
    context_type: Option<&'a Json>,
    roles: Option<&'a Json>,
    instance_guid: Option<&'a Json>,
    claim_message_type: Option<&'a Json>,
    claim_resource_link: Option<&'a Json>,
    claim_lis: Option<&'a Json>,
    claim_target_link_uri: Option<&'a Json>,
    claim_deployment_id: Option<&'a Json>,
    claim_version: Option<&'a Json>,
    claim_context: Option<&'a Json>,
    claim_roles: Option<&'a Json>,
    claim_tool_platform: Option<&'a Json>,
}

impl<'a> Members<'a> {
    fn of(params: &'a Json) -> Self {
        let mut m = Members::default();
        let Some(map) = params.as_object() else {
            return m;
        };
        for (key, v) in map {
            let slot = match key.strip_prefix(CLAIM) {
                Some(_) if v.is_null() => continue,
                Some(claim) => match claim {
                    "message_type" => &mut m.claim_message_type,
                    "resource_link" => &mut m.claim_resource_link,
                    "lis" => &mut m.claim_lis,
                    "target_link_uri" => &mut m.claim_target_link_uri,
                    "deployment_id" => &mut m.claim_deployment_id,
                    "version" => &mut m.claim_version,
                    "context" => &mut m.claim_context,
                    "roles" => &mut m.claim_roles,
                    "tool_platform" => &mut m.claim_tool_platform,
                    _ => continue,
                },
                None => match key.as_str() {
                    "oauth_consumer_key" => &mut m.consumer_key,
                    "lti_message_type" => &mut m.message_type,
                    "resource_link_id" => &mut m.resource_link_id,
                    "user_id" => &mut m.user_id,
                    "sub" => &mut m.sub,
                    "lis_person_sourcedid" => &mut m.person_sourcedid,
                    "launch_presentation_locale" => &mut m.presentation_locale,
                    "locale" => &mut m.locale,
                    "ext_launch_id" => &mut m.launch_id,
                    "iss" => &mut m.iss,
                    "lis_course_section_sourcedid" => &mut m.course_section_sourcedid,
                    "azp" => &mut m.azp,
                    "aud" => &mut m.aud,
                    "lti_version" => &mut m.lti_version,
                    "context_id" => &mut m.context_id,
                    "context_label" => &mut m.context_label,
                    "context_title" => &mut m.context_title,
                    "context_type" => &mut m.context_type,
                    "roles" => &mut m.roles,
                    "tool_consumer_instance_guid" => &mut m.instance_guid,
                    _ => continue,
                },
            };
            *slot = Some(v);
        }
        m
    }
}

/// Reads the launch facts from a parameter map (anything that is not an object gives none).
pub(crate) fn launch_facts(params: &Json) -> LaunchFacts {
    let m = Members::of(params);
    let text = |v: Option<&Json>| v.and_then(scalar_text);
    let mut f = LaunchFacts {
        consumer_key: text(m.consumer_key),
        message_type: text(m.message_type).or_else(|| text(m.claim_message_type)),
        resource_link_id: text(m.resource_link_id)
            .or_else(|| m.claim_resource_link.and_then(|c| text_at(c, "id"))),
        user_id: text(m.user_id).or_else(|| text(m.sub)),
        person_sourcedid: text(m.person_sourcedid)
            .or_else(|| m.claim_lis.and_then(|c| text_at(c, "person_sourcedid"))),
        locale: text(m.presentation_locale).or_else(|| text(m.locale)),
        launch_id: text(m.launch_id),
        target_link_uri: text(m.claim_target_link_uri),
        issuer: text(m.iss),
        deployment_id: text(m.claim_deployment_id),
        course_number: m
            .claim_lis
            .and_then(|c| text_at(c, "course_section_sourcedid"))
            .or_else(|| text(m.course_section_sourcedid)),
        ..LaunchFacts::default()
    };
    // `aud` may be a string or an array; `azp` names the client when there are several.
    f.client_id = text(m.azp).or_else(|| match m.aud {
        Some(Json::Array(a)) => a.first().and_then(scalar_text),
        Some(v) => scalar_text(v),
        None => None,
    });
    let version_1p3 = text(m.claim_version);
    let lti_version = m
        .lti_version
        .and_then(Json::as_str)
        .is_some_and(|v| !v.trim().is_empty());
    f.version = if version_1p3.is_some() || f.deployment_id.is_some() {
        Some(LtiVersion::Lti1p3)
    } else if lti_version || f.consumer_key.is_some() {
        Some(LtiVersion::Lti1p1)
    } else {
        None
    };
    if let Some(ctx) = m.claim_context {
        f.context_id = text_at(ctx, "id");
        f.context_label = text_at(ctx, "label");
        f.context_title = text_at(ctx, "title");
        f.context_type = string_list(ctx.get("type")).into_iter().next();
    } else {
        f.context_id = text(m.context_id);
        f.context_label = text(m.context_label);
        f.context_title = text(m.context_title);
        f.context_type = text(m.context_type);
    }
    f.roles = match m.claim_roles {
        Some(r) => string_list(Some(r)),
        None => string_list(m.roles),
    };
    f.platform_guid = m
        .claim_tool_platform
        .and_then(|p| text_at(p, "guid"))
        .or_else(|| text(m.instance_guid));
    f
}
