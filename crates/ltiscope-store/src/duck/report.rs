//! The report questions on DuckDB: the shared SQL of `crate::sql`, read into typed cells.

use super::{DuckDb, DuckStore, arg};
use crate::StoreError;
use crate::rollup;
use crate::sql::{Arg, Dialect, read_cells, sql_for};
use duckdb::params_from_iter;
use ltiscope_model::report::{Params, Question, ReportFilter, Table};

impl DuckStore {
    /// Answers questions from rollups (already refreshed), each when they can answer it
    /// exactly. The questions are split into lanes that run side by side, each on its own
    /// connection ([`lane`]): the scan of the launch records runs in DuckDB while other
    /// threads union rollup sets, so a report like the one-tool report takes about its longest
    /// lane, not the sum of them (two cores: the CPU is shared, the waits are not).
    pub(crate) fn answer_rollup(
        &self,
        qs: &[Question],
        f: &ReportFilter,
        p: &Params,
    ) -> Result<Vec<Option<Table>>, StoreError> {
        let mut lanes: [Vec<Question>; LANES] = Default::default();
        for q in qs {
            lanes[lane(*q)].push(*q);
        }
        if lanes.iter().filter(|l| !l.is_empty()).count() < 2 {
            return rollup::answer(&mut DuckDb(&self.conn), qs, f, p);
        }
        let conns = lanes
            .iter()
            .map(|l| (!l.is_empty()).then(|| self.conn.try_clone()).transpose())
            .collect::<Result<Vec<_>, _>>()?;
        let answered = std::thread::scope(|scope| {
            let handles: Vec<_> = lanes
                .iter()
                .zip(conns)
                .map(|(l, conn)| {
                    scope.spawn(move || match conn {
                        Some(conn) => rollup::answer(&mut DuckDb(&conn), l, f, p),
                        None => Ok(Vec::new()),
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect::<Vec<_>>()
        });
        // Back in the order asked: each lane answers its questions in the order asked.
        let mut answered = answered
            .into_iter()
            .map(|a| a.map(Vec::into_iter))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(qs
            .iter()
            .map(|q| answered[lane(*q)].next().flatten())
            .collect())
    }

    /// Answers one question from the launch records, never from rollups.
    pub(crate) fn answer_raw(
        &self,
        q: Question,
        f: &ReportFilter,
        p: &Params,
    ) -> Result<Table, StoreError> {
        let (sql, args) = sql_for(Dialect::Duck, q, f, p);
        read_table(&self.conn, q, &sql, &args)
    }
}

/// How many lanes [`lane`] has.
const LANES: usize = 3;

/// The lane a question is answered in when several are asked together: the scans of the
/// launch records (`rollup::reads_records`); the deployments and roles (each a read of its
/// own, with sets to union); everything else (the shared read of counts and sets, the counted
/// facets). For the one-tool report at 10M launches, the questions of each lane timed one by
/// one add up to ~230, ~120 and ~160 ms.
fn lane(q: Question) -> usize {
    match q {
        _ if rollup::reads_records(q) => 0,
        Question::Deployments | Question::Roles => 1,
        _ => 2,
    }
}

/// Runs a query and reads its rows by the question's declared column kinds.
fn read_table(
    conn: &duckdb::Connection,
    q: Question,
    sql: &str,
    args: &[Arg],
) -> Result<Table, StoreError> {
    let columns = q.columns();
    let mut table = Table::new(q.name(), columns);
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query(params_from_iter(args.iter().map(arg)))?;
    while let Some(r) = rows.next()? {
        table.rows.push(read_cells(columns, r)?);
    }
    Ok(table)
}
