//! Route handlers. Each ingest handler: authenticate, check content type and size, read and
//! inflate the body within its time limit, parse and redact on a blocking thread, queue for the
//! writer, answer once committed.

use crate::AppState;
use crate::error::ApiError;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ltiscope_ingest::Json;
use ltiscope_ingest::{Reason, RejectedBody};
use ltiscope_model::Source;
use ltiscope_store::{WriteBatch, WriteOutcome};
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

/// Caliper data versions accepted in an envelope's `dataVersion`.
const CALIPER_VERSIONS: &[&str] = &[
    "http://purl.imsglobal.org/ctx/caliper/v1p1",
    "http://purl.imsglobal.org/ctx/caliper/v1p2",
];

pub(crate) fn routes(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/caliper", get(caliper_config).post(caliper_post))
        .route(
            "/xapi/statements",
            axum::routing::post(xapi_post).put(xapi_put),
        )
        .route("/xapi/about", get(xapi_about))
        .route("/brightspace", axum::routing::post(brightspace_post))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/", get(crate::dashboard::index))
        .route("/assets/app.js", get(crate::dashboard::app_js))
        .route("/assets/app.css", get(crate::dashboard::app_css))
        .route("/assets/echarts.min.js", get(crate::dashboard::echarts))
        .route("/api/v1/reports/{name}", get(crate::api::report))
        .route("/api/v1/meta", get(crate::api::meta))
        .route("/api/v1/export/launches", get(crate::api::export))
        .route("/api/v1/openapi.json", get(crate::api::openapi))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found() -> Response {
    let body = serde_json::json!({"error": "no such endpoint: send events to POST /caliper, /xapi/statements or /brightspace; reports are under /api/v1 (see /api/v1/openapi.json), the dashboard at /"});
    (StatusCode::NOT_FOUND, body.to_string()).into_response()
}

async fn readyz(State(s): State<Arc<AppState>>) -> Response {
    // Ready when the store takes a write: an empty batch goes through the writer queue and a
    // real commit, so a full queue, a stopped writer or a failing disk all answer 503.
    let probe = WriteBatch {
        origin: "readyz".into(),
        ..WriteBatch::default()
    };
    let committed = match s.writer.submit(probe) {
        Ok(rx) => matches!(
            tokio::time::timeout(std::time::Duration::from_secs(5), rx).await,
            Ok(Ok(Ok(_)))
        ),
        Err(_) => false,
    };
    if committed {
        (StatusCode::OK, "ready: the store accepts writes\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the store did not accept a write (queue full, writer stopped or disk failing)\n",
        )
            .into_response()
    }
}

async fn metrics(State(s): State<Arc<AppState>>) -> Response {
    let mut r = s.metrics.render().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

async fn caliper_config(State(s): State<Arc<AppState>>) -> Response {
    axum::Json(serde_json::json!({
        "caliperSupportedVersions": CALIPER_VERSIONS,
        "caliperMaximumPayloadSize": s.limits.max_body_bytes,
    }))
    .into_response()
}

/// Which endpoint a request came to, for metrics, scopes and quarantine origins.
#[derive(Clone, Copy)]
enum Endpoint {
    Caliper,
    Xapi,
    Brightspace,
}

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Endpoint::Caliper => "caliper",
            Endpoint::Xapi => "xapi",
            Endpoint::Brightspace => "brightspace",
        }
    }

    /// Key scopes (`ingest:<family>`) allowed here.
    fn allows(self, scope: &crate::auth::Scope) -> bool {
        match self {
            // Blackboard and any other Caliper sensor post here.
            Endpoint::Caliper => scope.may_ingest("caliper") || scope.may_ingest("blackboard"),
            Endpoint::Xapi => scope.may_ingest("xapi") || scope.may_ingest("brightspace"),
            Endpoint::Brightspace => scope.may_ingest("brightspace"),
        }
    }

    fn source_hint(self) -> Option<Source> {
        match self {
            Endpoint::Caliper => None,
            Endpoint::Xapi => None,
            Endpoint::Brightspace => Some(Source::BrightspaceBds),
        }
    }
}

fn authenticate(s: &AppState, headers: &HeaderMap, endpoint: Endpoint) -> Result<(), ApiError> {
    let ring = s.keys.current();
    let entry = ring.for_request(headers).ok_or(ApiError::Unauthorized)?;
    if endpoint.allows(&entry.scope) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("send events to this endpoint"))
    }
}

fn check_content_type(headers: &HeaderMap, required: bool) -> Result<(), ApiError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return if required {
            Err(ApiError::UnsupportedMediaType(
                "missing Content-Type: send application/json".into(),
            ))
        } else {
            Ok(())
        };
    };
    let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
    let mime = ct.split(';').next().unwrap_or("").trim();
    match mime {
        "application/json"
        | "application/ld+json"
        | "application/x-ndjson"
        | "application/jsonl"
        | "application/json-seq"
        | "text/plain" => Ok(()),
        other => Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type {other:?} is not accepted: send application/json"
        ))),
    }
}

/// Reads the body within the time and size limits and inflates gzip.
async fn read_body(s: &AppState, headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let max = s.limits.max_body_bytes;
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > max
    {
        return Err(ApiError::TooLarge(max));
    }
    let bytes =
        match tokio::time::timeout(s.limits.body_timeout, axum::body::to_bytes(body, max)).await {
            Err(_) => return Err(ApiError::Timeout),
            Ok(Err(e)) => {
                let too_large = e
                    .into_inner()
                    .downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some();
                return Err(if too_large {
                    ApiError::TooLarge(max)
                } else {
                    ApiError::BadRequest("the request body could not be read completely".into())
                });
            }
            Ok(Ok(b)) => b,
        };
    match headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("identity") | Some("") => Ok(bytes),
        Some("gzip") | Some("x-gzip") => {
            let inflated_max = s.limits.max_inflated_bytes;
            let inflated = on_parser(move || ltiscope_ingest::gunzip(&bytes, inflated_max)).await?;
            match inflated {
                Ok(b) => Ok(Bytes::from(b)),
                Err(ltiscope_ingest::DecodeError::TooLarge(n)) => Err(ApiError::TooLarge(n)),
                Err(e) => Err(ApiError::BadRequest(e.to_string())),
            }
        }
        Some(other) => Err(ApiError::UnsupportedMediaType(format!(
            "Content-Encoding {other:?} is not accepted: send gzip or nothing"
        ))),
    }
}

/// Queues a batch and waits for its commit.
async fn commit(s: &AppState, batch: WriteBatch) -> Result<WriteOutcome, ApiError> {
    let rx = s
        .writer
        .submit(batch)
        .map_err(|_| ApiError::Overloaded(s.limits.retry_after_seconds))?;
    match rx.await {
        Ok(Ok(outcome)) => Ok(outcome),
        Ok(Err(_)) | Err(_) => Err(ApiError::Unavailable),
    }
}

/// What a body became, ready to commit; a body that cannot be taken apart is quarantined
/// instead and answered 400 with the reason.
async fn ready<T>(s: &AppState, endpoint: Endpoint, decoded: Decoded<T>) -> Result<T, ApiError> {
    let (body, reason) = match decoded {
        Decoded::Ready(ready) => return Ok(ready),
        Decoded::Quarantine(body, reason) => (body, reason),
    };
    let message = reason.to_string();
    let batch = s.pipeline.quarantine_body(
        body,
        reason,
        endpoint.source_hint(),
        chrono::Utc::now(),
        endpoint.name(),
    );
    commit(s, batch).await?;
    Err(ApiError::BadRequest(format!(
        "{message} (the body was quarantined)"
    )))
}

/// How many requests are decoded, parsed and redacted at once: one per core.
static PARSERS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
});

/// Runs CPU-bound request work (inflating, parsing, redacting) on a blocking thread, never on
/// the async workers (parsing alone takes ~6 µs per Blackboard event, 0.6 ms an envelope of
/// 100, which they owe to the other connections), and at most one request per core at a time,
/// in arrival order (the semaphore is fair): 32 requests parsed at once on two cores would
/// each take 16 times as long, with 32 parsed envelopes in memory.
async fn on_parser<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let _permit = PARSERS.acquire().await.map_err(|_| ApiError::Unavailable)?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| ApiError::Unavailable)
}

/// What a JSON body became on the parser.
enum Decoded<T> {
    /// Ready to commit.
    Ready(T),
    /// Not JSON, or not the shape the endpoint takes: quarantined whole, answered 400.
    Quarantine(RejectedBody, Reason),
}

/// Parses a JSON body and hands the value to `then`, in one turn on a parser (see
/// [`on_parser`]): the parsed tree never waits for a second turn.
async fn on_parser_json<T: Send + 'static>(
    bytes: Bytes,
    then: impl FnOnce(Json) -> Result<Decoded<T>, ApiError> + Send + 'static,
) -> Result<Decoded<T>, ApiError> {
    on_parser(move || match ltiscope_ingest::json_value(&bytes) {
        Ok(v) => then(v),
        Err(e) => Ok(Decoded::Quarantine(
            RejectedBody::Text(String::from_utf8_lossy(&bytes).into_owned()),
            Reason::NotJson(e.to_string()),
        )),
    })
    .await?
}

/// Wraps a handler body: timing, metrics and error rendering in one place.
async fn respond<F>(s: &Arc<AppState>, endpoint: Endpoint, f: F) -> Response
where
    F: Future<Output = Result<Response, ApiError>>,
{
    let started = Instant::now();
    let response = match f.await {
        Ok(r) => r,
        Err(e) => {
            let status = e.status();
            if status.is_server_error() {
                tracing::warn!(endpoint = endpoint.name(), %status, "request refused");
            }
            e.into_response()
        }
    };
    s.metrics.record_response(
        endpoint.name(),
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

async fn caliper_post(State(s): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let st = Arc::clone(&s);
    respond(&s, Endpoint::Caliper, async move {
        authenticate(&st, &headers, Endpoint::Caliper)?;
        check_content_type(&headers, true)?;
        let bytes = read_body(&st, &headers, body).await?;
        let pipeline = st.clone();
        let decoded = on_parser_json(bytes, move |value| {
            if value.get("data").is_none() {
                let reason = Reason::InvalidField {
                    field: "data".into(),
                    expected: "present: POST /caliper takes a Caliper envelope {sensor, sendTime, dataVersion, data}",
                };
                return Ok(Decoded::Quarantine(RejectedBody::Json(value), reason));
            }
            if let Some(version) = value.get("dataVersion").and_then(Json::as_str)
                && !CALIPER_VERSIONS.contains(&version)
            {
                return Err(ApiError::Unprocessable(format!(
                    "dataVersion {version:?} is not supported: send one of {}",
                    CALIPER_VERSIONS.join(", ")
                )));
            }
            Ok(Decoded::Ready(pipeline.pipeline.prepare_value(
                value,
                None,
                chrono::Utc::now(),
                Endpoint::Caliper.name(),
            )))
        })
        .await?;
        let batch = ready(&st, Endpoint::Caliper, decoded).await?;
        commit(&st, batch).await?;
        // The Caliper endpoint rules: 200 with an empty body; senders treat anything else as failure.
        Ok(StatusCode::OK.into_response())
    })
    .await
}

async fn brightspace_post(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let st = Arc::clone(&s);
    respond(&s, Endpoint::Brightspace, async move {
        authenticate(&st, &headers, Endpoint::Brightspace)?;
        check_content_type(&headers, false)?;
        let bytes = read_body(&st, &headers, body).await?;
        let pipeline = st.clone();
        let batch = on_parser(move || {
            pipeline.pipeline.prepare(
                &bytes,
                Endpoint::Brightspace.source_hint(),
                chrono::Utc::now(),
                Endpoint::Brightspace.name(),
            )
        })
        .await?;
        let whole_body_bad = batch.events.is_empty()
            && batch.rejected.len() == 1
            && batch.rejected[0].get().reason.code() == "not_json";
        let message = whole_body_bad.then(|| batch.rejected[0].get().reason.to_string());
        let outcome = commit(&st, batch).await?;
        if let Some(m) = message {
            return Err(ApiError::BadRequest(format!(
                "{m} (the body was quarantined)"
            )));
        }
        Ok(axum::Json(serde_json::json!({
            "accepted": outcome.launches + outcome.non_lti,
            "duplicates": outcome.duplicates,
            "quarantined": outcome.quarantined,
        }))
        .into_response())
    })
    .await
}

/// The xAPI version a request speaks, from `X-Experience-API-Version` (required by xAPI).
fn xapi_version(headers: &HeaderMap) -> Result<&'static str, ApiError> {
    let v = headers
        .get("x-experience-api-version")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::BadRequest(
                "missing X-Experience-API-Version header: send 1.0.3 or 2.0.0".into(),
            )
        })?;
    if v.starts_with("1.0") {
        Ok("1.0.3")
    } else if v.starts_with("2.0") {
        Ok("2.0.0")
    } else {
        Err(ApiError::BadRequest(format!(
            "X-Experience-API-Version {v:?} is not supported: send 1.0.x or 2.0.x"
        )))
    }
}

fn with_xapi_version(mut r: Response, version: &'static str) -> Response {
    r.headers_mut().insert(
        "x-experience-api-version",
        HeaderValue::from_static(version),
    );
    r
}

/// Gives every statement an id (xAPI: the LRS assigns missing ones) and returns them in order.
fn assign_ids(statements: &mut [Json]) -> Result<Vec<String>, ApiError> {
    statements
        .iter_mut()
        .map(|st| {
            let Json::Object(map) = st else {
                return Err(ApiError::BadRequest(
                    "every statement must be a JSON object".into(),
                ));
            };
            match map.get("id") {
                Some(Json::String(id)) => Ok(id.clone()),
                None | Some(Json::Null) => {
                    let id = uuid::Uuid::new_v4().to_string();
                    map.insert("id".into(), Json::String(id.clone()));
                    Ok(id)
                }
                Some(_) => Err(ApiError::BadRequest(
                    "statement id must be a string UUID".into(),
                )),
            }
        })
        .collect()
}

/// Parses and redacts statements (on the parser's turn that parsed them).
fn prepare_statements(st: &AppState, statements: Vec<Json>) -> WriteBatch {
    st.pipeline.prepare_value(
        Json::Array(statements),
        None,
        chrono::Utc::now(),
        Endpoint::Xapi.name(),
    )
}

async fn xapi_post(State(s): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let st = Arc::clone(&s);
    respond(&s, Endpoint::Xapi, async move {
        authenticate(&st, &headers, Endpoint::Xapi)?;
        let version = xapi_version(&headers)?;
        check_content_type(&headers, true)?;
        let bytes = read_body(&st, &headers, body).await?;
        let pipeline = st.clone();
        let decoded = on_parser_json(bytes, move |value| {
            let mut statements = match value {
                Json::Array(a) => a,
                single @ Json::Object(_) => vec![single],
                other => {
                    return Ok(Decoded::Quarantine(
                        RejectedBody::Json(other),
                        Reason::NotAnObject("a statement that is not an object"),
                    ));
                }
            };
            let ids = assign_ids(&mut statements)?;
            Ok(Decoded::Ready((
                ids,
                prepare_statements(&pipeline, statements),
            )))
        })
        .await?;
        let (ids, batch) = ready(&st, Endpoint::Xapi, decoded).await?;
        commit(&st, batch).await?;
        Ok(with_xapi_version(axum::Json(ids).into_response(), version))
    })
    .await
}

#[derive(serde::Deserialize)]
struct PutQuery {
    #[serde(rename = "statementId")]
    statement_id: Option<String>,
}

async fn xapi_put(
    State(s): State<Arc<AppState>>,
    Query(query): Query<PutQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let st = Arc::clone(&s);
    respond(&s, Endpoint::Xapi, async move {
        authenticate(&st, &headers, Endpoint::Xapi)?;
        let version = xapi_version(&headers)?;
        check_content_type(&headers, true)?;
        let id = query
            .statement_id
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                ApiError::BadRequest("PUT /xapi/statements needs ?statementId=<uuid>".into())
            })?;
        let bytes = read_body(&st, &headers, body).await?;
        let pipeline = st.clone();
        let decoded = on_parser_json(bytes, move |mut value| {
            let Json::Object(map) = &mut value else {
                return Err(ApiError::BadRequest(
                    "PUT takes a single statement object".into(),
                ));
            };
            match map.get("id").and_then(Json::as_str) {
                Some(body_id) if !body_id.eq_ignore_ascii_case(&id) => {
                    return Err(ApiError::Conflict(format!(
                        "statement id {body_id:?} differs from statementId {id:?}"
                    )));
                }
                _ => {
                    map.insert("id".into(), Json::String(id));
                }
            }
            Ok(Decoded::Ready(prepare_statements(&pipeline, vec![value])))
        })
        .await?;
        let batch = ready(&st, Endpoint::Xapi, decoded).await?;
        commit(&st, batch).await?;
        Ok(with_xapi_version(
            StatusCode::NO_CONTENT.into_response(),
            version,
        ))
    })
    .await
}

async fn xapi_about() -> Response {
    with_xapi_version(
        axum::Json(serde_json::json!({"version": ["1.0.3", "2.0.0"]})).into_response(),
        "1.0.3",
    )
}

#[cfg(test)]
mod tests {
    use super::on_parser;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// However many requests arrive at once, no more than one per core is parsed at a time,
    /// and every one of them gets its turn (each runs its work exactly once).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn requests_are_parsed_one_per_core_at_a_time() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let ran = Arc::new(std::sync::Mutex::new(Vec::new()));
        let tasks: Vec<_> = (0..cores * 8)
            .map(|i| {
                let (now, most, ran) = (Arc::clone(&now), Arc::clone(&most), Arc::clone(&ran));
                tokio::spawn(on_parser(move || {
                    let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(running, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    ran.lock().expect("lock").push(i);
                    now.fetch_sub(1, Ordering::SeqCst);
                    i
                }))
            })
            .collect();
        let mut done = Vec::new();
        for t in tasks {
            done.push(t.await.expect("task").expect("parsed"));
        }
        // Awaited in spawn order, so `done` is in order whatever ran when; what ran (in the
        // order it ran) must be every task exactly once.
        assert_eq!(done, (0..cores * 8).collect::<Vec<_>>());
        let mut ran = ran.lock().expect("lock").clone();
        ran.sort_unstable();
        assert_eq!(ran, (0..cores * 8).collect::<Vec<_>>());
        let most = most.load(Ordering::SeqCst);
        assert!(
            (1..=cores).contains(&most),
            "{most} parsed at once on {cores} cores"
        );
    }
}
