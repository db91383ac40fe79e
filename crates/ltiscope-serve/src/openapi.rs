//! The OpenAPI 3.1 document of the API, generated from the code: every report's path, its
//! parameters and the schema of each section's rows come from `ReportKind::sections()` and the
//! column declarations of `ltiscope_model::report`, the same values the handlers render. A
//! report or column added there appears here without anyone editing a document.

use ltiscope_model::report::ColumnKind;
use ltiscope_report::ReportKind;
use serde_json::{Value, json};

/// The name of a column kind in API responses.
pub fn kind_name(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Text => "text",
        ColumnKind::Count => "count",
        ColumnKind::Int => "int",
        ColumnKind::Float => "float",
        ColumnKind::Ratio => "ratio",
        ColumnKind::Time => "time",
        ColumnKind::Day => "day",
    }
}

fn column_schema(kind: ColumnKind, doc: &str) -> Value {
    let mut s = match kind {
        ColumnKind::Text => json!({"type": ["string", "null"]}),
        ColumnKind::Count => json!({
            "oneOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": "^<[0-9]+$", "description": "a count below the small-cell threshold k, shown as \"<k\""},
                {"type": "null"}
            ]
        }),
        ColumnKind::Int => json!({"type": ["integer", "null"], "minimum": 0}),
        ColumnKind::Float | ColumnKind::Ratio => json!({
            "oneOf": [{"type": "number"}, {"type": "string", "pattern": "^<[0-9]+$"}, {"type": "null"}]
        }),
        ColumnKind::Time => json!({"type": ["string", "null"], "format": "date-time"}),
        ColumnKind::Day => json!({"type": ["string", "null"], "format": "date"}),
    };
    s["description"] = json!(doc);
    s
}

fn param(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

fn filter_params() -> Vec<Value> {
    let s = json!({"type": "string"});
    vec![
        param(
            "from",
            "inclusive start: YYYY-MM-DD (midnight in the report time zone) or RFC 3339",
            s.clone(),
        ),
        param("to", "exclusive end, same forms as from", s.clone()),
        param(
            "tenant",
            "only this tenant (Learn site, Brightspace tenant, Caliper platform)",
            s.clone(),
        ),
        param(
            "source",
            "only this source",
            json!({"type": "string", "enum": ["blackboard-caliper", "brightspace-bds", "caliper", "xapi"]}),
        ),
        param(
            "role",
            "only this role bucket",
            json!({"type": "string", "enum": ["learner", "instructor", "teaching-assistant", "content-developer", "mentor", "administrator", "other"]}),
        ),
        param("tool", "only this tool id", s.clone()),
        param("course", "only this course key", s),
        param(
            "include_test_users",
            "count LTI test users and student-preview users too",
            json!({"type": "boolean", "default": false}),
        ),
    ]
}

fn report_path(kind: ReportKind) -> Value {
    let mut params = filter_params();
    let int = |min: i64| json!({"type": "integer", "minimum": min});
    params.extend([
        param(
            "visit_window_minutes",
            "repeated launches of the same link by the same user within this many minutes are one visit",
            int(1),
        ),
        param(
            "time_cap_minutes",
            "launch/return pairs longer than this are not time in tool",
            int(1),
        ),
        param(
            "dormant_days",
            "dormant: no launch in this many days",
            int(1),
        ),
        param(
            "format",
            "json (default) or csv (one section)",
            json!({"type": "string", "enum": ["json", "csv"]}),
        ),
        param(
            "section",
            "with format=csv: the section to download (default: the first)",
            json!({"type": "string", "enum": kind.sections().iter().map(|(n, _)| *n).collect::<Vec<_>>()}),
        ),
        param(
            "limit",
            "rows per section (default 1000, at most 10000); a CSV download is the whole section unless limit or offset is given",
            int(1),
        ),
        param("offset", "rows to skip per section", int(0)),
    ]);
    if kind == ReportKind::User {
        params.push(json!({"name": "user", "in": "query", "required": true,
            "description": "platform id, IRI/UUID or external id of the user (pseudonymised by the server when the PII policy is pseudonymise)",
            "schema": {"type": "string"}}));
    }
    let mut sections = serde_json::Map::new();
    for (name, columns) in kind.sections() {
        let mut props = serde_json::Map::new();
        for c in &columns {
            props.insert(c.name.to_owned(), column_schema(c.kind, c.doc));
        }
        sections.insert(
            name.to_owned(),
            json!({
                "type": "object",
                "required": ["columns", "total", "offset", "limit", "rows"],
                "properties": {
                    "columns": {"type": "array", "items": {"$ref": "#/components/schemas/Column"}},
                    "total": {"type": "integer", "description": "rows in the whole section"},
                    "offset": {"type": "integer"},
                    "limit": {"type": "integer"},
                    "rows": {"type": "array", "items": {"type": "object", "properties": props}},
                }
            }),
        );
    }
    let security = if kind == ReportKind::User {
        "needs an admin key"
    } else {
        "needs a read or admin key"
    };
    json!({
        "get": {
            "operationId": format!("report_{}", kind.name().replace('-', "_")),
            "summary": kind.summary(),
            "description": format!("{} report; {security}.", kind.name()),
            "tags": ["reports"],
            "parameters": params,
            "responses": {
                "200": {
                    "description": "the report",
                    "content": {
                        "application/json": {"schema": {
                            "type": "object",
                            "properties": {
                                "report": {"const": kind.name()},
                                "filter": {"type": "object"},
                                "previous": {"type": ["object", "null"], "description": "the previous period of equal length compared against"},
                                "sections": {"type": "object", "properties": sections},
                            }
                        }},
                        "text/csv": {"schema": {"type": "string"}}
                    }
                },
                "400": {"$ref": "#/components/responses/Error"},
                "401": {"$ref": "#/components/responses/Error"},
                "403": {"$ref": "#/components/responses/Error"},
            }
        }
    })
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for kind in ReportKind::ALL {
        paths.insert(
            format!("/api/v1/reports/{}", kind.name()),
            report_path(kind),
        );
    }
    let mut export_params = filter_params();
    export_params.push(param(
        "format",
        "file format",
        json!({"type": "string", "enum": ["csv", "jsonl", "parquet"], "default": "csv"}),
    ));
    paths.insert(
        "/api/v1/export/launches".into(),
        json!({"get": {
            "operationId": "export_launches",
            "summary": "every launch record (launch, return and use) of the filter, for a warehouse",
            "tags": ["exports"],
            "parameters": export_params,
            "responses": {
                "200": {"description": "the file", "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    "application/x-ndjson": {"schema": {"type": "string"}},
                    "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}}
                }},
                "400": {"$ref": "#/components/responses/Error"},
                "401": {"$ref": "#/components/responses/Error"}
            }
        }}),
    );
    paths.insert(
        "/api/v1/meta".into(),
        json!({"get": {
            "operationId": "meta",
            "summary": "filter choices (tools, tenants, sources, roles), the data span, report settings and the retention (keep_days)",
            "tags": ["reports"],
            "responses": {"200": {"description": "settings and choices", "content": {"application/json": {"schema": {"type": "object"}}}},
                          "401": {"$ref": "#/components/responses/Error"}}
        }}),
    );
    paths.insert(
        "/api/v1/openapi.json".into(),
        json!({"get": {"operationId": "openapi", "summary": "this document", "security": [],
                        "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}}}}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "ltiscope API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Which LTI tools are really used: the reports behind the ltiscope dashboard and CLI. Every report answers the same filters; counts below the configured threshold k are returned as the string \"<k\".",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "a read or admin key from `ltiscope keys create --kind read`"}},
            "schemas": {
                "Column": {"type": "object", "properties": {
                    "name": {"type": "string"},
                    "kind": {"type": "string", "enum": ["text", "count", "int", "float", "ratio", "time", "day"]}
                }},
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string", "description": "what went wrong and what to do"}}}
            },
            "responses": {
                "Error": {"description": "refused", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_report_and_column_is_documented() {
        let doc = document();
        for kind in ReportKind::ALL {
            let path = &doc["paths"][format!("/api/v1/reports/{}", kind.name())];
            for (section, columns) in kind.sections() {
                let props = &path["get"]["responses"]["200"]["content"]["application/json"]["schema"]
                    ["properties"]["sections"]["properties"][section]["properties"]["rows"]["items"]
                    ["properties"];
                for c in columns {
                    assert!(
                        props.get(c.name).is_some(),
                        "{} {section} {}",
                        kind.name(),
                        c.name
                    );
                }
            }
        }
    }
}
