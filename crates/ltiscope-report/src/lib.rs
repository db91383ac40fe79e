//! The read path: one function, [`run`], answers a report question from the store; the CLI
//! (and next the API and dashboard) only choose a [`Format`] to render the same [`Report`].
//! Rendering is pure: a report becomes a [`Table`] of typed cells, and the table becomes
//! aligned text, JSON or CSV.

mod render;

pub use render::{Cell, Format, Table};

use ltiscope_model::report::{
    CourseUsage, QuarantineCount, ReportFilter, SourceQuality, ToolUsage,
};
use ltiscope_store::{Store, StoreError};

/// The reports available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// Per tool: launches, users, courses, learner/instructor split, first/last seen.
    Tools,
    /// Per course: launches, tools, users, top tool.
    Courses,
    /// Per source: stored, duplicates, quarantined, receive lag; quarantine by reason.
    Quality,
}

impl ReportKind {
    /// Parses `tools`, `courses` or `quality`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "tools" => Some(ReportKind::Tools),
            "courses" => Some(ReportKind::Courses),
            "quality" => Some(ReportKind::Quality),
            _ => None,
        }
    }
}

/// A computed report.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// See [`ReportKind::Tools`].
    Tools(Vec<ToolUsage>),
    /// See [`ReportKind::Courses`].
    Courses(Vec<CourseUsage>),
    /// See [`ReportKind::Quality`].
    Quality {
        /// Per source.
        sources: Vec<SourceQuality>,
        /// Waiting quarantined items by reason.
        quarantine: Vec<QuarantineCount>,
    },
}

/// Answers a report question: the one read path behind every view.
pub fn run(store: &Store, kind: ReportKind, filter: &ReportFilter) -> Result<Report, StoreError> {
    Ok(match kind {
        ReportKind::Tools => Report::Tools(store.tool_usage(filter)?),
        ReportKind::Courses => Report::Courses(store.course_usage(filter)?),
        ReportKind::Quality => Report::Quality {
            sources: store.source_quality(filter)?,
            quarantine: store.quarantine_counts()?,
        },
    })
}

impl Report {
    /// The report as tables (quality has two: per source and quarantine by reason).
    pub fn tables(&self) -> Vec<Table> {
        match self {
            Report::Tools(rows) => vec![Table {
                title: "tools".into(),
                columns: vec![
                    "tool_id",
                    "tool",
                    "launches",
                    "users",
                    "courses",
                    "learner_launches",
                    "instructor_launches",
                    "learner_share",
                    "first_seen",
                    "last_seen",
                ],
                rows: rows
                    .iter()
                    .map(|t| {
                        let taught = t.learner_launches + t.instructor_launches;
                        vec![
                            Cell::Text(t.tool_id.clone()),
                            Cell::Text(t.tool_name.clone()),
                            Cell::Int(t.launches),
                            Cell::Int(t.users),
                            Cell::Int(t.courses),
                            Cell::Int(t.learner_launches),
                            Cell::Int(t.instructor_launches),
                            if taught == 0 {
                                Cell::Empty
                            } else {
                                Cell::Ratio(t.learner_launches as f64 / taught as f64)
                            },
                            Cell::time(t.first_seen),
                            Cell::time(t.last_seen),
                        ]
                    })
                    .collect(),
            }],
            Report::Courses(rows) => vec![Table {
                title: "courses".into(),
                columns: vec![
                    "tenant",
                    "course",
                    "label",
                    "launches",
                    "tools",
                    "users",
                    "top_tool",
                    "last_seen",
                ],
                rows: rows
                    .iter()
                    .map(|c| {
                        vec![
                            Cell::Text(c.tenant.clone()),
                            Cell::Text(c.course_key.clone()),
                            Cell::opt(c.label.clone()),
                            Cell::Int(c.launches),
                            Cell::Int(c.tools),
                            Cell::Int(c.users),
                            Cell::opt(c.top_tool.clone()),
                            Cell::time(c.last_seen),
                        ]
                    })
                    .collect(),
            }],
            Report::Quality {
                sources,
                quarantine,
            } => vec![
                Table {
                    title: "quality by source".into(),
                    columns: vec![
                        "source",
                        "launch_records",
                        "non_lti",
                        "duplicates",
                        "quarantined",
                        "lag_p50_s",
                        "lag_p95_s",
                        "last_event",
                    ],
                    rows: sources
                        .iter()
                        .map(|q| {
                            vec![
                                Cell::Text(q.source.map_or("(unknown)", |s| s.as_str()).to_owned()),
                                Cell::Int(q.launch_records),
                                Cell::Int(q.non_lti),
                                Cell::Int(q.duplicates),
                                Cell::Int(q.quarantined),
                                q.lag_p50_seconds.map_or(Cell::Empty, Cell::Float),
                                q.lag_p95_seconds.map_or(Cell::Empty, Cell::Float),
                                Cell::time(q.last_event),
                            ]
                        })
                        .collect(),
                },
                Table {
                    title: "quarantine by reason (waiting)".into(),
                    columns: vec!["reason", "count"],
                    rows: quarantine
                        .iter()
                        .map(|q| vec![Cell::Text(q.reason_code.clone()), Cell::Int(q.count)])
                        .collect(),
                },
            ],
        }
    }

    /// Renders the whole report.
    pub fn render(&self, format: Format) -> String {
        let tables = self.tables();
        match format {
            Format::Json if tables.len() > 1 => {
                let mut map = serde_json::Map::new();
                for t in &tables {
                    map.insert(t.title.replace(' ', "_"), t.to_json());
                }
                format!("{}\n", serde_json::Value::Object(map))
            }
            _ => tables
                .iter()
                .map(|t| t.render(format))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}
