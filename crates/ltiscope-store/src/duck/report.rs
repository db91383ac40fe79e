//! The report questions on DuckDB: the shared SQL of `crate::sql`, read into typed cells.

use super::{DuckDb, DuckStore, arg};
use crate::StoreError;
use crate::rollup::{self, lanes};
use crate::sql::{Arg, Dialect, read_cells, sql_for};
use duckdb::params_from_iter;
use ltiscope_model::report::{Params, Question, ReportFilter, Table};

impl DuckStore {
    /// Answers questions from rollups (already refreshed), each when they can answer it
    /// exactly, in lanes side by side, each on its own connection to the database
    /// (`rollup::lanes`): the course rollup is decoded while other threads union rollup sets,
    /// so a report like the one-tool report takes about its longest lane.
    pub(crate) fn answer_rollup(
        &self,
        qs: &[Question],
        f: &ReportFilter,
        p: &Params,
    ) -> Result<Vec<Option<Table>>, StoreError> {
        lanes::answer(
            qs,
            || rollup::answer(&mut DuckDb(&self.conn), qs, f, p),
            || self.connection(),
            |conn, lane| rollup::answer(&mut DuckDb(conn), lane, f, p),
            drop,
        )
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
