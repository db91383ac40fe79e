//! The report questions on DuckDB: the shared SQL of `crate::sql`, read into typed cells.

use super::{DuckDb, DuckStore, arg};
use crate::StoreError;
use crate::rollup;
use crate::sql::{Arg, Dialect, read_cells, sql_for};
use duckdb::params_from_iter;
use ltiscope_model::report::{Params, Question, ReportFilter, Table};

impl DuckStore {
    /// Answers questions from rollups (already refreshed), each when they can answer it
    /// exactly, in one read. The top courses, which scan the launch records, are answered on
    /// a second connection beside the others: the scan runs in DuckDB while this thread
    /// unions rollup sets, so the one-tool report takes the longer of the two, not the sum.
    pub(crate) fn answer_rollup(
        &self,
        qs: &[Question],
        f: &ReportFilter,
        p: &Params,
    ) -> Result<Vec<Option<Table>>, StoreError> {
        let beside = qs.iter().position(|q| *q == Question::TopCourses);
        let (Some(i), true) = (beside, qs.len() > 1) else {
            return rollup::answer(&mut DuckDb(&self.conn), qs, f, p);
        };
        let second = self.conn.try_clone()?;
        let rest: Vec<Question> = qs
            .iter()
            .copied()
            .filter(|q| *q != Question::TopCourses)
            .collect();
        let (top, others) = std::thread::scope(|scope| {
            let top = scope
                .spawn(move || rollup::answer(&mut DuckDb(&second), &[Question::TopCourses], f, p));
            let others = rollup::answer(&mut DuckDb(&self.conn), &rest, f, p);
            let top = top.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            (top, others)
        });
        let top = top?.pop().flatten();
        let mut out = others?;
        out.insert(i, top);
        Ok(out)
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
