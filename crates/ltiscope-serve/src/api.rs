//! The reports API under `/api/v1`: the same read path as `ltiscope report`
//! (`ltiscope_report::run`), answered as JSON or CSV, plus exports and the OpenAPI document.
//!
//! Every route needs a read or admin key (`Authorization: Bearer <key>`); the user report needs
//! an admin key. Reads run on a small pool of database handles on blocking threads, beside the
//! writer, so reports never wait for ingest and never block the async runtime.

use crate::AppState;
use crate::auth::Scope;
use crate::error::ApiError;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use ltiscope_model::report::{Params, Question, ReportFilter, Tuning};
use ltiscope_model::{RoleBucket, Source, Timestamp};
use ltiscope_report::{Format, Options, Render, Report, ReportKind, Request, parse_time_bound};
use ltiscope_store::{ExportFormat, Store};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Database handles for reads, lent out one request at a time.
///
/// Dropping the pool closes the handles on a plain thread: a PostgreSQL handle blocks on its
/// driver's own runtime when it closes, which panics on an async runtime's thread (where the
/// last reference to the state usually goes).
pub struct Readers {
    pool: Mutex<Vec<Store>>,
    permits: Semaphore,
}

impl Drop for Readers {
    fn drop(&mut self) {
        let stores = std::mem::take(
            self.pool
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if !stores.is_empty() {
            let _ = std::thread::spawn(move || drop(stores)).join();
        }
    }
}

impl Readers {
    /// A pool of handles (from `Store::reader`).
    pub fn new(stores: Vec<Store>) -> Self {
        let n = stores.len();
        Readers {
            pool: Mutex::new(stores),
            permits: Semaphore::new(n),
        }
    }

    /// Runs `f` with a handle on a blocking thread.
    pub async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ApiError::Unavailable)?;
        let store = self
            .pool
            .lock()
            .map_err(|_| ApiError::Unavailable)?
            .pop()
            .ok_or(ApiError::Unavailable)?;
        let (store, out) = tokio::task::spawn_blocking(move || {
            let out = f(&store);
            (store, out)
        })
        .await
        .map_err(|_| ApiError::Internal)?;
        if let Ok(mut pool) = self.pool.lock() {
            pool.push(store);
        }
        Ok(out)
    }
}

/// Runs `f` with a read handle once every event acknowledged before the request is in the
/// tables reports read (see `Writer::settled`), so a report never misses what was just sent.
async fn read<T: Send + 'static>(
    s: &AppState,
    f: impl FnOnce(&Store) -> T + Send + 'static,
) -> Result<T, ApiError> {
    s.writer.settled().await;
    s.reads.readers.with(f).await
}

/// How reports are computed: the pool, display options and default tuning.
pub struct ReadSide {
    /// Handles to read through.
    pub readers: Readers,
    /// Time zone and small-cell suppression.
    pub options: Options,
    /// Default visit window, time cap and dormant days (`as_of` is replaced per request).
    pub defaults: Params,
    /// The collector's retention in whole days (`serve --keep-days`), shown to readers so an
    /// empty past is not taken for missing data; `None` keeps everything.
    pub keep_days: Option<u32>,
}

/// Query parameters of every report and export.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ReportQuery {
    from: Option<String>,
    to: Option<String>,
    tenant: Option<String>,
    source: Option<String>,
    role: Option<String>,
    tool: Option<String>,
    course: Option<String>,
    include_test_users: Option<bool>,
    visit_window_minutes: Option<i64>,
    time_cap_minutes: Option<i64>,
    dormant_days: Option<i64>,
    user: Option<String>,
    format: Option<String>,
    section: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl ReportQuery {
    fn filter(&self, opts: &Options) -> Result<ReportFilter, ApiError> {
        let time = |name: &str, v: &Option<String>| -> Result<Option<Timestamp>, ApiError> {
            nonempty(v)
                .map(|s| {
                    parse_time_bound(s, opts.timezone)
                        .map_err(|e| ApiError::BadRequest(format!("{name}: {e}")))
                })
                .transpose()
        };
        let source = nonempty(&self.source)
            .map(|s| {
                s.parse::<Source>()
                    .map_err(|e| ApiError::BadRequest(format!("source: {e}")))
            })
            .transpose()?;
        let role = nonempty(&self.role)
            .map(|s| {
                RoleBucket::parse(s).ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "role {s:?} is unknown: use learner, instructor, teaching-assistant, content-developer, mentor, administrator or other"
                    ))
                })
            })
            .transpose()?;
        let f = ReportFilter {
            from: time("from", &self.from)?,
            to: time("to", &self.to)?,
            tenant: nonempty(&self.tenant).map(str::to_owned),
            source,
            role,
            tool: nonempty(&self.tool).map(str::to_owned),
            course: nonempty(&self.course).map(str::to_owned),
            include_test_users: self.include_test_users.unwrap_or(false),
        };
        if let (Some(a), Some(b)) = (f.from, f.to)
            && b <= a
        {
            return Err(ApiError::BadRequest(
                "to must be after from (from is inclusive, to exclusive)".into(),
            ));
        }
        Ok(f)
    }

    fn params(&self, defaults: &Params) -> Result<Params, ApiError> {
        let mut p = defaults.clone();
        p.as_of = chrono::Utc::now();
        p.tune(&Tuning {
            visit_window_minutes: self.visit_window_minutes,
            time_cap_minutes: self.time_cap_minutes,
            dormant_days: self.dormant_days,
        })
        .map_err(ApiError::BadRequest)?;
        Ok(p)
    }
}

/// The scope of the presented key, if it may read.
fn reader_scope(s: &AppState, headers: &HeaderMap) -> Result<Scope, ApiError> {
    let ring = s.keys.current();
    let entry = ring.for_request(headers).ok_or(ApiError::Unauthorized)?;
    match entry.scope {
        Scope::Read | Scope::Admin => Ok(entry.scope.clone()),
        Scope::Ingest(_) => Err(ApiError::Forbidden(
            "read reports: use a read or admin key (`ltiscope keys create --kind read`)",
        )),
    }
}

/// Largest page of rows per section.
const MAX_LIMIT: usize = 10_000;

impl ReportQuery {
    /// The page of rows per section asked for: (offset, limit), 1,000 rows by default.
    fn page(&self) -> (usize, usize) {
        (
            self.offset.unwrap_or(0),
            self.limit.unwrap_or(1000).clamp(1, MAX_LIMIT),
        )
    }
}

/// `GET /api/v1/reports/{name}`.
pub(crate) async fn report(
    State(s): State<Arc<AppState>>,
    Path(name): Path<String>,
    q: Result<Query<ReportQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let scope = reader_scope(&s, &headers)?;
    let Query(q) = q?;
    let kind = ReportKind::parse(&name).ok_or_else(|| {
        let names: Vec<&str> = ReportKind::ALL.iter().map(|k| k.name()).collect();
        ApiError::NotFound(format!(
            "no report {name:?}: choose one of {}",
            names.join(", ")
        ))
    })?;
    let reads = &s.reads;
    let filter = q.filter(&reads.options)?;
    let mut params = q.params(&reads.defaults)?;
    if kind == ReportKind::User {
        if scope != Scope::Admin {
            return Err(ApiError::Forbidden(
                "read one user's launches: that needs an admin key",
            ));
        }
        let user = nonempty(&q.user)
            .ok_or_else(|| ApiError::BadRequest("the user report needs ?user=<id>".into()))?;
        params.user = Some(s.pipeline.redactor.stored_user_id(user));
    }
    let format = match nonempty(&q.format) {
        None | Some("json") => Format::Json,
        Some("csv") => Format::Csv,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "format {other:?} is unknown: use json or csv"
            )));
        }
    };
    let options = reads.options.clone();
    let request = Request {
        kind,
        filter,
        params,
    };
    let report = read(&s, move |store| {
        ltiscope_report::run(store, &request, &options)
    })
    .await?
    .map_err(|e| match e {
        ltiscope_report::ReportError::Missing { .. } => ApiError::BadRequest(e.to_string()),
        ltiscope_report::ReportError::UnknownTool { .. } => {
            ApiError::NotFound(format!("{e}: the tools report lists the tool ids"))
        }
        ltiscope_report::ReportError::UnknownCourse { .. } => {
            ApiError::NotFound(format!("{e}: the courses report lists the course keys"))
        }
        ltiscope_report::ReportError::Store(e) => {
            tracing::error!(error = %e, report = kind.name(), "report failed");
            ApiError::Internal
        }
    })?;
    match format {
        Format::Csv => {
            let table = report
                .csv_section(nonempty(&q.section))
                .map_err(ApiError::BadRequest)?;
            let filename = format!("ltiscope-{}-{}.csv", kind.name(), table.title);
            // The whole section (a download), or the page asked for with limit or offset.
            let csv = if q.limit.is_none() && q.offset.is_none() {
                table.to_csv()
            } else {
                let (offset, limit) = q.page();
                Report::page(table, offset, limit).to_csv()
            };
            Ok(attachment(csv.into(), "text/csv; charset=utf-8", &filename))
        }
        _ => {
            let (offset, limit) = q.page();
            Ok(axum::Json(report_json(&report, offset, limit)).into_response())
        }
    }
}

/// The API's JSON for a report: the filter answered, the previous period, and each section
/// with its columns, total row count and one page of rows.
pub fn report_json(report: &Report, offset: usize, limit: usize) -> Value {
    let time = |t: Option<Timestamp>| {
        t.map_or(Value::Null, |t| {
            json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        })
    };
    let f = &report.filter;
    let mut sections = serde_json::Map::new();
    for t in &report.sections {
        let page = Report::page(t, offset, limit);
        sections.insert(
            t.title.clone(),
            json!({
                "columns": t.columns.iter().map(|c| json!({"name": c.name, "kind": crate::openapi::kind_name(c.kind)})).collect::<Vec<_>>(),
                "total": t.rows.len(),
                "offset": offset,
                "limit": limit,
                "rows": page.to_json(),
            }),
        );
    }
    json!({
        "report": report.kind.name(),
        "filter": {
            "from": time(f.from),
            "to": time(f.to),
            "tenant": f.tenant,
            "source": f.source.map(Source::as_str),
            "role": f.role.map(|r| r.as_str()),
            "tool": f.tool,
            "course": f.course,
            "include_test_users": f.include_test_users,
        },
        "previous": report.previous.map(|(a, b)| json!({"from": time(Some(a)), "to": time(Some(b))})),
        "sections": sections,
    })
}

fn attachment(body: Body, media_type: &'static str, filename: &str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// `GET /api/v1/meta`: what the dashboard needs for its filters.
pub(crate) async fn meta(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let scope = reader_scope(&s, &headers)?;
    let defaults = s.reads.defaults.clone();
    let (tools, tenants, span) = read(&s, move |store| {
        let all = ReportFilter::default();
        let mut p = defaults;
        p.as_of = chrono::Utc::now();
        Ok::<_, ltiscope_store::StoreError>((
            store.answer(Question::ToolCounts, &all, &p)?,
            store.answer(Question::Tenants, &all, &p)?,
            store.answer(Question::Span, &all, &p)?,
        ))
    })
    .await?
    .map_err(|e| {
        tracing::error!(error = %e, "meta failed");
        ApiError::Internal
    })?;
    let d = &s.reads.defaults;
    Ok(axum::Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "admin": scope == Scope::Admin,
        "timezone": s.reads.options.timezone.name(),
        "suppress_below": s.reads.options.suppress_below,
        "keep_days": s.reads.keep_days,
        "visit_window_minutes": d.visit_window_secs / 60,
        "time_cap_minutes": d.time_cap_secs / 60,
        "dormant_days": d.dormant_days,
        "sources": Source::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "roles": ["learner", "instructor", "teaching-assistant", "content-developer", "mentor", "administrator", "other"],
        "reports": ReportKind::ALL.iter().map(|k| json!({"name": k.name(), "summary": k.summary()})).collect::<Vec<_>>(),
        "tools": tools.to_json(),
        "tenants": tenants.to_json(),
        "span": span.to_json().get(0).cloned().unwrap_or(Value::Null),
    }))
    .into_response())
}

/// `GET /api/v1/export/launches`: every launch record of the filter as CSV, JSON Lines or
/// Parquet, written to a temporary file by the store and streamed from it.
pub(crate) async fn export(
    State(s): State<Arc<AppState>>,
    q: Result<Query<ReportQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    reader_scope(&s, &headers)?;
    let Query(q) = q?;
    let filter = q.filter(&s.reads.options)?;
    let format = match nonempty(&q.format) {
        None => ExportFormat::Csv,
        Some(f) => ExportFormat::parse(f).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "format {f:?} is unknown: use csv, jsonl or parquet"
            ))
        })?,
    };
    let file = read(&s, move |store| -> Result<std::fs::File, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join(format!("export.{}", format.extension()));
        store
            .export_launches(&filter, format, &path)
            .map_err(|e| e.to_string())?;
        // Open, then let the directory go: the open file stays readable until streamed.
        std::fs::File::open(&path).map_err(|e| e.to_string())
    })
    .await?
    .map_err(|e| {
        tracing::error!(error = %e, "export failed");
        ApiError::Internal
    })?;
    let file = tokio::fs::File::from_std(file);
    let stream = futures_util::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 256 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    Ok(attachment(
        Body::from_stream(stream),
        format.media_type(),
        &format!("ltiscope-launches.{}", format.extension()),
    ))
}

/// `GET /api/v1/openapi.json`.
pub(crate) async fn openapi() -> Response {
    axum::Json(crate::openapi::document()).into_response()
}
