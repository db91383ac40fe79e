//! The launch export: one list of fields, in one order, for CSV, Parquet and JSON Lines on
//! every backend.

use super::{Dialect, Filter};
use ltiscope_model::report::ReportFilter;

/// How an exported column is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExportKind {
    Text,
    Time,
    Bool,
    /// JSON kept as text (the raw roles).
    Json,
}

/// The exported columns: every field of the canonical record an analyst needs.
pub(crate) const EXPORT_FIELDS: &[(&str, ExportKind)] = &[
    ("source", ExportKind::Text),
    ("tenant", ExportKind::Text),
    ("event_id", ExportKind::Text),
    ("action", ExportKind::Text),
    ("event_time", ExportKind::Time),
    ("received_at", ExportKind::Time),
    ("user_key", ExportKind::Text),
    ("user_platform_id", ExportKind::Text),
    ("user_external_id", ExportKind::Text),
    ("role", ExportKind::Text),
    ("roles_raw", ExportKind::Json),
    ("test_user", ExportKind::Bool),
    ("impersonator", ExportKind::Text),
    ("course_key", ExportKind::Text),
    ("course_label", ExportKind::Text),
    ("course_title", ExportKind::Text),
    ("course_number", ExportKind::Text),
    ("org_unit_type", ExportKind::Text),
    ("tool_id", ExportKind::Text),
    ("tool_name", ExportKind::Text),
    ("tool_match", ExportKind::Text),
    ("launch_url", ExportKind::Text),
    ("launch_host", ExportKind::Text),
    ("consumer_key", ExportKind::Text),
    ("client_id", ExportKind::Text),
    ("deployment_id", ExportKind::Text),
    ("tool_provider_id", ExportKind::Text),
    ("lti_version", ExportKind::Text),
    ("message_type", ExportKind::Text),
    ("resource_link_id", ExportKind::Text),
    ("launch_id", ExportKind::Text),
    ("session_id", ExportKind::Text),
    ("locale", ExportKind::Text),
];

/// The export query for every launch record of the filter (all actions), oldest first.
/// `text_times` gives times as RFC 3339 text (JSON Lines; CSV on PostgreSQL, whose own
/// timestamp text has no zone) instead of typed timestamps (Parquet keeps the type).
/// `inline` writes the filter's values into the text, for `COPY`.
pub(crate) fn export_select(
    d: Dialect,
    f: &ReportFilter,
    text_times: bool,
    inline: bool,
) -> (String, Vec<super::Arg>) {
    let filter = Filter::launches(f);
    let columns = EXPORT_FIELDS
        .iter()
        .map(|(name, kind)| match kind {
            ExportKind::Time if text_times => format!("{} AS {name}", d.rfc3339(name)),
            _ => (*name).to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let (conditions, args) = if inline {
        (filter.inlined(), Vec::new())
    } else {
        (filter.sql.clone(), filter.args)
    };
    (
        format!(
            "SELECT {columns} FROM launches WHERE true {conditions}
             ORDER BY launches.event_time, launches.event_id"
        ),
        args,
    )
}

/// The JSON Lines value of a text, time or JSON column read as text.
pub(crate) fn json_value(kind: ExportKind, text: Option<String>) -> serde_json::Value {
    match (kind, text) {
        (_, None) => serde_json::Value::Null,
        (ExportKind::Json, Some(s)) => {
            serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s))
        }
        (_, Some(s)) => serde_json::Value::String(s),
    }
}
