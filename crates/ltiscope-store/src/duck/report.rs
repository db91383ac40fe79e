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
        let used: Vec<&Vec<Question>> = lanes.iter().filter(|l| !l.is_empty()).collect();
        let Some((last, others)) = used.split_last() else {
            return Ok(Vec::new());
        };
        if others.is_empty() {
            return rollup::answer(&mut DuckDb(&self.conn), qs, f, p);
        }
        let seconds = others
            .iter()
            .map(|_| self.conn.try_clone())
            .collect::<Result<Vec<_>, _>>()?;
        let answered: Vec<Result<Vec<Option<Table>>, StoreError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = others
                .iter()
                .zip(seconds)
                .map(|(lane, conn)| {
                    scope.spawn(move || rollup::answer(&mut DuckDb(&conn), lane, f, p))
                })
                .collect();
            let here = rollup::answer(&mut DuckDb(&self.conn), last, f, p);
            let mut out: Vec<_> = handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect();
            out.push(here);
            out
        });
        // Back in the order asked: each lane's answers come in its questions' order.
        let mut by_lane: Vec<(usize, std::vec::IntoIter<Option<Table>>)> = Vec::new();
        for (lane_qs, answers) in used.iter().zip(answered) {
            by_lane.push((lane(lane_qs[0]), answers?.into_iter()));
        }
        Ok(qs
            .iter()
            .map(|q| {
                by_lane
                    .iter_mut()
                    .find(|(l, _)| *l == lane(*q))
                    .and_then(|(_, answers)| answers.next())
                    .flatten()
            })
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
/// facets). Measured on the one-tool report at 10M launches: ~200, ~120 and ~160 ms.
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
