//! Puts generated launches into the platforms' wire formats, field for field as in the seeds.

use super::{Launch, Platform, Rng, Role, World};
use chrono::{Duration, SecondsFormat};
use ltiscope_model::Timestamp;
use serde_json::{Value, json};

const BB_CTX: &str = "http://caliper.blackboard.com/ctx/caliper/v1/Context";
const V1P1: &str = "http://purl.imsglobal.org/ctx/caliper/v1p1";
const BB_MAP: &str = "https://caliper-mapping.cloudbb.blackboard.com/v1/sites";
const BDS_EXT: &str = "https://api.brightspace.com/xapi/extension_keys/context/";

fn iso(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The documents for one launch: the launch and, where the platform sends one, its return.
pub(super) fn render(l: &Launch, w: &World, rng: &mut Rng) -> Vec<String> {
    match l.platform {
        Platform::Blackboard | Platform::Mixed => blackboard(l, w, rng),
        Platform::Brightspace => vec![text(brightspace(l, w, rng))],
        Platform::Caliper => caliper(l, w, rng),
    }
}

fn lti11_role(role: Role) -> &'static str {
    match role {
        Role::Learner => "urn:lti:role:ims/lis/Learner",
        Role::Instructor => "urn:lti:role:ims/lis/Instructor",
        Role::Assistant => "urn:lti:role:ims/lis/TeachingAssistant",
    }
}

fn lis_v2_role(role: Role) -> &'static str {
    match role {
        Role::Learner => "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner",
        Role::Instructor => "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor",
        Role::Assistant => {
            "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"
        }
    }
}

fn blackboard(l: &Launch, w: &World, rng: &mut Rng) -> Vec<String> {
    let site = &w.bb_site;
    let p = &w.people[l.person];
    let c = &w.courses[l.course];
    let t = &w.tools[l.tool];
    let launch_id = rng.uuid();
    let session = format!("{:032X}", rng.next_u64() as u128 * 0x1_0000_0001);
    let user_iri = format!("{BB_MAP}/{site}/users/{}", p.uuid);
    let mut roles = lti11_role(l.role).to_owned();
    if l.test_user {
        roles.push_str(",urn:lti:sysrole:ims/lis/TestUser");
    }
    let actor = json!({
        "id": user_iri,
        "type": "Person",
        "extensions": {"bb:user.id": format!("_{}_1", p.pk), "bb:user.externalId": p.external_id}
    });
    let params = json!({
        "tool_consumer_info_product_family_code": "BlackboardLearn",
        "oauth_signature_method": "HMAC-SHA1",
        "tool_consumer_info_version": "3900.82.0-rel.45+b7f2ce1",
        "oauth_signature": format!("{:x}=", rng.next_u64()),
        "launch_presentation_document_target": "window",
        "lti_message_type": "basic-lti-launch-request",
        "ext_launch_id": launch_id,
        "lis_person_sourcedid": p.external_id,
        "lis_person_name_full": format!("Person {}", p.pk),
        "lis_person_contact_email_primary": format!("{}@example.edu", p.external_id),
        "context_label": c.label,
        "context_title": c.title,
        "oauth_consumer_key": t.consumer_key,
        "user_id": p.uuid,
        "oauth_version": "1.0",
        "resource_link_id": format!("_{}_1", 500 + l.tool * 17 + l.course % 13),
        "roles": roles,
        "launch_presentation_locale": "en-US",
        "tool_consumer_instance_guid": site.replace('-', ""),
        "oauth_timestamp": l.time.timestamp().to_string(),
        "lti_version": "LTI-1p0",
        "context_id": format!("_{}_1", c.pk),
        "oauth_nonce": rng.next_u64().to_string(),
        "custom_caliper_federated_session_id": format!("{BB_MAP}/{site}/sessions/{session}"),
    });
    let event = |id: String, action: &str, time: Timestamp| {
        text(json!({
            "@context": [BB_CTX, V1P1],
            "type": "http://caliper.blackboard.com/caliper/v1/LTIEvent",
            "id": id,
            "actor": actor,
            "action": action,
            "object": {
                "type": "http://caliper.blackboard.com/caliper/v1/LTILaunchInfo",
                "id": format!("{BB_MAP}/{site}/ltiLaunches/{launch_id}"),
                "name": "",
                "launchUrl": t.url,
                "launchParameters": params,
                "customParameters": {},
                "extensions": {}
            },
            "eventTime": iso(time),
            "edApp": {
                "id": format!("{BB_MAP}/{site}/applications/learn"),
                "type": "SoftwareApplication",
                "extensions": {"bb:request.headers.ipAddress": format!("10.{}.{}.{}", rng_octet(id_seed(&launch_id, 1)), rng_octet(id_seed(&launch_id, 2)), rng_octet(id_seed(&launch_id, 3)))}
            },
            "group": {
                "id": format!("{BB_MAP}/{site}/courses/{}", c.uuid),
                "type": "CourseOffering",
                "courseNumber": c.label
            },
            "session": {"id": format!("{BB_MAP}/{site}/sessions/{session}"), "type": "Session"},
            "extensions": {}
        }))
    };
    let mut out = vec![event(rng.uuid(), "LoggedIn", l.time)];
    if let Some(minutes) = l.minutes_in_tool {
        let back = l.time + Duration::milliseconds((minutes * 60_000.0) as i64);
        out.push(event(rng.uuid(), "LoggedOut", back));
    }
    out
}

fn id_seed(s: &str, k: u64) -> u64 {
    s.bytes()
        .fold(k, |h, b| h.wrapping_mul(31).wrapping_add(b as u64))
}

fn rng_octet(x: u64) -> u8 {
    (x % 254 + 1) as u8
}

fn brightspace(l: &Launch, w: &World, rng: &mut Rng) -> Value {
    let tenant = &w.bds_tenant;
    let p = &w.people[l.person];
    let c = &w.courses[l.course];
    let t = &w.tools[l.tool];
    let mut roles = vec![lti11_role(l.role)];
    if l.test_user {
        roles.push("urn:lti:sysrole:ims/lis/TestUser");
    }
    let mut object_ext = json!({
        "id": (90_000 + l.tool * 50 + l.course % 50).to_string(),
        "ltiLaunchUrl": t.url,
    });
    if t.lti13 {
        object_ext["ltiClientId"] = json!(t.client_id);
        object_ext["ltiDeploymentId"] = json!(t.deployment_id);
        object_ext["ltiMessageType"] = json!("LtiResourceLinkRequest");
    } else {
        object_ext["ltiToolProviderId"] = json!(t.provider_id.to_string());
        object_ext["ltiMessageType"] = json!("basic-lti-launch-request");
    }
    json!({
        "id": rng.uuid(),
        "timestamp": iso(l.time),
        "actor": {"account": {
            "homePage": format!("https://{tenant}.lms.d2l.com/"),
            "name": format!("urn:uuid:{}", uuid_of(&p.uuid))
        }},
        "verb": {"id": "https://api.brightspace.com/xapi/verbs/launched"},
        "object": {
            "objectType": "Activity",
            "id": format!("urn:uuid:{}", rng.uuid()),
            "definition": {"type": "https://api.brightspace.com/xapi/activities/tools/lti/link/launch"}
        },
        "context": {
            "contextActivities": {"category": [{"id": "https://api.brightspace.com/xapi/profiles/brightspace-activity-v1p0.jsonld"}]},
            "registration": c.uuid,
            "extensions": {
                format!("{BDS_EXT}actor"): {
                    "userId": p.pk.to_string(),
                    "imsRoleIds": roles,
                    "roleId": match l.role { Role::Learner => "110", Role::Instructor => "109", Role::Assistant => "111" }
                },
                format!("{BDS_EXT}object"): object_ext,
                format!("{BDS_EXT}context"): {
                    "tenantId": tenant,
                    "originalEventId": rng.uuid(),
                    "sessionId": rng.uuid(),
                    "originalSessionId": (1_000_000 + rng.below(9_000_000)).to_string(),
                    "orgUnitType": "Course Offering",
                    "orgUnitId": (6000 + c.pk).to_string()
                }
            }
        }
    })
}

fn uuid_of(hex32: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &hex32[0..8],
        &hex32[8..12],
        &hex32[12..16],
        &hex32[16..20],
        &hex32[20..32]
    )
}

fn caliper(l: &Launch, w: &World, rng: &mut Rng) -> Vec<String> {
    let base = &w.caliper_platform;
    let p = &w.people[l.person];
    let c = &w.courses[l.course];
    let t = &w.tools[l.tool];
    let user = format!("{base}/users/{}", p.pk);
    let section = format!("{base}/courses/{}/sections/1", c.pk);
    let fed = format!("{base}/lti/sessions/{}", rng.hex32());
    let mut roles = vec![lis_v2_role(l.role)];
    if l.test_user {
        roles.push("http://purl.imsglobal.org/vocab/lti/system/person#TestUser");
    }
    let params = json!({
        "iss": base,
        "sub": user,
        "aud": [t.client_id],
        "nonce": rng.uuid(),
        "name": format!("Person {}", p.pk),
        "email": format!("{}@example.edu", p.external_id),
        "locale": "en-US",
        "https://purl.imsglobal.org/spec/lti/claim/deployment_id": t.deployment_id,
        "https://purl.imsglobal.org/spec/lti/claim/message_type": "LtiResourceLinkRequest",
        "https://purl.imsglobal.org/spec/lti/claim/version": "1.3.0",
        "https://purl.imsglobal.org/spec/lti/claim/target_link_uri": t.url,
        "https://purl.imsglobal.org/spec/lti/claim/roles": roles,
        "https://purl.imsglobal.org/spec/lti/claim/context": {"id": section, "label": c.label, "title": c.title},
        "https://purl.imsglobal.org/spec/lti/claim/resource_link": {"id": format!("rl-{}-{}", c.pk, l.tool)},
        "https://purl.imsglobal.org/spec/lti/claim/tool_platform": {"guid": base, "name": "Example LMS"}
    });
    let event = |id: String, action: &str, time: Timestamp, with_params: bool| {
        let mut fed_session = json!({
            "id": fed, "type": "LtiSession",
            "user": {"id": user, "type": "Person"},
            "startedAtTime": iso(l.time)
        });
        if with_params {
            fed_session["messageParameters"] = params.clone();
        }
        text(json!({
            "@context": "http://purl.imsglobal.org/ctx/caliper/v1p2",
            "id": format!("urn:uuid:{id}"),
            "type": "ToolLaunchEvent",
            "profile": "ToolLaunchProfile",
            "actor": {"id": user, "type": "Person"},
            "action": action,
            "object": {"id": t.url, "type": "SoftwareApplication"},
            "eventTime": iso(time),
            "edApp": {"id": base, "type": "SoftwareApplication"},
            "group": {"id": section, "type": "CourseSection", "courseNumber": c.label},
            "membership": {"id": format!("{section}/rosters/1"), "type": "Membership", "member": user, "organization": section, "roles": roles.iter().map(|r| r.rsplit('#').next().unwrap_or(r)).collect::<Vec<_>>()},
            "session": {"id": format!("{base}/sessions/{}", p.uuid), "type": "Session"},
            "federatedSession": fed_session
        }))
    };
    let mut out = vec![event(rng.uuid(), "Launched", l.time, true)];
    if let Some(minutes) = l.minutes_in_tool {
        let back = l.time + Duration::milliseconds((minutes * 60_000.0) as i64);
        out.push(event(rng.uuid(), "Returned", back, false));
    }
    out
}

/// A non-LTI event of the same platform's firehose around the launch.
pub(super) fn non_lti(l: &Launch, w: &World, rng: &mut Rng) -> String {
    let p = &w.people[l.person];
    let time = iso(l.time - Duration::seconds(30 + rng.below(600) as i64));
    let event = match l.platform {
        Platform::Brightspace => json!({
            "id": rng.uuid(),
            "timestamp": time,
            "actor": {"account": {"homePage": format!("https://{}.lms.d2l.com/", w.bds_tenant), "name": format!("urn:uuid:{}", uuid_of(&p.uuid))}},
            "verb": {"id": "https://api.brightspace.com/xapi/verbs/logged_in"},
            "object": {"objectType": "Activity", "id": format!("urn:uuid:{}", w.bds_tenant), "definition": {"type": "https://api.brightspace.com/xapi/activities/organization"}},
            "context": {"extensions": {format!("{BDS_EXT}actor"): {"userId": p.pk.to_string()}, format!("{BDS_EXT}context"): {"tenantId": w.bds_tenant}}}
        }),
        _ => {
            let site = &w.bb_site;
            json!({
                "@context": V1P1,
                "type": "SessionEvent",
                "id": rng.uuid(),
                "actor": {"id": format!("{BB_MAP}/{site}/users/{}", p.uuid), "type": "Person", "extensions": {"bb:user.id": format!("_{}_1", p.pk)}},
                "action": "LoggedIn",
                "object": {"id": format!("{BB_MAP}/{site}/applications/learn"), "type": "SoftwareApplication"},
                "eventTime": time,
                "edApp": {"id": format!("{BB_MAP}/{site}/applications/learn"), "type": "SoftwareApplication"}
            })
        }
    };
    text(event)
}

/// Breaks a document the ways real senders do: truncated, timestamp in the wrong format, or a
/// required field missing.
pub(super) fn malform(doc: String, rng: &mut Rng) -> String {
    match rng.below(3) {
        0 => doc[..doc.len() / 2].to_owned(),
        1 => doc
            .replacen("\"eventTime\":\"", "\"eventTime\":\"yesterday ", 1)
            .replacen("\"timestamp\":\"", "\"timestamp\":\"yesterday ", 1),
        _ => doc.replacen("\"eventTime\"", "\"eventTimeX\"", 1).replacen(
            "\"timestamp\"",
            "\"timestampX\"",
            1,
        ),
    }
}

/// An event as its line: serde_json's tree, whose keys are sorted, written as kept bodies are.
fn text(event: Value) -> String {
    crate::json_text(&crate::Json::from(event))
}
