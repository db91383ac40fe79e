//! The dashboard: one page and its assets, embedded in the binary (no CDN, works offline).
//! The page is a thin view of the reports API: it fetches `/api/v1/...` with the read key the
//! user logs in with, and renders tables and charts (Apache ECharts, vendored).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::io::Write;
use std::sync::OnceLock;

const INDEX: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");
/// Apache ECharts 5.6.0 (Apache-2.0), from the npm package's `dist/echarts.min.js`.
const ECHARTS: &[u8] = include_bytes!("../assets/vendor/echarts-5.6.0.min.js");

/// Scripts only from this origin; ECharts sets inline styles on its own elements.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn gzipped(bytes: &'static [u8], cell: &'static OnceLock<Vec<u8>>) -> &'static [u8] {
    cell.get_or_init(|| {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let ok = enc.write_all(bytes).is_ok();
        match enc.finish() {
            Ok(v) if ok => v,
            _ => Vec::new(),
        }
    })
}

fn asset(
    headers: &HeaderMap,
    body: &'static [u8],
    gz: &'static OnceLock<Vec<u8>>,
    media_type: &'static str,
) -> Response {
    let accepts_gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("gzip"));
    let compressed = gzipped(body, gz);
    let mut r = if accepts_gzip && !compressed.is_empty() {
        let mut r = compressed.into_response();
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else {
        body.into_response()
    };
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    // The binary is the version: assets change only with it.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
}

/// `GET /`: the page.
pub(crate) async fn index() -> Response {
    let mut r = (StatusCode::OK, INDEX).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    r
}

/// `GET /assets/app.js`.
pub(crate) async fn app_js(headers: HeaderMap) -> Response {
    static GZ: OnceLock<Vec<u8>> = OnceLock::new();
    asset(
        &headers,
        APP_JS.as_bytes(),
        &GZ,
        "text/javascript; charset=utf-8",
    )
}

/// `GET /assets/app.css`.
pub(crate) async fn app_css(headers: HeaderMap) -> Response {
    static GZ: OnceLock<Vec<u8>> = OnceLock::new();
    asset(&headers, APP_CSS.as_bytes(), &GZ, "text/css; charset=utf-8")
}

/// `GET /assets/echarts.min.js`.
pub(crate) async fn echarts(headers: HeaderMap) -> Response {
    static GZ: OnceLock<Vec<u8>> = OnceLock::new();
    asset(&headers, ECHARTS, &GZ, "text/javascript; charset=utf-8")
}
