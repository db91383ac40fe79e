//! The report questions on DuckDB: the shared SQL of `crate::sql`, read into typed cells.

use super::{DuckDb, DuckStore, arg};
use crate::StoreError;
use crate::rollup;
use crate::sql::{Arg, Dialect, read_cells, sql_for};
use duckdb::params_from_iter;
use ltiscope_model::report::{Params, Question, ReportFilter, Table};

impl DuckStore {
    /// Answers questions from rollups (already refreshed), each when they can answer it
    /// exactly, in one read. Those that scan the launch records (`rollup::reads_records`),
    /// asked with others, are answered on a second connection beside them: the scan runs in
    /// DuckDB while this thread unions rollup sets, so the one-tool report takes the longer of
    /// the two, not the sum.
    pub(crate) fn answer_rollup(
        &self,
        qs: &[Question],
        f: &ReportFilter,
        p: &Params,
    ) -> Result<Vec<Option<Table>>, StoreError> {
        let (scans, rest): (Vec<Question>, Vec<Question>) =
            qs.iter().partition(|q| rollup::reads_records(**q));
        if scans.is_empty() || rest.is_empty() {
            return rollup::answer(&mut DuckDb(&self.conn), qs, f, p);
        }
        let second = self.conn.try_clone()?;
        let (scanned, others) = std::thread::scope(|scope| {
            let scanned = scope.spawn(move || rollup::answer(&mut DuckDb(&second), &scans, f, p));
            let others = rollup::answer(&mut DuckDb(&self.conn), &rest, f, p);
            let scanned = scanned
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            (scanned, others)
        });
        // Back in the order asked.
        let (mut scanned, mut others) = (scanned?.into_iter(), others?.into_iter());
        Ok(qs
            .iter()
            .map(|q| {
                let from = if rollup::reads_records(*q) {
                    &mut scanned
                } else {
                    &mut others
                };
                from.next().flatten()
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
