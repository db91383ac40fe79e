//! The report questions in DuckDB SQL. Each [`Question`] is one query whose select list
//! follows `Question::columns()` exactly: counts cast to BIGINT, measures to DOUBLE, times as
//! epoch microseconds, days as `YYYY-MM-DD` text; [`read_table`] turns rows into typed cells by
//! the declared kinds.
//!
//! Values from users (tenant, tool, course, user ids) are always bound as parameters; only
//! numbers and timestamps this code formats itself are written into the SQL text.

use super::{DuckStore, from_micros, ts};
use crate::StoreError;
use duckdb::params_from_iter;
use duckdb::types::Value;
use ltiscope_model::report::{Cell, ColumnKind, Params, Question, ReportFilter, Table};
use ltiscope_model::{Source, Timestamp};

/// A SQL timestamp literal for a time this code holds (never user text).
fn lit(t: Timestamp) -> String {
    format!("TIMESTAMP '{}'", t.format("%Y-%m-%d %H:%M:%S%.6f"))
}

/// A SQL string literal; used only where DuckDB takes no parameters (`COPY`).
pub(super) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Conditions on the launches table, with their parameters.
pub(super) struct Filter {
    pub(super) sql: String,
    pub(super) args: Vec<Value>,
}

impl Filter {
    /// Every condition of the filter: time range, tenant, source, role, tool, course, test users.
    pub(super) fn launches(f: &ReportFilter) -> Filter {
        let mut out = Filter::dims(f);
        out.range("event_time", f.from, f.to);
        out
    }

    /// The filter without its time range (dormant, health and freshness look back from now).
    fn dims(f: &ReportFilter) -> Filter {
        let mut out = Filter {
            sql: String::new(),
            args: Vec::new(),
        };
        out.eq("tenant", f.tenant.as_deref());
        out.eq("source", f.source.map(Source::as_str));
        out.eq("role", f.role.map(|r| r.as_str()));
        out.eq("tool_id", f.tool.as_deref());
        out.eq("course_key", f.course.as_deref());
        if !f.include_test_users {
            out.sql.push_str(" AND NOT test_user");
        }
        out
    }

    /// The time range only, on another column (receipt times of the quality questions).
    fn received(f: &ReportFilter) -> Filter {
        let mut out = Filter {
            sql: String::new(),
            args: Vec::new(),
        };
        out.range("received_at", f.from, f.to);
        out
    }

    fn eq(&mut self, column: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.sql.push_str(&format!(" AND {column} = ?"));
            self.args.push(Value::Text(v.to_owned()));
        }
    }

    fn range(&mut self, column: &str, from: Option<Timestamp>, to: Option<Timestamp>) {
        if let Some(from) = from {
            self.sql.push_str(&format!(" AND {column} >= ?"));
            self.args.push(ts(from));
        }
        if let Some(to) = to {
            self.sql.push_str(&format!(" AND {column} < ?"));
            self.args.push(ts(to));
        }
    }

    /// The same conditions with the parameters written in as literals, for `COPY`, which takes
    /// no parameters. Every parameter is text (quoted) or a timestamp this code formatted.
    pub(super) fn inlined(&self) -> String {
        let mut args = self.args.iter();
        let mut out = String::with_capacity(self.sql.len() + 64);
        for ch in self.sql.chars() {
            if ch == '?' {
                match args.next() {
                    Some(Value::Text(s)) => out.push_str(&quote(s)),
                    Some(Value::Timestamp(_, us)) => out.push_str(&lit(from_micros(*us))),
                    _ => out.push_str("NULL"),
                }
            } else {
                out.push(ch);
            }
        }
        out
    }
}

/// `CAST(<col> shifted to local time AS DATE)`.
fn local_day(column: &str, p: &Params) -> String {
    format!(
        "CAST({column} + INTERVAL ({}) MINUTE AS DATE)",
        p.utc_offset_minutes
    )
}

/// Launches of the filter with the columns the tool questions need.
fn launches_cte(filter: &str) -> String {
    format!(
        "f AS (SELECT tenant, tool_id, tool_name, user_hash, course_hash, role, event_time, launch_id,
                      visit_key
               FROM launches WHERE action = 'launch' {filter})"
    )
}

/// Visits per tool: a launch opens a visit unless the same user launched the same link of the
/// same tool less than the window before.
fn visits_cte(p: &Params) -> String {
    format!(
        "v AS (SELECT tool_id, count(*) AS visits FROM (
                 SELECT tool_id, event_time,
                        lag(event_time) OVER (PARTITION BY visit_key ORDER BY event_time) AS prev
                 FROM f)
               WHERE prev IS NULL OR epoch(event_time) - epoch(prev) > {}
               GROUP BY tool_id)",
        p.visit_window_secs
    )
}

/// The first return of each launch id that can pair with a launch in `f`: none returns before
/// the range starts; `until`, when given, drops returns after it (the tools question only needs
/// pairs within the cap, so it passes the range end plus the cap; time in tool passes nothing
/// because it counts the pairs over the cap too).
fn returns_cte(f: &ReportFilter, until: Option<Timestamp>) -> String {
    let mut range = String::new();
    if let Some(from) = f.from {
        range.push_str(&format!(" AND event_time >= {}", lit(from)));
    }
    if let Some(until) = until {
        range.push_str(&format!(" AND event_time < {}", lit(until)));
    }
    format!(
        "r AS (SELECT tenant, launch_id, min(event_time) AS returned
               FROM launches WHERE action = 'return' AND launch_id IS NOT NULL {range}
               GROUP BY tenant, launch_id)"
    )
}

/// Seconds in the tool per tool, for the tools question: only launches that have a return
/// within the cap (an inner join with the returns that can belong to the range).
fn paired_times_cte(f: &ReportFilter, p: &Params) -> String {
    let until =
        f.to.map(|to| to + chrono::Duration::seconds(p.time_cap_secs));
    format!(
        "{returns},
         t AS (SELECT tool_id, quantile_cont(secs, 0.5) AS p50, quantile_cont(secs, 0.9) AS p90
               FROM (SELECT f.tool_id, epoch(r.returned) - epoch(f.event_time) AS secs
                     FROM f JOIN r ON r.tenant = f.tenant AND r.launch_id = f.launch_id)
               WHERE secs >= 0 AND secs <= {cap} GROUP BY tool_id)",
        returns = returns_cte(f, until),
        cap = p.time_cap_secs
    )
}

/// Every launch in `f` with the seconds to its first return (NULL when none came).
fn pairs_cte(f: &ReportFilter) -> String {
    format!(
        "{returns},
         p AS (SELECT f.tool_id, epoch(r.returned) - epoch(f.event_time) AS secs
               FROM f LEFT JOIN r ON r.tenant = f.tenant AND r.launch_id = f.launch_id)",
        returns = returns_cte(f, None)
    )
}

impl DuckStore {
    /// Answers one question.
    pub(crate) fn answer(
        &self,
        q: Question,
        f: &ReportFilter,
        p: &Params,
    ) -> Result<Table, StoreError> {
        let (sql, args) = sql_for(q, f, p);
        read_table(&self.conn, q, &sql, &args)
    }
}

fn sql_for(q: Question, f: &ReportFilter, p: &Params) -> (String, Vec<Value>) {
    let lf = Filter::launches(f);
    let dims = Filter::dims(f);
    let w = &lf.sql;
    let as_of = lit(p.as_of);
    let one = |sql: String| (sql, lf.args.clone());
    match q {
        Question::Totals => one(format!(
            "WITH {launches},
             v AS (SELECT count(*) AS visits FROM (
                     SELECT event_time, lag(event_time) OVER (PARTITION BY visit_key ORDER BY event_time) AS prev
                     FROM f)
                   WHERE prev IS NULL OR epoch(event_time) - epoch(prev) > {win})
             SELECT count(*)::BIGINT, (SELECT visits FROM v)::BIGINT, count(DISTINCT user_hash)::BIGINT,
                    count(DISTINCT course_hash)::BIGINT, count(DISTINCT tool_id)::BIGINT
             FROM f",
            launches = launches_cte(w),
            win = p.visit_window_secs
        )),
        Question::Daily => one(format!(
            "SELECT CAST({day} AS VARCHAR) AS d, count(*)::BIGINT, count(DISTINCT user_hash)::BIGINT,
                    count(DISTINCT course_hash)::BIGINT
             FROM launches WHERE action = 'launch' {w} GROUP BY d ORDER BY d",
            day = local_day("event_time", p)
        )),
        Question::Tools => one(format!(
            "WITH {launches}, {visits}, {times},
             a AS (SELECT tool_id, any_value(tool_name) AS tool_name, count(*) AS launches,
                          count(DISTINCT user_hash) AS users, count(DISTINCT course_hash) AS courses,
                          count(*) FILTER (WHERE role = 'learner') AS learners,
                          count(*) FILTER (WHERE role IN ('instructor', 'teaching-assistant')) AS instructors,
                          min(event_time) AS first_seen, max(event_time) AS last_seen
                   FROM f GROUP BY tool_id)
             SELECT a.tool_id, a.tool_name, a.launches::BIGINT, coalesce(v.visits, 0)::BIGINT,
                    a.users::BIGINT, a.courses::BIGINT, a.learners::BIGINT, a.instructors::BIGINT,
                    t.p50::DOUBLE, t.p90::DOUBLE, epoch_us(a.first_seen), epoch_us(a.last_seen)
             FROM a LEFT JOIN v USING (tool_id) LEFT JOIN t USING (tool_id)
             ORDER BY a.launches DESC, a.tool_id",
            launches = launches_cte(w),
            visits = visits_cte(p),
            times = paired_times_cte(f, p),
        )),
        Question::ToolCounts => one(format!(
            "SELECT tool_id, any_value(tool_name), count(*)::BIGINT, count(DISTINCT user_hash)::BIGINT
             FROM launches WHERE action = 'launch' {w} GROUP BY tool_id ORDER BY 3 DESC, 1"
        )),
        Question::Courses => one(format!(
            "WITH f AS (
                SELECT tenant, course_key, course_label, course_title, tool_id, user_hash, role, event_time
                FROM launches WHERE action = 'launch' AND course_key IS NOT NULL {w}),
             per_tool AS (SELECT tenant, course_key, tool_id, count(*) AS n FROM f GROUP BY ALL),
             top AS (SELECT tenant, course_key, arg_max(tool_id, n) AS top_tool FROM per_tool GROUP BY ALL)
             SELECT f.tenant, f.course_key, coalesce(any_value(f.course_label), any_value(f.course_title)),
                    count(*)::BIGINT, count(DISTINCT f.tool_id)::BIGINT, count(DISTINCT f.user_hash)::BIGINT,
                    count(*) FILTER (WHERE f.role = 'learner')::BIGINT,
                    count(*) FILTER (WHERE f.role IN ('instructor', 'teaching-assistant'))::BIGINT,
                    any_value(top.top_tool), epoch_us(max(f.event_time))
             FROM f JOIN top USING (tenant, course_key)
             GROUP BY f.tenant, f.course_key ORDER BY 4 DESC, 2"
        )),
        Question::Roles => one(format!(
            "SELECT role, count(*)::BIGINT, count(DISTINCT user_hash)::BIGINT
             FROM launches WHERE action = 'launch' {w} GROUP BY role ORDER BY 2 DESC, 1"
        )),
        Question::Hourly => one(format!(
            "SELECT epoch_us(date_trunc('hour', event_time)) AS h, count(*)::BIGINT
             FROM launches WHERE action = 'launch' {w} GROUP BY h ORDER BY h"
        )),
        Question::MessageTypes => one(format!(
            "SELECT coalesce(message_type, '(not sent)'), count(*)::BIGINT
             FROM launches WHERE action = 'launch' {w} GROUP BY 1 ORDER BY 2 DESC, 1"
        )),
        Question::LtiVersions => one(format!(
            "SELECT coalesce(lti_version, '(not sent)'), count(*)::BIGINT
             FROM launches WHERE action = 'launch' {w} GROUP BY 1 ORDER BY 2 DESC, 1"
        )),
        Question::Deployments => one(format!(
            "SELECT tool_id, any_value(tool_name), client_id, deployment_id, consumer_key,
                    tool_provider_id, launch_host, count(*)::BIGINT, count(DISTINCT user_hash)::BIGINT,
                    count(DISTINCT course_hash)::BIGINT, epoch_us(min(event_time)), epoch_us(max(event_time))
             FROM launches WHERE action = 'launch' {w}
             GROUP BY tool_id, client_id, deployment_id, consumer_key, tool_provider_id, launch_host
             ORDER BY 8 DESC, 1, 3, 4, 5, 6, 7"
        )),
        Question::Adoption => one(format!(
            "WITH f AS (SELECT tool_id, tool_name, user_hash, course_hash
                        FROM launches WHERE action = 'launch' {w}),
             tot AS (SELECT count(DISTINCT course_hash) AS ac, count(DISTINCT user_hash) AS au FROM f)
             SELECT tool_id, any_value(tool_name),
                    count(DISTINCT course_hash)::BIGINT, any_value(tot.ac)::BIGINT,
                    (count(DISTINCT course_hash) / nullif(any_value(tot.ac), 0))::DOUBLE AS cs,
                    count(DISTINCT user_hash)::BIGINT, any_value(tot.au)::BIGINT,
                    (count(DISTINCT user_hash) / nullif(any_value(tot.au), 0))::DOUBLE
             FROM f, tot GROUP BY tool_id ORDER BY cs DESC NULLS LAST, 1"
        )),
        Question::DormantTools => (
            format!(
                "SELECT tool_id, any_value(tool_name), epoch_us(max(event_time)),
                        floor((epoch({as_of}) - epoch(max(event_time))) / 86400)::BIGINT, count(*)::BIGINT
                 FROM launches WHERE action = 'launch' {d}
                 GROUP BY tool_id
                 HAVING max(event_time) < {as_of} - INTERVAL ({days}) DAY
                 ORDER BY 3, 1",
                d = dims.sql,
                days = p.dormant_days
            ),
            dims.args,
        ),
        Question::DormantDeployments => (
            format!(
                "SELECT tool_id, any_value(tool_name), client_id, deployment_id, consumer_key,
                        tool_provider_id, launch_host, epoch_us(max(event_time)),
                        floor((epoch({as_of}) - epoch(max(event_time))) / 86400)::BIGINT, count(*)::BIGINT
                 FROM launches WHERE action = 'launch' {d}
                 GROUP BY tool_id, client_id, deployment_id, consumer_key, tool_provider_id, launch_host
                 HAVING max(event_time) < {as_of} - INTERVAL ({days}) DAY
                 ORDER BY 8, 1",
                d = dims.sql,
                days = p.dormant_days
            ),
            dims.args,
        ),
        Question::Health => (
            format!(
                "WITH w AS (
                    SELECT tool_id, tool_name,
                           floor((epoch({as_of}) - epoch(event_time)) / 86400)::INTEGER AS d
                    FROM launches WHERE action = 'launch' {d}
                      AND event_time >= {as_of} - INTERVAL 29 DAY AND event_time < {as_of})
                 SELECT tool_id, any_value(tool_name),
                        count(*) FILTER (WHERE d = 0)::BIGINT,
                        (count(*) FILTER (WHERE d IN (7, 14, 21, 28)) / 4.0)::DOUBLE,
                        count(DISTINCT d) FILTER (WHERE d IN (7, 14, 21, 28))::BIGINT
                 FROM w GROUP BY tool_id
                 HAVING count(*) FILTER (WHERE d IN (0, 7, 14, 21, 28)) > 0
                 ORDER BY 4 DESC, 1",
                d = dims.sql
            ),
            dims.args,
        ),
        Question::TimeInTool => one(format!(
            "WITH {launches}, {pairs},
             a AS (SELECT tool_id, any_value(tool_name) AS tool_name, count(*) AS launches FROM f GROUP BY tool_id),
             s AS (SELECT tool_id,
                          count(*) FILTER (WHERE secs BETWEEN 0 AND {cap}) AS paired,
                          count(*) FILTER (WHERE secs > {cap}) AS over_cap,
                          quantile_cont(secs, [0.25, 0.5, 0.75, 0.9]) FILTER (WHERE secs BETWEEN 0 AND {cap}) AS q,
                          avg(secs) FILTER (WHERE secs BETWEEN 0 AND {cap}) AS mean,
                          count(*) FILTER (WHERE secs >= 0 AND secs < 60) AS b1,
                          count(*) FILTER (WHERE secs >= 60 AND secs < 300) AS b2,
                          count(*) FILTER (WHERE secs >= 300 AND secs < 900) AS b3,
                          count(*) FILTER (WHERE secs >= 900 AND secs < 3600) AS b4,
                          count(*) FILTER (WHERE secs >= 3600 AND secs <= {cap}) AS b5
                   FROM p GROUP BY tool_id)
             SELECT a.tool_id, a.tool_name, a.launches::BIGINT, coalesce(s.paired, 0)::BIGINT,
                    (a.launches - coalesce(s.paired, 0))::BIGINT, coalesce(s.over_cap, 0)::BIGINT,
                    s.q[1]::DOUBLE, s.q[2]::DOUBLE, s.q[3]::DOUBLE, s.q[4]::DOUBLE, s.mean::DOUBLE,
                    coalesce(s.b1, 0)::BIGINT, coalesce(s.b2, 0)::BIGINT, coalesce(s.b3, 0)::BIGINT,
                    coalesce(s.b4, 0)::BIGINT, coalesce(s.b5, 0)::BIGINT
             FROM a LEFT JOIN s USING (tool_id)
             ORDER BY coalesce(s.paired, 0) DESC, a.launches DESC, 1",
            launches = launches_cte(w),
            pairs = pairs_cte(f),
            cap = p.time_cap_secs
        )),
        Question::QualitySources => {
            let r = Filter::received(f);
            let sql = format!(
                "WITH e AS (
                    SELECT source, count(*) FILTER (WHERE kind = 'launch') AS lr,
                           count(*) FILTER (WHERE kind <> 'launch') AS nl,
                           quantile_cont(epoch(received_at) - epoch(event_time), 0.5) AS p50,
                           quantile_cont(epoch(received_at) - epoch(event_time), 0.95) AS p95,
                           max(event_time) AS last_event
                    FROM events WHERE true {r} GROUP BY source),
                 d AS (SELECT source, sum(duplicates) AS dup FROM ingest_log WHERE true {r} GROUP BY source),
                 q AS (SELECT coalesce(source, '(unknown)') AS source, count(*) AS qn
                       FROM quarantine WHERE true {r} GROUP BY 1)
                 SELECT source, coalesce(lr, 0)::BIGINT, coalesce(nl, 0)::BIGINT, coalesce(dup, 0)::BIGINT,
                        coalesce(qn, 0)::BIGINT, p50::DOUBLE, p95::DOUBLE, epoch_us(last_event)
                 FROM e FULL JOIN d USING (source) FULL JOIN q USING (source)
                 WHERE coalesce(lr, 0) + coalesce(nl, 0) + coalesce(dup, 0) + coalesce(qn, 0) > 0
                 ORDER BY 1",
                r = r.sql
            );
            (sql, thrice(&r.args))
        }
        Question::QualityDaily => {
            let r = Filter::received(f);
            let day = local_day("received_at", p);
            let sql = format!(
                "WITH e AS (SELECT {day} AS day, source, count(*) FILTER (WHERE kind = 'launch') AS lr,
                                  count(*) FILTER (WHERE kind <> 'launch') AS nl
                           FROM events WHERE true {r} GROUP BY ALL),
                 d AS (SELECT {day} AS day, source, sum(duplicates) AS dup
                       FROM ingest_log WHERE true {r} GROUP BY ALL),
                 q AS (SELECT {day} AS day, coalesce(source, '(unknown)') AS source, count(*) AS qn
                       FROM quarantine WHERE true {r} GROUP BY ALL)
                 SELECT CAST(day AS VARCHAR), source, coalesce(lr, 0)::BIGINT, coalesce(nl, 0)::BIGINT,
                        coalesce(dup, 0)::BIGINT, coalesce(qn, 0)::BIGINT
                 FROM e FULL JOIN d USING (day, source) FULL JOIN q USING (day, source)
                 WHERE coalesce(lr, 0) + coalesce(nl, 0) + coalesce(dup, 0) + coalesce(qn, 0) > 0
                 ORDER BY 1, 2",
                r = r.sql
            );
            (sql, thrice(&r.args))
        }
        Question::QualityLag => {
            let r = Filter::received(f);
            (
                format!(
                    "WITH l AS (SELECT source, epoch(received_at) - epoch(event_time) AS s FROM events WHERE true {r}),
                     b AS (SELECT source, CASE WHEN s < 0 THEN 1 WHEN s < 60 THEN 2 WHEN s < 300 THEN 3
                                               WHEN s < 3600 THEN 4 WHEN s < 86400 THEN 5 ELSE 6 END AS o
                           FROM l)
                     SELECT source,
                            ['future (clock skew)', 'under 1 min', '1-5 min', '5-60 min', '1-24 h', 'over 24 h'][o],
                            count(*)::BIGINT
                     FROM b GROUP BY source, o ORDER BY source, o",
                    r = r.sql
                ),
                r.args,
            )
        }
        Question::QuarantineReasons => (
            "SELECT reason_code, count(*)::BIGINT FROM quarantine WHERE replayed_at IS NULL
             GROUP BY reason_code ORDER BY 2 DESC, 1"
                .to_owned(),
            Vec::new(),
        ),
        Question::Freshness => (
            format!(
                "SELECT source, epoch_us(max(event_time)), epoch_us(max(received_at)),
                        count(*) FILTER (WHERE received_at >= {as_of} - INTERVAL 1 DAY)::BIGINT
                 FROM events GROUP BY source ORDER BY source"
            ),
            Vec::new(),
        ),
        Question::UserLaunches => {
            let mut r = Filter::received(&ReportFilter::default());
            r.range("event_time", f.from, f.to);
            let user = p.user.clone().unwrap_or_default();
            let mut args = r.args;
            args.extend(std::iter::repeat_n(Value::Text(user), 4));
            (
                format!(
                    "SELECT epoch_us(event_time), action, tool_id, tool_name, course_key,
                            coalesce(course_label, course_title), role, source, event_id
                     FROM launches WHERE true {r}
                       AND (user_key = ? OR user_platform_id = ? OR user_external_id = ? OR user_iri = ?)
                     ORDER BY event_time DESC LIMIT 1000",
                    r = r.sql
                ),
                args,
            )
        }
        Question::Tenants => (
            format!(
                "SELECT tenant, count(*)::BIGINT, epoch_us(max(event_time))
                 FROM launches WHERE action = 'launch' {d} GROUP BY tenant ORDER BY 2 DESC, 1",
                d = dims.sql
            ),
            dims.args,
        ),
        Question::Span => one(format!(
            "SELECT epoch_us(min(event_time)), epoch_us(max(event_time))
             FROM launches WHERE action = 'launch' {w}"
        )),
    }
}

fn thrice(args: &[Value]) -> Vec<Value> {
    let mut out = Vec::with_capacity(args.len() * 3);
    for _ in 0..3 {
        out.extend_from_slice(args);
    }
    out
}

/// Runs a query and reads its rows by the question's declared column kinds.
fn read_table(
    conn: &duckdb::Connection,
    q: Question,
    sql: &str,
    args: &[Value],
) -> Result<Table, StoreError> {
    let columns = q.columns();
    let mut table = Table::new(q.name(), columns);
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query(params_from_iter(args.iter()))?;
    while let Some(r) = rows.next()? {
        let mut row = Vec::with_capacity(columns.len());
        for (i, c) in columns.iter().enumerate() {
            row.push(match c.kind {
                ColumnKind::Text => Cell::opt(r.get::<_, Option<String>>(i)?),
                ColumnKind::Count | ColumnKind::Int => r
                    .get::<_, Option<i64>>(i)?
                    .map_or(Cell::Empty, |n| Cell::Int(n.max(0) as u64)),
                ColumnKind::Float => r
                    .get::<_, Option<f64>>(i)?
                    .filter(|x| x.is_finite())
                    .map_or(Cell::Empty, Cell::Float),
                ColumnKind::Ratio => r
                    .get::<_, Option<f64>>(i)?
                    .filter(|x| x.is_finite())
                    .map_or(Cell::Empty, Cell::Ratio),
                ColumnKind::Time => r
                    .get::<_, Option<i64>>(i)?
                    .map_or(Cell::Empty, |us| Cell::Time(from_micros(us))),
                ColumnKind::Day => r
                    .get::<_, Option<String>>(i)?
                    .and_then(|s| chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok())
                    .map_or(Cell::Empty, Cell::Day),
            });
        }
        table.rows.push(row);
    }
    Ok(table)
}
