//! The collector in process (`Router` + `oneshot`): every endpoint, every refusal, and what
//! ends up stored once the writer has drained.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use ltiscope_ingest::ToolResolver;
use ltiscope_model::report::{Params, Question, ReportFilter, Table};
use ltiscope_pipeline::Pipeline;
use ltiscope_redact::{PiiPolicy, Redactor};
use ltiscope_serve::auth::{KeyRing, Keys, hash_key};
use ltiscope_serve::metrics::Metrics;
use ltiscope_serve::writer::{Writer, WriterConfig};
use ltiscope_serve::{AppState, Limits, router};
use ltiscope_store::Store;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const SEED: &[u8] = include_bytes!("seed-envelope.json");
const KEY: &str = "lts_test-key-blackboard-0000000000000000";
const XAPI_KEY: &str = "lts_test-key-xapi-00000000000000000000000";
const READ_KEY: &str = "lts_test-key-read-00000000000000000000000";
const BDS_KEY: &str = "lts_test-key-brightspace-000000000000000";
const ADMIN_KEY: &str = "lts_test-key-admin-0000000000000000000000";

fn answer(store: &Store, q: Question) -> Table {
    store
        .answer(
            q,
            &ReportFilter::default(),
            &Params::new(chrono::Utc::now()),
        )
        .expect("answer")
}

struct Harness {
    _dir: tempfile::TempDir,
    state: Option<Arc<AppState>>,
    writer: Option<std::thread::JoinHandle<Store>>,
}

impl Harness {
    fn new(limits: Limits) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_duckdb(&dir.path().join("t.duckdb")).expect("open");
        let readers = vec![
            store.reader().expect("reader"),
            store.reader().expect("reader"),
        ];
        let metrics = Arc::new(Metrics::default());
        let (writer, handle) = Writer::spawn(
            store,
            WriterConfig {
                queue: 64,
                window: Duration::from_millis(2),
                max_group_events: 10_000,
            },
            Arc::clone(&metrics),
        )
        .expect("writer");
        let keys = Keys::new(KeyRing::new([
            (1, "learn".into(), "ingest:blackboard".into(), hash_key(KEY)),
            (2, "lrs".into(), "ingest:xapi".into(), hash_key(XAPI_KEY)),
            (3, "reader".into(), "read".into(), hash_key(READ_KEY)),
            (
                4,
                "bds".into(),
                "ingest:brightspace".into(),
                hash_key(BDS_KEY),
            ),
            (5, "admin".into(), "admin".into(), hash_key(ADMIN_KEY)),
        ]));
        let pipeline = Pipeline::new(
            ToolResolver::default(),
            Redactor::new(PiiPolicy::Minimise, None).expect("redactor"),
        );
        let state = Arc::new(AppState {
            pipeline,
            writer,
            keys,
            metrics,
            limits,
            reads: ltiscope_serve::api::ReadSide {
                readers: ltiscope_serve::api::Readers::new(readers),
                options: ltiscope_report::Options::default(),
                defaults: Params::new(chrono::Utc::now()),
                keep_days: None,
            },
        });
        Harness {
            _dir: dir,
            state: Some(state),
            writer: Some(handle),
        }
    }

    async fn send(&self, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
        let app = router(Arc::clone(self.state.as_ref().expect("running")));
        let resp = app.oneshot(req).await.expect("response");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    /// Stops the writer (it drains first) and returns the store to inspect.
    fn finish(mut self) -> Store {
        drop(self.state.take());
        self.writer
            .take()
            .expect("writer")
            .join()
            .expect("writer thread")
    }
}

impl Drop for Harness {
    /// A test that does not `finish` still waits for the writer (and the inbox mover behind
    /// it) to stop: a thread still inside DuckDB when the test process exits crashes it.
    fn drop(&mut self) {
        drop(self.state.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

fn caliper(body: &[u8], auth: Option<&str>, content_type: &str) -> Request<Body> {
    let mut b = Request::post("/caliper").header(header::CONTENT_TYPE, content_type);
    if let Some(a) = auth {
        b = b.header(header::AUTHORIZATION, a);
    }
    b.body(Body::from(body.to_vec())).expect("request")
}

#[tokio::test]
async fn blackboard_envelope_is_stored_with_an_empty_200_bearer_or_bare() {
    let h = Harness::new(Limits::default());
    let (status, _, body) = h
        .send(caliper(
            SEED,
            Some(&format!("Bearer {KEY}")),
            "application/json",
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "", "Caliper senders want an empty body");
    // The bare key (as some Learn versions send it) works too; the retry is a duplicate.
    let (status, _, _) = h
        .send(caliper(SEED, Some(KEY), "application/json; charset=utf-8"))
        .await;
    assert_eq!(status, StatusCode::OK);
    // Repeats of stored events are counted when the collector moves them into the database
    // (on DuckDB, right behind the acknowledgement): the count arrives within moments.
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = h
            .send(Request::get("/metrics").body(Body::empty()).expect("req"))
            .await
            .2;
        if metrics.contains("ltiscope_events_duplicate_total{endpoint=\"caliper\"} 2") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        metrics.contains("ltiscope_events_duplicate_total{endpoint=\"caliper\"} 2"),
        "{metrics}"
    );
    let store = h.finish();
    assert_eq!(answer(&store, Question::Tools).int(0, "launches"), Some(1));
}

#[tokio::test]
async fn refusals_have_the_right_status_and_say_why() {
    let h = Harness::new(Limits {
        max_body_bytes: 64 * 1024,
        max_inflated_bytes: 256 * 1024,
        ..Limits::default()
    });
    let auth = format!("Bearer {KEY}");
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (caliper(SEED, None, "application/json"), StatusCode::UNAUTHORIZED, "API key"),
        (caliper(SEED, Some("Bearer lts_wrong"), "application/json"), StatusCode::UNAUTHORIZED, "API key"),
        (caliper(SEED, Some(&format!("Bearer {READ_KEY}")), "application/json"), StatusCode::FORBIDDEN, "may not"),
        (caliper(SEED, Some(&auth), "text/html"), StatusCode::UNSUPPORTED_MEDIA_TYPE, "application/json"),
        (caliper(b"{\"sensor\": \"x\", \"data\": [", Some(&auth), "application/json"), StatusCode::BAD_REQUEST, "quarantined"),
        (caliper(b"{\"hello\": 1}", Some(&auth), "application/json"), StatusCode::BAD_REQUEST, "envelope"),
        (caliper(b"{\"sensor\": \"x\", \"dataVersion\": \"http://purl.imsglobal.org/ctx/caliper/v9\", \"data\": []}", Some(&auth), "application/json"), StatusCode::UNPROCESSABLE_ENTITY, "dataVersion"),
        (caliper(&vec![b' '; 70 * 1024], Some(&auth), "application/json"), StatusCode::PAYLOAD_TOO_LARGE, "smaller batches"),
        (caliper(&[0xff, 0xfe, 0x00, 0x7b], Some(&auth), "application/json"), StatusCode::BAD_REQUEST, "JSON"),
        (Request::delete("/caliper").body(Body::empty()).expect("req"), StatusCode::METHOD_NOT_ALLOWED, ""),
        (Request::get("/nowhere").body(Body::empty()).expect("req"), StatusCode::NOT_FOUND, "no such endpoint"),
    ];
    // Deep nesting (serde_json stops at depth 128) and a huge string inside the size cap.
    let deep = format!(
        "{{\"sensor\": \"x\", \"data\": {}{}}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let huge = format!(
        "{{\"sensor\": \"x\", \"data\": [{{\"type\": \"ViewEvent\", \"action\": \"Viewed\", \"actor\": \"https://x.edu/u\", \"object\": \"https://x.edu/o\", \"eventTime\": \"{}\"}}]}}",
        "9".repeat(50 * 1024)
    );
    let mut cases = cases;
    cases.push((
        caliper(deep.as_bytes(), Some(&auth), "application/json"),
        StatusCode::BAD_REQUEST,
        "recursion",
    ));
    // The envelope is fine; its one event is quarantined (bad eventTime) and the envelope gets 200.
    cases.push((
        caliper(huge.as_bytes(), Some(&auth), "application/json"),
        StatusCode::OK,
        "",
    ));
    for (req, want, words) in cases {
        let what = format!("{} {}", req.method(), req.uri());
        let (status, _, body) = h.send(req).await;
        assert_eq!(status, want, "{what}: {body}");
        assert!(body.contains(words), "{what}: {body}");
    }
    // A gzip bomb: small on the wire, huge inflated.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&vec![b' '; 10 * 1024 * 1024]).expect("gzip");
    let bomb = enc.finish().expect("gzip");
    assert!(bomb.len() < 64 * 1024);
    let req = Request::post("/caliper")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_ENCODING, "gzip")
        .header(header::AUTHORIZATION, &auth)
        .body(Body::from(bomb))
        .expect("req");
    let (status, _, _) = h.send(req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Still serving, and a gzip envelope is fine.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(SEED).expect("gzip");
    let req = Request::post("/caliper")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_ENCODING, "gzip")
        .header(header::AUTHORIZATION, &auth)
        .body(Body::from(enc.finish().expect("gzip")))
        .expect("req");
    assert_eq!(h.send(req).await.0, StatusCode::OK);
    let store = h.finish();
    let q = answer(&store, Question::QuarantineReasons);
    let reasons: Vec<String> = (0..q.rows.len())
        .filter_map(|i| q.text(i, "reason").map(str::to_owned))
        .collect();
    assert!(reasons.contains(&"not_json".to_owned()), "{reasons:?}");
    assert!(reasons.contains(&"invalid_field".to_owned()), "{reasons:?}");
}

#[tokio::test]
async fn caliper_endpoint_configuration() {
    let h = Harness::new(Limits::default());
    let (status, _, body) = h
        .send(Request::get("/caliper").body(Body::empty()).expect("req"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["caliperMaximumPayloadSize"], 10 * 1024 * 1024);
    assert!(
        v["caliperSupportedVersions"]
            .as_array()
            .expect("array")
            .len()
            >= 2
    );
}

fn statement(id: Option<&str>) -> serde_json::Value {
    let mut s = serde_json::json!({
        "actor": {"account": {"homePage": "https://lrs.example.edu", "name": "student-1"}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
        "object": {"id": "https://example.edu/activity/1"},
        "timestamp": "2024-03-05T14:20:02.118+0000",
        "version": "1.0.3",
    });
    if let Some(id) = id {
        s["id"] = serde_json::json!(id);
    }
    s
}

fn xapi(method: &str, uri: &str, body: &serde_json::Value, version: Option<&str>) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {XAPI_KEY}"));
    if let Some(v) = version {
        b = b.header("X-Experience-API-Version", v);
    }
    b.body(Body::from(body.to_string())).expect("request")
}

#[tokio::test]
async fn xapi_statements_as_real_clients_send_them() {
    let h = Harness::new(Limits::default());
    let id = "6690e6c9-3ef0-4ed3-8b37-7f3964730bee";
    // POST one statement with an id: the id comes back.
    let (status, headers, body) = h
        .send(xapi(
            "POST",
            "/xapi/statements",
            &statement(Some(id)),
            Some("1.0.3"),
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, format!("[\"{id}\"]"));
    assert_eq!(headers["x-experience-api-version"], "1.0.3");
    // POST an array, one without id: the LRS assigns one.
    let arr = serde_json::json!([
        statement(None),
        statement(Some("7f0e1b8e-2a57-4f4f-9a55-0d7b1f3c2e11"))
    ]);
    let (status, _, body) = h
        .send(xapi("POST", "/xapi/statements?", &arr, Some("2.0.0")))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ids: Vec<String> = serde_json::from_str(&body).expect("ids");
    assert_eq!(ids.len(), 2);
    // PUT with statementId; the same statement again is a duplicate, not an error.
    let put_id = "0b9b4d3e-1c1a-4a8e-9a1e-2f6d7c8b9a01";
    for _ in 0..2 {
        let (status, _, body) = h
            .send(xapi(
                "PUT",
                &format!("/xapi/statements?statementId={put_id}"),
                &statement(None),
                Some("1.0.1"),
            ))
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    // Conflicting ids, missing or unknown version.
    let (status, _, _) = h
        .send(xapi(
            "PUT",
            &format!("/xapi/statements?statementId={put_id}"),
            &statement(Some(id)),
            Some("1.0.3"),
        ))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _, body) = h
        .send(xapi("POST", "/xapi/statements", &statement(None), None))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("X-Experience-API-Version"));
    let (status, _, _) = h
        .send(xapi(
            "POST",
            "/xapi/statements",
            &statement(None),
            Some("0.95"),
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let store = h.finish();
    let q = answer(&store, Question::QualitySources);
    let xapi = q
        .find("source", ltiscope_model::Source::Xapi.as_str())
        .expect("xapi row");
    assert_eq!(q.int(xapi, "non_lti"), Some(4), "{q:?}");
    assert_eq!(q.int(xapi, "duplicates"), Some(1));
}

#[tokio::test]
async fn brightspace_webhook_takes_json_lines() {
    let h = Harness::new(Limits::default());
    let launch = include_str!(
        "../../ltiscope-ingest/tests/data/brightspace/lti-launch-lti13.constructed.json"
    );
    let login =
        include_str!("../../ltiscope-ingest/tests/data/brightspace/site-login.constructed.json");
    let compact = |s: &str| {
        serde_json::from_str::<serde_json::Value>(s)
            .expect("json")
            .to_string()
    };
    // A Blackboard launch posted here by mistake is quarantined (`source_mismatch`), not
    // counted as Brightspace.
    let blackboard =
        include_str!("../../ltiscope-ingest/tests/data/blackboard/lti-event-loggedin.json");
    let body = format!(
        "{}\n{}\nnot json\n{}\n",
        compact(launch),
        compact(login),
        compact(blackboard)
    );
    let request = |key: &str| {
        Request::post("/brightspace")
            .header(header::CONTENT_TYPE, "application/x-ndjson")
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .body(Body::from(body.clone()))
            .expect("req")
    };
    // An xapi-scoped key may not use the Brightspace webhook.
    assert_eq!(h.send(request(XAPI_KEY)).await.0, StatusCode::FORBIDDEN);
    let (status, _, reply) = h.send(request(BDS_KEY)).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let v: serde_json::Value = serde_json::from_str(&reply).expect("json");
    assert_eq!(
        (
            v["accepted"].as_u64(),
            v["duplicates"].as_u64(),
            v["quarantined"].as_u64()
        ),
        (Some(2), Some(0), Some(2))
    );
    let store = h.finish();
    let tools = answer(&store, Question::Tools);
    assert_eq!(tools.rows.len(), 1);
    assert_eq!(tools.text(0, "tool_id"), Some("example.org"));
}

#[tokio::test]
async fn health_and_readiness() {
    let h = Harness::new(Limits::default());
    assert_eq!(
        h.send(Request::get("/healthz").body(Body::empty()).expect("req"))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        h.send(Request::get("/readyz").body(Body::empty()).expect("req"))
            .await
            .0,
        StatusCode::OK
    );
    let (_, headers, body) = h
        .send(Request::get("/metrics").body(Body::empty()).expect("req"))
        .await;
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .expect("ct")
            .starts_with("text/plain")
    );
    assert!(body.contains("ltiscope_queue_depth 0"));
    assert!(body.contains("ltiscope_commit_duration_seconds_count"));
}

fn get(path: &str, key: Option<&str>) -> Request<Body> {
    let mut b = Request::get(path);
    if let Some(k) = key {
        b = b.header(header::AUTHORIZATION, format!("Bearer {k}"));
    }
    b.body(Body::empty()).expect("request")
}

#[tokio::test]
async fn reports_api_answers_with_a_read_key_and_refuses_others() {
    let h = Harness::new(Limits::default());
    let (status, _, _) = h
        .send(caliper(
            SEED,
            Some(&format!("Bearer {KEY}")),
            "application/json",
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    // While the writer keeps the store, the API reads the committed launch.
    let (status, _, body) = h.send(get("/api/v1/reports/tools", Some(READ_KEY))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["report"], "tools");
    let tools = &v["sections"]["tools"];
    assert_eq!(tools["total"], 1);
    assert_eq!(tools["rows"][0]["launches"], 1);
    assert_eq!(tools["rows"][0]["tool_id"], "ltiah.herokuapp.com");
    assert_eq!(tools["columns"][2]["kind"], "count");

    // Every report answers (the ones needing an argument get it).
    for path in [
        "overview",
        "tools?from=2020-01-01&to=2021-06-01",
        "tool?tool=ltiah.herokuapp.com",
        "courses",
        "course?course=_41_1",
        "adoption",
        "dormant?dormant_days=1",
        "health",
        "time-in-tool",
        "quality",
    ] {
        let (status, _, body) = h
            .send(get(&format!("/api/v1/reports/{path}"), Some(READ_KEY)))
            .await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        // What the report returns is what it declares (and the OpenAPI document shows).
        let name = path.split('?').next().expect("name");
        let kind = ltiscope_report::ReportKind::parse(name).expect("report");
        let declared: Vec<(String, Vec<String>)> = kind
            .sections()
            .into_iter()
            .map(|(s, cols)| {
                (
                    s.to_owned(),
                    cols.iter().map(|c| c.name.to_owned()).collect(),
                )
            })
            .collect();
        let returned: Vec<(String, Vec<String>)> = declared
            .iter()
            .map(|(s, _)| {
                let cols = v["sections"][s]["columns"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{path}: no section {s}"))
                    .iter()
                    .map(|c| c["name"].as_str().expect("name").to_owned())
                    .collect();
                (s.clone(), cols)
            })
            .collect();
        assert_eq!(returned, declared, "{path}");
        assert_eq!(
            v["sections"].as_object().expect("sections").len(),
            declared.len(),
            "{path}"
        );
    }
    // The previous period is reported when the range has both ends.
    let (_, _, body) = h
        .send(get(
            "/api/v1/reports/overview?from=2020-12-01&to=2021-01-01",
            Some(READ_KEY),
        ))
        .await;
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["previous"]["from"], "2020-10-31T00:00:00Z");
    let launches = &v["sections"]["summary"]["rows"][0];
    assert_eq!(launches["metric"], "launches");
    assert_eq!(launches["value"], 1);

    // CSV of one section.
    let (status, headers, body) = h
        .send(get(
            "/api/v1/reports/tools?format=csv&section=tools",
            Some(READ_KEY),
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .expect("ct")
            .starts_with("text/csv")
    );
    assert!(body.starts_with("tool_id,tool,launches,visits,"), "{body}");
    // The whole section by default; a page when limit or offset asks for one (they were
    // ignored for CSV).
    let mut lines = Vec::new();
    for path in [
        "/api/v1/reports/tools?format=csv",
        "/api/v1/reports/tools?format=csv&limit=1",
        "/api/v1/reports/tools?format=csv&offset=1",
    ] {
        let (status, _, body) = h.send(get(path, Some(READ_KEY))).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        lines.push(body.lines().count());
    }
    assert!(lines[0] >= 2, "a header and a tool: {lines:?}");
    assert_eq!(lines[1..], [2, lines[0] - 1]);

    // Refusals say why.
    for (path, key, want) in [
        ("/api/v1/reports/tools", None, StatusCode::UNAUTHORIZED),
        (
            "/api/v1/reports/tools",
            Some("lts_wrong"),
            StatusCode::UNAUTHORIZED,
        ),
        ("/api/v1/reports/tools", Some(KEY), StatusCode::FORBIDDEN),
        (
            "/api/v1/reports/nope",
            Some(READ_KEY),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v1/reports/tool",
            Some(READ_KEY),
            StatusCode::BAD_REQUEST,
        ),
        // A tool id or course key no launch ever had.
        (
            "/api/v1/reports/tool?tool=nope",
            Some(READ_KEY),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v1/reports/course?course=nope",
            Some(READ_KEY),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v1/reports/tools?from=yesterday",
            Some(READ_KEY),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/reports/tools?from=2021-01-02&to=2021-01-01",
            Some(READ_KEY),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/reports/tools?role=dean",
            Some(READ_KEY),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/reports/tools?format=xml",
            Some(READ_KEY),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/reports/user?user=_1_1",
            Some(READ_KEY),
            StatusCode::FORBIDDEN,
        ),
        (
            "/api/v1/export/launches?format=xls",
            Some(READ_KEY),
            StatusCode::BAD_REQUEST,
        ),
        // Regression: a parameter of the wrong type got axum's plain-text reply.
        (
            "/api/v1/reports/tools?limit=ten",
            Some(READ_KEY),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/export/launches?include_test_users=maybe",
            Some(READ_KEY),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (status, _, body) = h.send(get(path, key)).await;
        assert_eq!(status, want, "{path}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("error json");
        assert!(
            v["error"].as_str().is_some_and(|e| e.len() > 10),
            "{path}: {body}"
        );
    }

    // The user report is for admins.
    let (status, _, body) = h
        .send(get("/api/v1/reports/user?user=_1_1", Some(ADMIN_KEY)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["sections"]["launches"]["total"], 2, "launch and return");
}

#[tokio::test]
async fn exports_stream_every_launch_record() {
    let h = Harness::new(Limits::default());
    h.send(caliper(SEED, Some(KEY), "application/json")).await;
    let (status, headers, body) = h
        .send(get("/api/v1/export/launches?format=jsonl", Some(READ_KEY)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers[header::CONTENT_TYPE], "application/x-ndjson");
    assert!(
        headers[header::CONTENT_DISPOSITION]
            .to_str()
            .expect("cd")
            .contains("ltiscope-launches.jsonl")
    );
    let rows: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).expect("line"))
        .collect();
    assert_eq!(rows.len(), 2, "the seed's launch and its return");
    assert_eq!(rows[0]["tool_id"], "ltiah.herokuapp.com");
    assert_eq!(rows[1]["action"], "return");
    let (status, _, body) = h
        .send(get("/api/v1/export/launches?format=csv", Some(READ_KEY)))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.lines().count(), 3, "header and two records");
}

#[tokio::test]
async fn openapi_document_and_dashboard_are_served() {
    let h = Harness::new(Limits::default());
    let (status, _, body) = h.send(get("/api/v1/openapi.json", None)).await;
    assert_eq!(status, StatusCode::OK);
    let doc: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
    for name in [
        "overview", "tools", "tool", "adoption", "dormant", "health", "user",
    ] {
        assert!(
            doc["paths"][format!("/api/v1/reports/{name}")]["get"].is_object(),
            "{name}"
        );
    }
    let (status, headers, body) = h.send(get("/", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("/assets/app.js"));
    assert!(
        headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("csp")
            .contains("script-src 'self'")
    );
    let req = Request::get("/assets/echarts.min.js")
        .header(header::ACCEPT_ENCODING, "gzip, br")
        .body(Body::empty())
        .expect("req");
    let (status, headers, _) = h.send(req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
    let (status, _, body) = h.send(get("/assets/app.js", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("/api/v1/meta"));
    let (status, _, body) = h.send(get("/api/v1/meta", Some(READ_KEY))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let meta: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(meta["admin"], false);
    assert_eq!(meta["timezone"], "UTC");
}
