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
