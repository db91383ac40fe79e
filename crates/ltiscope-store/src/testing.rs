//! Test support shared by the workspace's test suites: throwaway PostgreSQL databases.
//!
//! The server is the one every developer machine and CI run (127.0.0.1:5432, trust auth);
//! `LTISCOPE_TEST_PG_URL` points elsewhere (any database there; test databases are created
//! beside it and dropped afterwards).

use postgres::{Client, NoTls};

/// The URL of the server's maintenance database used to create and drop test databases.
pub fn admin_url() -> String {
    #[allow(clippy::disallowed_methods)] // test support reads its one setting here
    std::env::var("LTISCOPE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A uniquely named database that is dropped (with any open connections) when this goes away.
pub struct TempDatabase {
    name: String,
    url: String,
}

impl TempDatabase {
    /// Creates the database. Panics with what to do when no server answers: these helpers are
    /// for tests, and a test that silently skipped PostgreSQL would prove nothing.
    #[allow(clippy::expect_used)]
    pub fn create() -> TempDatabase {
        let admin = admin_url();
        let mut c = Client::connect(&admin, NoTls).unwrap_or_else(|e| {
            panic!(
                "the PostgreSQL tests need a server at {admin} ({e}); start it (pg_ctlcluster ... main start) or set LTISCOPE_TEST_PG_URL"
            )
        });
        let name = format!("ltiscope_test_{}", uuid::Uuid::new_v4().simple());
        c.batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create a test database");
        let url = match admin.rfind('/') {
            Some(i) if admin[..i].contains("://") && !admin[..i].ends_with('/') => {
                format!("{}/{name}", &admin[..i])
            }
            _ => format!("{admin} dbname={name}"),
        };
        TempDatabase { name, url }
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        if let Ok(mut c) = Client::connect(&admin_url(), NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// Turns a DuckDB file of the current schema back into schema 12, whose `events` held each
/// kept original as text (`crate::bodies`), and its collector's inboxes (if any) into those
/// of a build before 13: for tests of the migrations before 13, which downgrade a file
/// further, and of migration 13 itself.
#[allow(clippy::missing_errors_doc)]
pub fn duckdb_before_13(path: &std::path::Path) -> Result<(), crate::StoreError> {
    let conn = duckdb::Connection::open(path)?;
    unpack_originals(&conn, "main")?;
    conn.execute_batch("DELETE FROM schema_migrations WHERE version >= 13;")?;
    for i in 0..2 {
        let inbox = std::path::PathBuf::from(format!("{}.inbox{i}", path.display()));
        if inbox.exists() {
            conn.execute_batch(&format!(
                "ATTACH {} AS old_inbox",
                crate::sql::quote(&inbox.display().to_string())
            ))?;
            unpack_originals(&conn, "old_inbox")?;
            conn.execute_batch("DETACH old_inbox")?;
        }
    }
    Ok(())
}

/// `catalog.events` with its originals as text again, without `catalog.event_bodies`.
fn unpack_originals(conn: &duckdb::Connection, catalog: &str) -> Result<(), crate::StoreError> {
    let mut blocks = std::collections::HashMap::new();
    {
        let mut stmt =
            conn.prepare(&format!("SELECT block, packed FROM {catalog}.event_bodies"))?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let packed: Vec<u8> = r.get(1)?;
            blocks.insert(r.get::<_, i128>(0)?, crate::bodies::unpack(&packed)?);
        }
    }
    conn.execute_batch(
        "CREATE OR REPLACE TEMP TABLE text_bodies (block HUGEINT, line INTEGER, body VARCHAR)",
    )?;
    {
        let mut app = conn.appender("text_bodies")?;
        for (block, lines) in &blocks {
            for (line, body) in lines.iter().enumerate() {
                app.append_row(duckdb::params![block, line as i32, body])?;
            }
        }
    }
    conn.execute_batch(&format!(
        "CREATE TABLE {catalog}.events_text AS
             SELECT e.* EXCLUDE (body_block, body_line), t.body
             FROM {catalog}.events e
             JOIN text_bodies t ON t.block = e.body_block AND t.line = e.body_line
             ORDER BY e.rowid;
         DROP TABLE {catalog}.events;
         ALTER TABLE {catalog}.events_text RENAME TO events;
         DROP TABLE {catalog}.event_bodies;"
    ))?;
    Ok(())
}
