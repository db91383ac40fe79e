//! Configuration, resolved once: built-in defaults, then the TOML config file, then
//! `LTISCOPE_*` environment variables and flags (clap reads both; a flag beats its variable).
//! Everything below `main` receives these typed settings, never raw arguments or variables.

use crate::args::{GlobalArgs, PiiArg};
use anyhow::{Context, bail};
use ltiscope_ingest::{ToolResolver, ToolRule, tools::slug};
use ltiscope_pipeline::Pipeline;
use ltiscope_redact::{PiiPolicy, PseudonymKey, Redactor};
use ltiscope_store::Location;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// A secret from configuration; `Debug` and `Display` never show it.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[secret]")
    }
}

/// The config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    db: Option<PathBuf>,
    database_url: Option<String>,
    db_memory_mb: Option<u64>,
    #[serde(default)]
    privacy: PrivacyConfig,
    #[serde(default)]
    tools: ToolsConfig,
    #[serde(default)]
    server: ServerConfig,
    #[serde(default)]
    reports: ReportsConfig,
}

/// `[reports]` in the config file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportsConfig {
    timezone: Option<String>,
    suppress_below: Option<u64>,
    visit_window_minutes: Option<i64>,
    time_cap_minutes: Option<i64>,
    dormant_days: Option<i64>,
}

/// How reports are computed, resolved.
#[derive(Debug, Clone)]
pub struct ReportSettings {
    /// Time zone and small-cell suppression.
    pub options: ltiscope_report::Options,
    /// Visit window, time-in-tool cap and dormant days from the config file (or the defaults).
    defaults: ltiscope_model::report::Params,
}

impl ReportSettings {
    /// How the store's rollups cut days and count: the report time zone, visit window and cap
    /// of the configuration (reports asked with other values are answered without rollups).
    pub fn rollups(&self) -> ltiscope_store::RollupConfig {
        ltiscope_store::RollupConfig {
            timezone: self.options.timezone,
            visit_window_secs: self.defaults.visit_window_secs,
            time_cap_secs: self.defaults.time_cap_secs,
        }
    }

    /// Report parameters at `as_of`, before per-request overrides.
    pub fn params(&self, as_of: ltiscope_model::Timestamp) -> ltiscope_model::report::Params {
        ltiscope_model::report::Params {
            as_of,
            ..self.defaults.clone()
        }
    }
}

/// `[server]` in the config file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    listen: Option<String>,
    max_body_bytes: Option<usize>,
    queue: Option<usize>,
    commit_window_ms: Option<u64>,
    header_timeout_secs: Option<u64>,
    body_timeout_secs: Option<u64>,
    checkpoint_mb: Option<u64>,
    keep_days: Option<u32>,
}

/// Collector settings, resolved.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Listen address.
    pub listen: std::net::SocketAddr,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Bounded queue in front of the writer.
    pub queue: usize,
    /// Group-commit window.
    pub commit_window: std::time::Duration,
    /// Time allowed for request headers.
    pub header_timeout: std::time::Duration,
    /// Time allowed for a request body.
    pub body_timeout: std::time::Duration,
    /// Write-ahead log size that triggers a checkpoint.
    pub checkpoint_bytes: u64,
    /// Retention: whole days kept; everything before is deleted daily. `None` keeps all.
    pub keep_days: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrivacyConfig {
    pii: Option<String>,
    pseudonym_key: Option<Secret>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolsConfig {
    #[serde(default)]
    rules: Vec<RuleConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleConfig {
    name: String,
    id: Option<String>,
    client_id: Option<String>,
    deployment_id: Option<String>,
    consumer_key: Option<String>,
    tool_provider_id: Option<String>,
    host: Option<String>,
    path: Option<String>,
}

/// Everything the commands need, resolved.
#[derive(Debug)]
pub struct Settings {
    /// Where the data lives: a DuckDB file (default) or PostgreSQL.
    pub store: Location,
    /// PII policy.
    pub pii: PiiPolicy,
    /// Key for pseudonyms (only with `pseudonymise`).
    pub pseudonym_key: Option<Secret>,
    /// Tool identity rules, in order.
    pub tool_rules: Vec<ToolRule>,
    /// `[server]` from the config file (flags override it in [`Settings::server`]).
    server_file: ServerConfig,
    /// Report options.
    pub reports: ReportSettings,
    /// Memory the database may use when serving and reporting (an import keeps its own,
    /// `STREAM_MEMORY_BYTES`).
    pub db_memory_bytes: u64,
}

impl Settings {
    /// [`Settings::resolve`] with the process environment: the one place that reads it.
    pub fn from_process(global: &GlobalArgs) -> anyhow::Result<Self> {
        #[allow(clippy::disallowed_methods)] // this is the place
        let env = |name: &str| std::env::var(name).ok();
        Self::resolve(global, &env)
    }

    /// Merges defaults, the config file, environment and flags. `env` is the environment lookup
    /// (passed in so tests need not touch the process environment).
    pub fn resolve(
        global: &GlobalArgs,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
        let file = match &global.config {
            Some(path) => read_config(path)?,
            None => FileConfig::default(),
        };
        let store = match (&global.db, &global.database_url) {
            (Some(_), Some(_)) => bail!(
                "both --db (LTISCOPE_DB) and --database-url (LTISCOPE_DATABASE_URL) are set: give one, a DuckDB file or a PostgreSQL URL"
            ),
            (Some(path), None) => Location::DuckDb(path.clone()),
            (None, Some(url)) => Location::Postgres(url.clone()),
            (None, None) => match (file.db, file.database_url) {
                (Some(_), Some(_)) => bail!(
                    "the config file sets both db and database_url: keep one, a DuckDB file or a PostgreSQL URL"
                ),
                (_, Some(url)) => Location::Postgres(url),
                (path, None) => {
                    Location::DuckDb(path.unwrap_or_else(|| PathBuf::from("ltiscope.duckdb")))
                }
            },
        };
        if let Location::Postgres(url) = &store
            && !Location::is_postgres_url(url)
        {
            bail!(
                "the database URL {store} is not a PostgreSQL URL: use postgres://user:password@host:port/database"
            );
        }
        let pii = match global.pii {
            Some(PiiArg::Minimise) => PiiPolicy::Minimise,
            Some(PiiArg::Pseudonymise) => PiiPolicy::Pseudonymise,
            Some(PiiArg::Keep) => PiiPolicy::Keep,
            None => match file.privacy.pii.as_deref() {
                None => PiiPolicy::default(),
                Some(s) => PiiPolicy::parse(s).with_context(|| {
                    format!(
                        "privacy.pii = {s:?} in the config file: use minimise, pseudonymise or keep"
                    )
                })?,
            },
        };
        let pseudonym_key = env("LTISCOPE_PSEUDONYM_KEY")
            .map(Secret)
            .or(file.privacy.pseudonym_key);
        let mut tool_rules = Vec::new();
        for (i, r) in file.tools.rules.into_iter().enumerate() {
            let conditions = [
                &r.client_id,
                &r.deployment_id,
                &r.consumer_key,
                &r.tool_provider_id,
                &r.host,
                &r.path,
            ];
            if conditions.iter().all(|c| c.is_none()) {
                bail!(
                    "tool rule {} ({:?}) has no condition: give at least one of client_id, deployment_id, consumer_key, tool_provider_id, host, path",
                    i + 1,
                    r.name
                );
            }
            tool_rules.push(ToolRule {
                id: r.id.unwrap_or_else(|| slug(&r.name)),
                name: r.name,
                client_id: r.client_id,
                deployment_id: r.deployment_id,
                consumer_key: r.consumer_key,
                tool_provider_id: r.tool_provider_id,
                host: r.host,
                path: r.path,
            });
        }
        let mut reports = resolve_reports(&file.reports, env)?;
        reports.options.inventory = ToolResolver::new(tool_rules.clone()).named_tools();
        let db_memory_mb = match env("LTISCOPE_DB_MEMORY_MB") {
            Some(v) => v.parse::<u64>().with_context(|| {
                format!("LTISCOPE_DB_MEMORY_MB={v:?} is not a whole number of MiB")
            })?,
            None => file.db_memory_mb.unwrap_or(1024),
        };
        if db_memory_mb < 128 {
            bail!("the database memory limit must be at least 128 MiB, got {db_memory_mb}");
        }
        Ok(Settings {
            store,
            pii,
            pseudonym_key,
            tool_rules,
            server_file: file.server,
            reports,
            db_memory_bytes: db_memory_mb * 1024 * 1024,
        })
    }

    /// Collector settings: flags (and their variables) over the config file over defaults.
    pub fn server(&self, args: &crate::args::ServeArgs) -> anyhow::Result<ServerSettings> {
        let f = &self.server_file;
        let listen = args
            .listen
            .clone()
            .or_else(|| f.listen.clone())
            .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let listen = listen.parse().with_context(|| {
            format!(
                "listen address {listen:?} is not HOST:PORT (e.g. 127.0.0.1:8080 or 0.0.0.0:8080)"
            )
        })?;
        let max_body_bytes = args
            .max_body_bytes
            .or(f.max_body_bytes)
            .unwrap_or(10 * 1024 * 1024);
        if max_body_bytes < 1024 {
            bail!("max_body_bytes must be at least 1024");
        }
        let keep_days = args.keep_days.or(f.keep_days);
        if keep_days == Some(0) {
            bail!(
                "keep_days must be at least 1 (0 would delete today's launches as they arrive); leave it out to keep everything"
            );
        }
        Ok(ServerSettings {
            keep_days,
            listen,
            max_body_bytes,
            queue: args.queue.or(f.queue).unwrap_or(1024).max(1),
            commit_window: std::time::Duration::from_millis(
                args.commit_window_ms.or(f.commit_window_ms).unwrap_or(5),
            ),
            header_timeout: std::time::Duration::from_secs(
                args.header_timeout_secs
                    .or(f.header_timeout_secs)
                    .unwrap_or(10)
                    .max(1),
            ),
            body_timeout: std::time::Duration::from_secs(
                args.body_timeout_secs
                    .or(f.body_timeout_secs)
                    .unwrap_or(30)
                    .max(1),
            ),
            checkpoint_bytes: args.checkpoint_mb.or(f.checkpoint_mb).unwrap_or(256).max(1)
                * 1024
                * 1024,
        })
    }

    /// The redactor for the PII policy.
    pub fn redactor(&self) -> anyhow::Result<Redactor> {
        let key = match &self.pseudonym_key {
            Some(k) if self.pii == PiiPolicy::Pseudonymise => {
                Some(PseudonymKey::new(k.expose().as_bytes().to_vec())?)
            }
            _ => None,
        };
        Ok(Redactor::new(self.pii, key)?)
    }

    /// The tool resolver for the rules.
    pub fn tools(&self) -> ToolResolver {
        ToolResolver::new(self.tool_rules.clone())
    }

    /// The write path's parsing and redaction, by these tool rules and this PII policy.
    pub fn pipeline(&self) -> anyhow::Result<Pipeline> {
        Ok(Pipeline::new(self.tools(), self.redactor()?))
    }
}

fn resolve_reports(
    f: &ReportsConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<ReportSettings> {
    let timezone = env("LTISCOPE_TIMEZONE")
        .or_else(|| f.timezone.clone())
        .unwrap_or_else(|| "UTC".to_owned());
    let timezone = ltiscope_report::parse_timezone(&timezone).map_err(anyhow::Error::msg)?;
    let suppress_below = match env("LTISCOPE_SUPPRESS_BELOW") {
        Some(v) => Some(
            v.parse::<u64>()
                .with_context(|| format!("LTISCOPE_SUPPRESS_BELOW={v:?} is not a whole number"))?,
        ),
        None => f.suppress_below,
    }
    .filter(|k| *k > 1);
    let mut defaults = ltiscope_model::report::Params::new(chrono::DateTime::UNIX_EPOCH);
    defaults
        .tune(&ltiscope_model::report::Tuning {
            visit_window_minutes: f.visit_window_minutes,
            time_cap_minutes: f.time_cap_minutes,
            dormant_days: f.dormant_days,
        })
        .map_err(|e| anyhow::anyhow!("[reports] {e}"))?;
    Ok(ReportSettings {
        options: ltiscope_report::Options {
            timezone,
            suppress_below,
            // The tool rules fill it in (Settings::resolve).
            inventory: Vec::new(),
        },
        defaults,
    })
}

fn read_config(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {} is not valid", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global(config: Option<PathBuf>, pii: Option<PiiArg>) -> GlobalArgs {
        GlobalArgs {
            db: None,
            database_url: None,
            config,
            pii,
        }
    }

    #[test]
    fn a_database_url_selects_postgres_and_hides_its_password() {
        let mut g = global(None, None);
        g.database_url = Some("postgres://app:hunter2@db.example.edu/ltiscope".into());
        let s = Settings::resolve(&g, &|_| None).expect("resolve");
        assert!(matches!(s.store, Location::Postgres(_)));
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!s.store.to_string().contains("hunter2"));
        g.db = Some(PathBuf::from("x.duckdb"));
        let both = Settings::resolve(&g, &|_| None).expect_err("both");
        assert!(both.to_string().contains("give one"), "{both}");
        g.db = None;
        g.database_url = Some("mysql://x".into());
        let wrong = Settings::resolve(&g, &|_| None).expect_err("not postgres");
        assert!(wrong.to_string().contains("postgres://"), "{wrong}");
    }

    #[test]
    fn file_then_flags_and_secrets_stay_hidden() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ltiscope.toml");
        std::fs::write(
            &path,
            r#"
db = "from-file.duckdb"
[privacy]
pii = "pseudonymise"
pseudonym_key = "a-very-secret-key-123"
[[tools.rules]]
name = "Library Reserves"
host = "*.library.example.edu"
"#,
        )
        .expect("write");
        let s = Settings::resolve(&global(Some(path.clone()), None), &|_| None).expect("resolve");
        assert_eq!(s.store, Location::DuckDb(PathBuf::from("from-file.duckdb")));
        assert_eq!(s.pii, PiiPolicy::Pseudonymise);
        assert_eq!(s.tool_rules[0].id, "library-reserves");
        assert!(!format!("{s:?}").contains("a-very-secret-key-123"));
        assert!(s.redactor().is_ok());
        // A flag beats the file.
        let s =
            Settings::resolve(&global(Some(path), Some(PiiArg::Keep)), &|_| None).expect("resolve");
        assert_eq!(s.pii, PiiPolicy::Keep);
    }

    #[test]
    fn bad_config_says_what_to_fix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "[[tools.rules]]\nname = \"X\"\n").expect("write");
        let err =
            Settings::resolve(&global(Some(path), None), &|_| None).expect_err("no condition");
        assert!(err.to_string().contains("has no condition"), "{err}");
        let err = Settings::resolve(&global(None, Some(PiiArg::Pseudonymise)), &|_| None)
            .expect("resolves")
            .redactor()
            .expect_err("needs key");
        assert!(err.to_string().contains("LTISCOPE_PSEUDONYM_KEY"), "{err}");
    }
}
