//! Schema migrations, run the same way on every backend: each backend lists its own (in its
//! own dialect, `duck/schema.rs` and `pg/schema.rs`) and says how to read the version and how
//! to apply one migration in a transaction; the order, the "newer than this build" check and
//! what the caller hears while an existing database is upgraded are decided here, once.
//!
//! It does not write SQL of its own, and a new database (version 0) is created silently:
//! only upgrades are announced, since some of them rewrite a whole table.

use crate::StoreError;
use std::time::Instant;

/// A migration: (version, name, SQL). Never edit a shipped one: add a new one.
pub(crate) type Migration = (i64, &'static str, &'static str);

/// What opening a database tells its caller while it upgrades an existing schema.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Upgrade<'a> {
    /// Migration `version` (`name`) is about to run.
    Started {
        /// The schema version it brings the database to.
        version: i64,
        /// What it does, in a few words.
        name: &'a str,
    },
    /// How far the migration has come, in percent: the database's own estimate for its running
    /// statement, offered only by backends that have one (DuckDB) and only while a statement
    /// runs long enough to be polled. It only rises: an estimate below the last one reported
    /// (a later statement of the migration starts again from zero) is not reported.
    Progress {
        /// The migration's version.
        version: i64,
        /// 0 to 100.
        percent: f64,
    },
    /// Migration `version` is committed.
    Finished {
        /// The migration's version.
        version: i64,
        /// How long it took.
        seconds: f64,
    },
}

/// A backend as the migration runner needs it.
pub(crate) trait Migrate {
    /// Makes the version table if the database has none and returns the current version (0
    /// for a new database).
    fn current_version(&mut self) -> Result<i64, StoreError>;
    /// Runs one migration and records its version, in one transaction. Given `progress`
    /// (an upgrade someone listens to), may call it with the running statement's progress in
    /// percent, from another thread; without it, does no work to tell.
    fn apply(
        &mut self,
        migration: &Migration,
        progress: Option<&mut (dyn FnMut(f64) + Send)>,
    ) -> Result<(), StoreError>;
}

/// Brings a database from its current version to the last of `migrations` (in order, each
/// once), telling `upgrading` about each one when the database already had a schema.
pub(crate) fn run(
    db: &mut dyn Migrate,
    migrations: &[Migration],
    upgrading: &mut (dyn FnMut(Upgrade<'_>) + Send),
) -> Result<(), StoreError> {
    let current = db.current_version()?;
    let known = migrations.last().map_or(0, |m| m.0);
    if current > known {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known,
        });
    }
    for m in migrations.iter().filter(|m| m.0 > current) {
        let version = m.0;
        if current == 0 {
            db.apply(m, None)?;
            continue;
        }
        upgrading(Upgrade::Started { version, name: m.1 });
        let started = Instant::now();
        db.apply(
            m,
            Some(&mut |percent| upgrading(Upgrade::Progress { version, percent })),
        )?;
        upgrading(Upgrade::Finished {
            version,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backend that records what it was asked to apply and reports one progress reading
    /// when someone listens.
    struct Fake {
        version: i64,
        applied: Vec<i64>,
    }

    impl Migrate for Fake {
        fn current_version(&mut self) -> Result<i64, StoreError> {
            Ok(self.version)
        }
        fn apply(
            &mut self,
            m: &Migration,
            progress: Option<&mut (dyn FnMut(f64) + Send)>,
        ) -> Result<(), StoreError> {
            if let Some(progress) = progress {
                progress(50.0);
            }
            self.applied.push(m.0);
            self.version = m.0;
            Ok(())
        }
    }

    const LIST: &[Migration] = &[(1, "one", ""), (2, "two", ""), (3, "three", "")];

    fn heard(from: i64) -> (Vec<i64>, Vec<String>) {
        let mut db = Fake {
            version: from,
            applied: Vec::new(),
        };
        let mut heard = Vec::new();
        run(&mut db, LIST, &mut |u| {
            heard.push(match u {
                Upgrade::Started { version, name } => format!("start {version} {name}"),
                Upgrade::Progress { version, percent } => format!("{version} at {percent}%"),
                Upgrade::Finished { version, .. } => format!("done {version}"),
            })
        })
        .expect("run");
        (db.applied, heard)
    }

    #[test]
    fn a_new_database_is_migrated_silently() {
        assert_eq!(heard(0), (vec![1, 2, 3], vec![]));
    }

    #[test]
    fn an_upgrade_announces_each_migration_with_its_progress() {
        let (applied, heard) = heard(1);
        assert_eq!(applied, [2, 3]);
        assert_eq!(
            heard,
            [
                "start 2 two",
                "2 at 50%",
                "done 2",
                "start 3 three",
                "3 at 50%",
                "done 3"
            ]
        );
    }

    #[test]
    fn a_current_database_runs_nothing() {
        assert_eq!(heard(3), (vec![], vec![]));
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut db = Fake {
            version: 4,
            applied: Vec::new(),
        };
        let err = run(&mut db, LIST, &mut |_| {}).expect_err("too new");
        assert!(
            matches!(err, StoreError::SchemaTooNew { found: 4, known: 3 }),
            "{err}"
        );
        assert!(db.applied.is_empty());
    }
}
