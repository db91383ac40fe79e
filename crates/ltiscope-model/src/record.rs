//! The canonical launch record.

use crate::{Roles, Source, Timestamp};

/// What the user did with the tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// The user clicked an LTI link (Blackboard `LoggedIn`, Caliper `Launched`, BDS `launched`).
    Launch,
    /// The user came back from the tool (Blackboard `LoggedOut`, Caliper `Returned`).
    Return,
    /// A tool reported use of itself (Caliper `ToolUseEvent` `Used`).
    Use,
}

impl Action {
    /// The stable name used in storage and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Launch => "launch",
            Action::Return => "return",
            Action::Use => "use",
        }
    }

    /// Parses the stable name back.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "launch" => Some(Action::Launch),
            "return" => Some(Action::Return),
            "use" => Some(Action::Use),
            _ => None,
        }
    }
}

/// The LTI generation a launch used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LtiVersion {
    /// LTI 1.0/1.1 (OAuth 1 signed form post; `lti_version=LTI-1p0`).
    Lti1p1,
    /// LTI 1.3 / LTI Advantage (OIDC + JWT).
    Lti1p3,
}

impl LtiVersion {
    /// The stable name used in storage and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            LtiVersion::Lti1p1 => "1.1",
            LtiVersion::Lti1p3 => "1.3",
        }
    }
}

/// The identity of an event, shared by launch records and kept raw events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMeta {
    /// The stream it came from.
    pub source: Source,
    /// Learn site UUID, Brightspace tenant UUID or Caliper platform id.
    pub tenant: String,
    /// The event id as the platform sent it, normalised (`urn:uuid:` stripped, lower case) so a
    /// retry in either spelling is recognised; derived from the content when the platform sent
    /// none (Caliper 1.0).
    pub event_id: String,
    /// The event type as sent (`LTIEvent`, `ToolLaunchEvent`, an xAPI verb id, ...).
    pub event_type: String,
    /// The action or verb as sent.
    pub raw_action: String,
    /// When it happened, by the platform's clock.
    pub event_time: Timestamp,
    /// When ltiscope received it.
    pub received_at: Timestamp,
}

/// Who launched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserRef {
    /// The platform's own id (`_1_1`, Brightspace userId).
    pub platform_id: Option<String>,
    /// The globally unique form: Caliper IRI or xAPI account UUID.
    pub iri: Option<String>,
    /// The SIS/batch id (`bb:user.externalId`, `lis_person_sourcedid`).
    pub external_id: Option<String>,
}

impl UserRef {
    /// The best single key for counting distinct users within a tenant.
    pub fn key(&self) -> Option<&str> {
        self.iri
            .as_deref()
            .or(self.platform_id.as_deref())
            .or(self.external_id.as_deref())
    }
}

/// Where the launch happened: course, section or org unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CourseRef {
    /// The platform's own id (`_41_1`, Brightspace orgUnitId).
    pub platform_id: Option<String>,
    /// The globally unique form: Caliper group IRI, LTI 1.3 context id or Brightspace org unit UUID.
    pub iri: Option<String>,
    /// Short label (`context_label`).
    pub label: Option<String>,
    /// Title (`context_title`).
    pub title: Option<String>,
    /// The SIS course number / batch_uid.
    pub course_number: Option<String>,
    /// Brightspace org unit type (`Course Offering`, `Section`, ...) or the LTI context type.
    pub org_unit_type: Option<String>,
}

impl CourseRef {
    /// The best single key for counting distinct courses within a tenant.
    pub fn key(&self) -> Option<&str> {
        self.iri.as_deref().or(self.platform_id.as_deref())
    }
}

/// The raw identifiers of the tool that was launched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolRef {
    /// The launch URL (query string kept: it can identify the resource).
    pub launch_url: Option<String>,
    /// The lower-cased host of the launch URL.
    pub host: Option<String>,
    /// LTI 1.1 `oauth_consumer_key` (an identifier, not a secret).
    pub consumer_key: Option<String>,
    /// LTI 1.3 client id.
    pub client_id: Option<String>,
    /// LTI 1.3 deployment id.
    pub deployment_id: Option<String>,
    /// Brightspace legacy LTI tool provider id.
    pub tool_provider_id: Option<String>,
}

/// How a tool was recognised; reports show it so administrators know which rule to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToolMatch {
    /// A rule from the configuration file.
    Rule,
    /// The built-in catalogue of well-known vendors.
    Catalogue,
    /// The registrable domain of the launch URL.
    Domain,
    /// Nothing to go by: no URL and no rule.
    Unknown,
}

impl ToolMatch {
    /// The stable name used in storage and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ToolMatch::Rule => "rule",
            ToolMatch::Catalogue => "catalogue",
            ToolMatch::Domain => "domain",
            ToolMatch::Unknown => "unknown",
        }
    }
}

/// The named tool a launch counts towards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolIdentity {
    /// Stable id (`turnitin`, `example.org`); the unit of every report.
    pub id: String,
    /// Display name.
    pub name: String,
    /// What recognised it.
    pub matched_by: ToolMatch,
}

/// One launch, return or use of an LTI tool, whatever the platform. The scrubbed original event
/// is stored beside it so a later parser can derive it again.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchRecord {
    /// Identity and times.
    pub meta: EventMeta,
    /// Launch, return or use.
    pub action: Action,
    /// The user (already pseudonymised when the PII policy asks for it).
    pub user: UserRef,
    /// The user's roles in the context.
    pub roles: Roles,
    /// The user id of an administrator acting as this user, if any.
    pub impersonator: Option<String>,
    /// The course or org unit.
    pub course: CourseRef,
    /// The tool's raw identifiers.
    pub tool: ToolRef,
    /// The named tool (resolved at ingest by rules, catalogue or domain).
    pub tool_identity: ToolIdentity,
    /// LTI generation, when known.
    pub lti_version: Option<LtiVersion>,
    /// `basic-lti-launch-request`, `LtiResourceLinkRequest`, ...
    pub message_type: Option<String>,
    /// The LTI resource link id.
    pub resource_link_id: Option<String>,
    /// Pairs a launch with its return (Blackboard `ext_launch_id`, BDS launch UUID).
    pub launch_id: Option<String>,
    /// The platform session.
    pub session_id: Option<String>,
    /// `en-US`, ...
    pub locale: Option<String>,
    /// Caliper `ToolUseEvent` aggregate measures: (metric, value, max value).
    pub metrics: Vec<(String, f64, Option<f64>)>,
}
