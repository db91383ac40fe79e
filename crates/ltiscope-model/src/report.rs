//! The questions reports ask and the shape of their answers. Plain data, shared by the store
//! (which answers each [`Question`] with SQL and fills a [`Table`]) and `ltiscope-report`
//! (which assembles questions into reports, derives comparisons and renders them), so the two
//! cannot drift apart: every question declares its columns here, once, and the store's
//! conformance tests check that its answers have exactly those columns and kinds.

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

/// Tuning of the questions that need more than a filter. Resolved once from settings; the
/// clock (`as_of`) is passed in, never read by the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// "Now" for dormant and health questions.
    pub as_of: Timestamp,
    /// Repeated launches of the same link by the same user within this many seconds are one
    /// visit.
    pub visit_window_secs: i64,
    /// Launch/return pairs longer than this many seconds are not counted as time in tool
    /// (the user walked away; Blackboard sends no return when the tab is closed).
    pub time_cap_secs: i64,
    /// Minutes added to UTC before cutting days (the institution's offset at the start of the
    /// range), so daily series follow local midnight.
    pub utc_offset_minutes: i32,
    /// Tools (and deployments) without a launch in this many days are dormant.
    pub dormant_days: i64,
    /// Look up one user's launches by this id (platform id, IRI/UUID, external id or
    /// pseudonym).
    pub user: Option<String>,
}

impl Params {
    /// Defaults: 10-minute visits, 4-hour cap, UTC, 30 dormant days.
    pub fn new(as_of: Timestamp) -> Params {
        Params {
            as_of,
            visit_window_secs: 600,
            time_cap_secs: 4 * 3600,
            utc_offset_minutes: 0,
            dormant_days: 30,
            user: None,
        }
    }

    /// Applies the values `t` gives; each must be positive, else the error names it.
    pub fn tune(&mut self, t: &Tuning) -> Result<(), String> {
        let positive = |name: &str, v: Option<i64>| match v {
            Some(n) if n <= 0 => Err(format!("{name} must be positive, got {n}")),
            other => Ok(other),
        };
        if let Some(m) = positive("visit_window_minutes", t.visit_window_minutes)? {
            self.visit_window_secs = m * 60;
        }
        if let Some(m) = positive("time_cap_minutes", t.time_cap_minutes)? {
            self.time_cap_secs = m * 60;
        }
        if let Some(d) = positive("dormant_days", t.dormant_days)? {
            self.dormant_days = d;
        }
        Ok(())
    }
}

/// Overrides of the report tuning, as users give them (config file, flags, API parameters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tuning {
    /// Visit window in minutes.
    pub visit_window_minutes: Option<i64>,
    /// Time-in-tool cap in minutes.
    pub time_cap_minutes: Option<i64>,
    /// Days without a launch after which a tool is dormant.
    pub dormant_days: Option<i64>,
}

/// The kind of values in a column (it decides rendering, alignment and the OpenAPI type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Text.
    Text,
    /// A count of launches, users, courses, ... (subject to small-cell suppression).
    Count,
    /// A non-negative integer that is not a count of people or launches (an hour, a weekday).
    Int,
    /// A measure (seconds, a mean).
    Float,
    /// A share between 0 and 1, or a change ratio.
    Ratio,
    /// A point in time (UTC).
    Time,
    /// A calendar day (`YYYY-MM-DD`).
    Day,
}

/// A column: its name (also the JSON key and CSV header), kind and meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Name.
    pub name: &'static str,
    /// Kind of values.
    pub kind: ColumnKind,
    /// What it means, for the API documentation.
    pub doc: &'static str,
}

const fn col(name: &'static str, kind: ColumnKind, doc: &'static str) -> Column {
    Column { name, kind, doc }
}

/// One value of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text.
    Text(String),
    /// A count or other integer.
    Int(u64),
    /// A measure.
    Float(f64),
    /// A share or ratio.
    Ratio(f64),
    /// A time.
    Time(Timestamp),
    /// A day.
    Day(chrono::NaiveDate),
    /// A count below the suppression threshold `k`, shown as `<k`.
    Suppressed(u64),
    /// Nothing known.
    Empty,
}

impl Cell {
    /// Text or empty.
    pub fn opt(v: Option<String>) -> Cell {
        v.map_or(Cell::Empty, Cell::Text)
    }

    /// Time or empty.
    pub fn time(v: Option<Timestamp>) -> Cell {
        v.map_or(Cell::Empty, Cell::Time)
    }

    /// The integer, if the cell holds one.
    pub fn as_int(&self) -> Option<u64> {
        match self {
            Cell::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The number, if the cell holds one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::Int(n) => Some(*n as f64),
            Cell::Float(x) | Cell::Ratio(x) => Some(*x),
            _ => None,
        }
    }

    /// The text, if the cell holds text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Cell::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// A titled table of typed cells: the answer to one question, one section of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Section name (`tools`, `daily`, ...): a JSON key, so lower case with underscores.
    pub title: String,
    /// Columns.
    pub columns: Vec<Column>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// An empty table with these columns.
    pub fn new(title: &str, columns: &[Column]) -> Table {
        Table {
            title: title.to_owned(),
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// The index of a column.
    pub fn index(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == column)
    }

    /// The cell at a row and named column.
    pub fn cell(&self, row: usize, column: &str) -> Option<&Cell> {
        self.rows.get(row)?.get(self.index(column)?)
    }

    /// The integer at a row and named column.
    pub fn int(&self, row: usize, column: &str) -> Option<u64> {
        self.cell(row, column)?.as_int()
    }

    /// The text at a row and named column.
    pub fn text(&self, row: usize, column: &str) -> Option<&str> {
        self.cell(row, column)?.as_text()
    }

    /// The row whose `column` holds the text `value`.
    pub fn find(&self, column: &str, value: &str) -> Option<usize> {
        let i = self.index(column)?;
        self.rows
            .iter()
            .position(|r| r.get(i).and_then(Cell::as_text) == Some(value))
    }

    /// Sum of an integer column.
    pub fn sum(&self, column: &str) -> u64 {
        let Some(i) = self.index(column) else {
            return 0;
        };
        self.rows
            .iter()
            .filter_map(|r| r.get(i).and_then(Cell::as_int))
            .sum()
    }
}

/// How many courses [`Question::TopCourses`] lists (the one-tool report's top courses).
pub const TOP_COURSES: usize = 50;

/// One question the store answers. Each has a fixed list of [`Column`]s ([`Question::columns`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question {
    /// One row: launches, visits, distinct users, courses and tools.
    Totals,
    /// Per local day: launches, users, courses.
    Daily,
    /// Per tool: launches, visits, users, courses, role split, time in tool, first/last seen.
    Tools,
    /// Per tool: launches and users (the overview's top tools).
    ToolCounts,
    /// Per tool: launches only (no distinct counts: the cheapest per-tool question, for the
    /// previous period of the tools, one-tool and course reports, which compare launches).
    ToolLaunches,
    /// Per course: launches, tools, users, role split, top tool.
    Courses,
    /// The [`TOP_COURSES`] most launched courses of [`Question::Courses`], in its order.
    TopCourses,
    /// Per role bucket: launches, users.
    Roles,
    /// Per UTC hour: launches (turned into an hour-of-week heat map in local time).
    Hourly,
    /// Per LTI message type: launches.
    MessageTypes,
    /// Per LTI version: launches.
    LtiVersions,
    /// Per deployment (client id, deployment id, consumer key, tool-provider id, host).
    Deployments,
    /// Per tool: share of active courses and users.
    Adoption,
    /// Tools with no launch in the last `dormant_days`, with their last launch.
    DormantTools,
    /// Deployments with no launch in the last `dormant_days`.
    DormantDeployments,
    /// Per tool: launches in the 24 h before `as_of` and the same 24 h of the 4 weeks before
    /// (reports pass the start of an hour).
    Health,
    /// Per tool: launch/return pairs, durations and their distribution.
    TimeInTool,
    /// Per source: stored, non-LTI, duplicates, quarantined, receive lag (received-time range).
    QualitySources,
    /// Per received day and source: stored, non-LTI, duplicates, quarantined.
    QualityDaily,
    /// Per source: events by receive-lag bucket.
    QualityLag,
    /// Waiting quarantined items by reason.
    QuarantineReasons,
    /// Per source: latest event and receipt, events in the last 24 h (ignores the time range).
    Freshness,
    /// One user's launch records, newest first (at most 1,000).
    UserLaunches,
    /// Per tenant: launches and last launch (all time; for filter choices).
    Tenants,
    /// One row: the first and last launch in the filter (for "no data in this range" hints).
    Span,
}

use ColumnKind::{Count, Day, Float, Int, Ratio, Text, Time};

const TOOL: Column = col(
    "tool_id",
    Text,
    "stable tool id (rule id, catalogue id or domain)",
);
const TOOL_NAME: Column = col("tool", Text, "tool display name");
const LAUNCHES: Column = col("launches", Count, "launch events");
const USERS: Column = col("users", Count, "distinct users");
const COURSES: Column = col("courses", Count, "distinct courses");
const FIRST: Column = col("first_seen", Time, "first launch in the range");
const LAST: Column = col("last_seen", Time, "last launch in the range");
const SOURCE: Column = col("source", Text, "event source");
const CLIENT_ID: Column = col("client_id", Text, "LTI 1.3 client id");
const DEPLOYMENT_ID: Column = col("deployment_id", Text, "LTI 1.3 deployment id");
const CONSUMER_KEY: Column = col("consumer_key", Text, "LTI 1.1 consumer key");
const TOOL_PROVIDER_ID: Column = col("tool_provider_id", Text, "Brightspace tool-provider id");
const HOST: Column = col("host", Text, "launch URL host");
const DAYS_SINCE: Column = col(
    "days_since",
    Int,
    "whole days between the last launch and now",
);
const TOTAL_LAUNCHES: Column = col("total_launches", Count, "launches ever");
const LAUNCH_RECORDS: Column = col("launch_records", Count, "launch records stored");
const QUARANTINED: Column = col("quarantined", Count, "items quarantined");
const LAST_EVENT: Column = col("last_event", Time, "latest event time");
const LEARNER_LAUNCHES: Column = col("learner_launches", Count, "launches by learners");
const INSTRUCTOR_LAUNCHES: Column = col(
    "instructor_launches",
    Count,
    "launches by instructors and teaching assistants",
);

impl Question {
    /// The section name of the answer (a JSON key).
    pub fn name(self) -> &'static str {
        match self {
            Question::Totals => "totals",
            Question::Daily => "daily",
            Question::Tools => "tools",
            Question::ToolCounts => "tool_counts",
            Question::ToolLaunches => "tool_launches",
            Question::Courses | Question::TopCourses => "courses",
            Question::Roles => "roles",
            Question::Hourly => "hourly",
            Question::MessageTypes => "message_types",
            Question::LtiVersions => "lti_versions",
            Question::Deployments => "deployments",
            Question::Adoption => "adoption",
            Question::DormantTools => "dormant_tools",
            Question::DormantDeployments => "dormant_deployments",
            Question::Health => "health",
            Question::TimeInTool => "time_in_tool",
            Question::QualitySources => "sources",
            Question::QualityDaily => "daily",
            Question::QualityLag => "lag",
            Question::QuarantineReasons => "quarantine",
            Question::Freshness => "freshness",
            Question::UserLaunches => "launches",
            Question::Tenants => "tenants",
            Question::Span => "span",
        }
    }

    /// The columns of the answer, in order.
    pub fn columns(self) -> &'static [Column] {
        match self {
            Question::Totals => {
                const C: &[Column] = &[
                    LAUNCHES,
                    col(
                        "visits",
                        Count,
                        "launches after merging repeats of the same link by the same user within the visit window",
                    ),
                    USERS,
                    COURSES,
                    col("tools", Count, "distinct tools launched"),
                ];
                C
            }
            Question::Daily => {
                const C: &[Column] = &[col("day", Day, "local day"), LAUNCHES, USERS, COURSES];
                C
            }
            Question::Tools => {
                const C: &[Column] = &[
                    TOOL,
                    TOOL_NAME,
                    LAUNCHES,
                    col(
                        "visits",
                        Count,
                        "launches after merging repeats within the visit window",
                    ),
                    USERS,
                    COURSES,
                    LEARNER_LAUNCHES,
                    INSTRUCTOR_LAUNCHES,
                    col(
                        "time_p50_s",
                        Float,
                        "median seconds in the tool (launch/return pairs)",
                    ),
                    col(
                        "time_p90_s",
                        Float,
                        "90th percentile of seconds in the tool",
                    ),
                    FIRST,
                    LAST,
                ];
                C
            }
            Question::ToolCounts => {
                const C: &[Column] = &[TOOL, TOOL_NAME, LAUNCHES, USERS];
                C
            }
            Question::ToolLaunches => {
                const C: &[Column] = &[TOOL, TOOL_NAME, LAUNCHES];
                C
            }
            Question::Courses | Question::TopCourses => {
                const C: &[Column] = &[
                    col("tenant", Text, "tenant of the course"),
                    col("course", Text, "course key (IRI/UUID or platform id)"),
                    col("label", Text, "course label or title"),
                    LAUNCHES,
                    col("tools", Count, "distinct tools launched"),
                    USERS,
                    LEARNER_LAUNCHES,
                    INSTRUCTOR_LAUNCHES,
                    col("top_tool", Text, "most launched tool id"),
                    LAST,
                ];
                C
            }
            Question::Roles => {
                const C: &[Column] = &[col("role", Text, "role bucket"), LAUNCHES, USERS];
                C
            }
            Question::Hourly => {
                const C: &[Column] = &[col("hour", Time, "start of the UTC hour"), LAUNCHES];
                C
            }
            Question::MessageTypes => {
                const C: &[Column] = &[col("message_type", Text, "LTI message type"), LAUNCHES];
                C
            }
            Question::LtiVersions => {
                const C: &[Column] = &[col("lti_version", Text, "LTI version"), LAUNCHES];
                C
            }
            Question::Deployments => {
                const C: &[Column] = &[
                    TOOL,
                    TOOL_NAME,
                    CLIENT_ID,
                    DEPLOYMENT_ID,
                    CONSUMER_KEY,
                    TOOL_PROVIDER_ID,
                    HOST,
                    LAUNCHES,
                    USERS,
                    COURSES,
                    FIRST,
                    LAST,
                ];
                C
            }
            Question::Adoption => {
                const C: &[Column] = &[
                    TOOL,
                    TOOL_NAME,
                    COURSES,
                    col(
                        "active_courses",
                        Count,
                        "courses with any launch in the range",
                    ),
                    col("course_share", Ratio, "courses / active_courses"),
                    USERS,
                    col("active_users", Count, "users with any launch in the range"),
                    col("user_share", Ratio, "users / active_users"),
                ];
                C
            }
            Question::DormantTools => {
                const C: &[Column] = &[
                    TOOL,
                    TOOL_NAME,
                    col("last_launch", Time, "the tool's last launch ever"),
                    DAYS_SINCE,
                    TOTAL_LAUNCHES,
                ];
                C
            }
            Question::DormantDeployments => {
                const C: &[Column] = &[
                    TOOL,
                    TOOL_NAME,
                    CLIENT_ID,
                    DEPLOYMENT_ID,
                    CONSUMER_KEY,
                    TOOL_PROVIDER_ID,
                    HOST,
                    col("last_launch", Time, "the deployment's last launch ever"),
                    DAYS_SINCE,
                    TOTAL_LAUNCHES,
                ];
                C
            }
            Question::Health => {
                const C: &[Column] = &[
                    TOOL,
                    TOOL_NAME,
                    col(
                        "last_24h",
                        Count,
                        "launches in the 24 hours before the last full hour",
                    ),
                    col(
                        "baseline",
                        Float,
                        "mean launches in the same 24 hours of the previous 4 weeks",
                    ),
                    col(
                        "baseline_weeks",
                        Int,
                        "how many of those 4 weeks had any launch of the tool",
                    ),
                ];
                C
            }
            Question::TimeInTool => {
                const C: &[Column] = &[
                    TOOL,
                    TOOL_NAME,
                    LAUNCHES,
                    col("paired", Count, "launches with a return within the cap"),
                    col(
                        "unpaired",
                        Count,
                        "launches without a return (or beyond the cap)",
                    ),
                    col(
                        "over_cap",
                        Count,
                        "pairs longer than the cap (up to twice it), left out",
                    ),
                    col("p25_s", Float, "25th percentile of seconds in the tool"),
                    col("median_s", Float, "median seconds in the tool"),
                    col("p75_s", Float, "75th percentile of seconds in the tool"),
                    col("p90_s", Float, "90th percentile of seconds in the tool"),
                    col("mean_s", Float, "mean seconds in the tool"),
                    col("under_1m", Count, "pairs shorter than a minute"),
                    col("m1_5", Count, "pairs of 1 to 5 minutes"),
                    col("m5_15", Count, "pairs of 5 to 15 minutes"),
                    col("m15_60", Count, "pairs of 15 to 60 minutes"),
                    col("over_1h", Count, "pairs of an hour or more (up to the cap)"),
                ];
                C
            }
            Question::QualitySources => {
                const C: &[Column] = &[
                    SOURCE,
                    LAUNCH_RECORDS,
                    col("non_lti", Count, "non-LTI events and entities kept"),
                    col("duplicates", Count, "events recognised as already stored"),
                    QUARANTINED,
                    col(
                        "lag_p50_s",
                        Float,
                        "median seconds between event time and receipt",
                    ),
                    col("lag_p95_s", Float, "95th percentile of that lag"),
                    LAST_EVENT,
                ];
                C
            }
            Question::QualityDaily => {
                const C: &[Column] = &[
                    col("day", Day, "local day of receipt"),
                    SOURCE,
                    LAUNCH_RECORDS,
                    col("non_lti", Count, "non-LTI events kept"),
                    col("duplicates", Count, "duplicates"),
                    QUARANTINED,
                ];
                C
            }
            Question::QualityLag => {
                const C: &[Column] = &[
                    SOURCE,
                    col("lag", Text, "receive lag bucket"),
                    col("events", Count, "events"),
                ];
                C
            }
            Question::QuarantineReasons => {
                const C: &[Column] = &[
                    col("reason", Text, "reason code"),
                    col("count", Count, "items waiting (not replayed)"),
                ];
                C
            }
            Question::Freshness => {
                const C: &[Column] = &[
                    SOURCE,
                    LAST_EVENT,
                    col("last_received", Time, "latest receipt"),
                    col(
                        "events_24h",
                        Count,
                        "events received in the 24 hours before now",
                    ),
                ];
                C
            }
            Question::UserLaunches => {
                const C: &[Column] = &[
                    col("event_time", Time, "when"),
                    col("action", Text, "launch, return or use"),
                    TOOL,
                    TOOL_NAME,
                    col("course", Text, "course key"),
                    col("course_label", Text, "course label or title"),
                    col("role", Text, "role bucket"),
                    SOURCE,
                    col("event_id", Text, "the source event id"),
                ];
                C
            }
            Question::Tenants => {
                const C: &[Column] = &[
                    col(
                        "tenant",
                        Text,
                        "Learn site, Brightspace tenant or Caliper platform",
                    ),
                    LAUNCHES,
                    LAST,
                ];
                C
            }
            Question::Span => {
                const C: &[Column] = &[
                    col("first_launch", Time, "first launch matching the filter"),
                    col("last_launch", Time, "last launch matching the filter"),
                ];
                C
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuning_applies_given_values_and_names_a_bad_one() {
        let mut p = Params::new(chrono::DateTime::UNIX_EPOCH);
        p.tune(&Tuning {
            visit_window_minutes: Some(5),
            dormant_days: Some(60),
            ..Tuning::default()
        })
        .expect("valid");
        assert_eq!(
            (p.visit_window_secs, p.time_cap_secs, p.dormant_days),
            (300, 4 * 3600, 60)
        );
        let err = p
            .tune(&Tuning {
                time_cap_minutes: Some(0),
                ..Tuning::default()
            })
            .expect_err("zero");
        assert_eq!(err, "time_cap_minutes must be positive, got 0");
    }
}
