//! The questions reports ask and the rows the store answers with. Plain data, shared by the
//! store (which fills them with SQL) and `ltiscope-report` (which derives and renders them), so
//! the two cannot drift apart.

use crate::{RoleBucket, Source, Timestamp};

/// Which launches a report looks at. Every bound is optional; test users are left out unless
/// `include_test_users` is set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportFilter {
    /// Inclusive lower bound on event time.
    pub from: Option<Timestamp>,
    /// Exclusive upper bound on event time.
    pub to: Option<Timestamp>,
    /// Only this tenant.
    pub tenant: Option<String>,
    /// Only this source.
    pub source: Option<Source>,
    /// Only this role bucket.
    pub role: Option<RoleBucket>,
    /// Only this tool id.
    pub tool: Option<String>,
    /// Only this course key.
    pub course: Option<String>,
    /// Count launches by LTI test users and student-preview users too.
    pub include_test_users: bool,
}

/// Usage of one tool.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolUsage {
    /// Tool id.
    pub tool_id: String,
    /// Display name.
    pub tool_name: String,
    /// Launch events.
    pub launches: u64,
    /// Distinct users who launched it.
    pub users: u64,
    /// Distinct courses it was launched from.
    pub courses: u64,
    /// Launches by learners.
    pub learner_launches: u64,
    /// Launches by instructors and teaching assistants.
    pub instructor_launches: u64,
    /// First launch in the range.
    pub first_seen: Option<Timestamp>,
    /// Last launch in the range.
    pub last_seen: Option<Timestamp>,
}

/// Usage within one course.
#[derive(Debug, Clone, PartialEq)]
pub struct CourseUsage {
    /// Tenant of the course.
    pub tenant: String,
    /// Course key (IRI/UUID or platform id).
    pub course_key: String,
    /// Label or title, if known.
    pub label: Option<String>,
    /// Launches.
    pub launches: u64,
    /// Distinct tools launched.
    pub tools: u64,
    /// Distinct users.
    pub users: u64,
    /// The most launched tool.
    pub top_tool: Option<String>,
    /// Last launch.
    pub last_seen: Option<Timestamp>,
}

/// Ingest quality of one source.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SourceQuality {
    /// The source (None for quarantined bodies whose source could not be told).
    pub source: Option<Source>,
    /// Launch records stored (launch, return and use actions).
    pub launch_records: u64,
    /// Non-LTI events and entities kept raw.
    pub non_lti: u64,
    /// Events recognised as already stored.
    pub duplicates: u64,
    /// Items quarantined.
    pub quarantined: u64,
    /// Median seconds between event time and receipt.
    pub lag_p50_seconds: Option<f64>,
    /// 95th percentile of that lag.
    pub lag_p95_seconds: Option<f64>,
    /// Latest event time.
    pub last_event: Option<Timestamp>,
}

/// Quarantined items grouped by reason.
#[derive(Debug, Clone, PartialEq)]
pub struct QuarantineCount {
    /// Reason code.
    pub reason_code: String,
    /// Items with that reason still waiting (not replayed).
    pub count: u64,
}
