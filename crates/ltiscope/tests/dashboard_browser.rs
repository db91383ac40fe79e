//! The dashboard in a real browser: runs `e2e/dashboard.mjs` (headless Chromium driven by
//! playwright-core) against this build of `ltiscope serve`. It logs in, visits every page and
//! checks that the numbers shown are the API's, that CSV downloads work, that the page works by
//! keyboard and that the console stays free of errors.
//!
//! Needs Chromium (`apt-get install chromium`) and `npm ci --prefix e2e`. Where they are
//! missing the test says so and passes, unless `LTISCOPE_REQUIRE_BROWSER=1` (CI sets it, after
//! installing both), which turns their absence into a failure.

use std::path::Path;
use std::process::Command;

#[test]
fn the_dashboard_shows_the_api_numbers_in_a_real_browser() {
    run_dashboard(None);
}

/// The same pages on PostgreSQL: every report the dashboard shows is answered by it.
#[test]
fn the_dashboard_works_on_postgres() {
    let pg = ltiscope_store::testing::TempDatabase::create();
    run_dashboard(Some(pg.url()));
}

/// Runs `e2e/dashboard.mjs`, on PostgreSQL when `database_url` is given.
fn run_dashboard(database_url: Option<&str>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let chromium = Path::new("/usr/bin/chromium");
    let playwright = root.join("e2e/node_modules/playwright-core");
    #[allow(clippy::disallowed_methods)] // a test switch, not configuration
    let required = std::env::var("LTISCOPE_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let missing: Vec<&str> = [
        (!chromium.exists()).then_some("chromium (apt-get install chromium)"),
        (!playwright.exists()).then_some("playwright-core (npm ci --prefix e2e)"),
        Command::new("node")
            .arg("--version")
            .output()
            .is_err()
            .then_some("node"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !missing.is_empty() {
        assert!(
            !required,
            "LTISCOPE_REQUIRE_BROWSER=1 but missing: {}",
            missing.join(", ")
        );
        eprintln!(
            "SKIPPED the browser test: missing {} (CI installs them and sets LTISCOPE_REQUIRE_BROWSER=1)",
            missing.join(", ")
        );
        return;
    }
    let mut node = Command::new("node");
    match database_url {
        Some(url) => node.env("LTISCOPE_DATABASE_URL", url),
        None => node.env_remove("LTISCOPE_DATABASE_URL"),
    };
    let out = node
        .arg(root.join("e2e/dashboard.mjs"))
        .env("LTISCOPE_BIN", env!("CARGO_BIN_EXE_ltiscope"))
        .env_remove("LTISCOPE_CONFIG")
        .env_remove("LTISCOPE_PII")
        .env_remove("LTISCOPE_LISTEN")
        .env_remove("LTISCOPE_DB")
        .output()
        .expect("node runs");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "browser test failed:\n{log}");
    assert!(log.contains("all pages ok, no console errors"), "{log}");
}
