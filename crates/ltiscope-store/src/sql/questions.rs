//! One query per report [`Question`], in the SQL both backends share. Each select list follows
//! `Question::columns()` exactly: counts cast to BIGINT, measures to FLOAT8, times as epoch
//! microseconds, days as `YYYY-MM-DD` text, so one typed reader per backend reads them all.

use super::{Arg, Dialect, Filter, interval, lit, local_day};
use ltiscope_model::report::{Params, Question, ReportFilter, TOP_COURSES};
use ltiscope_model::{Source, Timestamp};

/// Launches of the filter with the columns the tool questions need.
fn launches_cte(filter: &str) -> String {
    format!(
        "f AS (SELECT tenant, tool_id, tool_name, user_hash, course_hash, role, event_time, launch_id,
                      visit_key
               FROM launches WHERE action = 'launch' {filter})"
    )
}

/// Launches of the filter that open a visit, as `fv` (a CTE) and a select of their tool ids:
/// a launch opens one unless the same user launched the same link of the same tool (the visit
/// key, which holds tenant and tool) less than the window before, whatever the range and the
/// other filters (so a visit that began just before the range is not counted again, and the
/// rollups, which look back the same way, agree). Returns (CTE, select, args of both).
fn visit_starts(d: Dialect, f: &ReportFilter, p: &Params) -> (String, String, Vec<Arg>) {
    let mut inner = Filter::empty();
    inner.eq("tenant", f.tenant.as_deref());
    inner.eq("tool_id", f.tool.as_deref());
    let win = chrono::Duration::seconds(p.visit_window_secs);
    inner.range("event_time", f.from.map(|t| t - win), f.to);
    let mut outer = Filter::empty();
    if let Some(from) = f.from {
        outer
            .sql
            .push_str(&format!(" AND event_time >= {}", lit(from)));
    }
    outer.eq("source", f.source.map(Source::as_str));
    outer.eq("role", f.role.map(|r| r.as_str()));
    outer.eq("course_key", f.course.as_deref());
    if !f.include_test_users {
        outer.sql.push_str(" AND NOT test_user");
    }
    let cte = format!(
        "fv AS (SELECT tool_id, visit_key, event_time, source, role, course_key, test_user
                FROM launches WHERE action = 'launch' {})",
        inner.sql
    );
    let select = format!(
        "SELECT tool_id FROM (
             SELECT tool_id, event_time, source, role, course_key, test_user, {t} AS t,
                    lag({t}) OVER (PARTITION BY visit_key ORDER BY event_time) AS prev
             FROM fv) starts
         WHERE (prev IS NULL OR t - prev > {win}) {outer}",
        t = d.epoch("event_time"),
        win = p.visit_window_secs,
        outer = outer.sql,
    );
    let mut args = inner.args;
    args.extend(outer.args);
    (cte, select, args)
}

/// The first return of each launch id that can pair with a launch in `f`: none returns before
/// the range starts; `until`, when given, drops returns after it (the tools question only needs
/// pairs within the cap, so it passes the range end plus the cap; time in tool passes the range
/// end plus twice the cap, the longest pair it counts as over the cap).
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

/// Seconds from each launch in `f` to its first return, to the millisecond (as rollups keep
/// them); `inner` keeps only launches with one.
fn pair_secs(d: Dialect, inner: bool) -> String {
    format!(
        "SELECT f.tool_id, round(({r} - {l}) * 1000) / 1000.0 AS secs
         FROM f {join} JOIN r ON r.tenant = f.tenant AND r.launch_id = f.launch_id",
        r = d.epoch("r.returned"),
        l = d.epoch("f.event_time"),
        join = if inner { "" } else { "LEFT" }
    )
}

/// Where the courses questions take each course's tenant, key and label from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum CourseNames {
    /// From its launch records (any one of them: they agree).
    Records,
    /// From `rollup_courses`, which names every course a refresh numbered: the launch records
    /// are then read for numbers only, and text columns, the dearest to scan, are not read
    /// (a third of the top courses of a popular tool at 10M launches).
    Rollups,
}

/// The courses question, all of them or the `top` most launched (ties broken by course key,
/// as the full list sorts): the top ones are picked by counting launches per course first, so
/// distinct users, role split and top tool are computed for those courses only (a popular
/// tool's launches span thousands of courses). Grouped by the course hash (of tenant and
/// course key), not the two strings: half the time on one tool's launches at 10M records.
pub(crate) fn courses_sql(d: Dialect, w: &str, top: Option<usize>, names: CourseNames) -> String {
    let any = |e: &str| d.any(e);
    let (picked, from, limit) = match top {
        Some(k) => (
            format!(
                ", n AS (SELECT course_hash, count(*) AS n FROM f GROUP BY course_hash),
                 cut AS (SELECT n FROM n ORDER BY n DESC LIMIT 1 OFFSET {skip}),
                 g AS (SELECT f.* FROM f JOIN n USING (course_hash)
                       WHERE n.n >= coalesce((SELECT n FROM cut), 0))",
                skip = k.saturating_sub(1)
            ),
            "g",
            format!(" LIMIT {k}"),
        ),
        None => (String::new(), "f", String::new()),
    };
    // (columns read from the records, their aggregates, the join that names, what is shown)
    let (texts, named, names_from, shown) = match names {
        CourseNames::Records => (
            "tenant, course_key, course_label, course_title,",
            format!(
                "{tenant} AS tenant, {key} AS course_key, coalesce({label}, {title}) AS label,",
                tenant = any("tenant"),
                key = any("course_key"),
                label = any("course_label"),
                title = any("course_title"),
            ),
            "",
            "a.tenant, a.course_key, a.label",
        ),
        CourseNames::Rollups => (
            "",
            String::new(),
            " JOIN rollup_courses c ON c.course_hash = a.course_hash",
            "c.tenant, c.course_key, c.label",
        ),
    };
    format!(
        "WITH f AS (
            SELECT {texts} course_hash, tool_id, user_hash, role, event_time
            FROM launches WHERE action = 'launch' AND course_hash IS NOT NULL {w}){picked},
         per_tool AS (SELECT course_hash, tool_id,
                             row_number() OVER (PARTITION BY course_hash
                                                ORDER BY count(*) DESC, tool_id) AS rank
                      FROM {from} GROUP BY course_hash, tool_id),
         top AS (SELECT course_hash, tool_id AS top_tool FROM per_tool WHERE rank = 1),
         a AS (SELECT course_hash, {named} count(*) AS n,
                      count(DISTINCT tool_id) AS tools, count(DISTINCT user_hash) AS users,
                      count(*) FILTER (WHERE role = 'learner') AS learners,
                      count(*) FILTER (WHERE role IN ('instructor', 'teaching-assistant')) AS instructors,
                      max(event_time) AS last_seen
               FROM {from} GROUP BY course_hash)
         SELECT {shown}, a.n::BIGINT, a.tools::BIGINT, a.users::BIGINT,
                a.learners::BIGINT, a.instructors::BIGINT, top.top_tool, {last}
         FROM a JOIN top ON top.course_hash = a.course_hash{names_from}
         ORDER BY 4 DESC, 2{limit}",
        last = d.epoch_us("a.last_seen"),
    )
}

/// The query and its parameters (with `?` markers; see [`Dialect::markers`]) for a question.
pub(crate) fn sql_for(d: Dialect, q: Question, f: &ReportFilter, p: &Params) -> (String, Vec<Arg>) {
    let lf = Filter::launches(f);
    let dims = Filter::dims(f);
    let w = &lf.sql;
    let as_of = lit(p.as_of);
    let any = |e: &str| d.any(e);
    let us = |e: &str| d.epoch_us(e);
    let one = |sql: String| (sql, lf.args.clone());
    match q {
        Question::Totals => {
            let (fv, starts, vargs) = visit_starts(d, f, p);
            let mut args = lf.args.clone();
            args.extend(vargs);
            (
                format!(
                    "WITH {launches}, {fv}, v AS (SELECT count(*) AS visits FROM ({starts}) s)
                     SELECT count(*)::BIGINT, (SELECT visits FROM v)::BIGINT,
                            count(DISTINCT user_hash)::BIGINT, count(DISTINCT course_hash)::BIGINT,
                            count(DISTINCT tool_id)::BIGINT
                     FROM f",
                    launches = launches_cte(w),
                ),
                args,
            )
        }
        Question::Daily => one(format!(
            "SELECT {day} AS d, count(*)::BIGINT, count(DISTINCT user_hash)::BIGINT,
                    count(DISTINCT course_hash)::BIGINT
             FROM launches WHERE action = 'launch' {w} GROUP BY 1 ORDER BY 1",
            day = d.day_text(&local_day("event_time", p))
        )),
        Question::Tools => {
            let until =
                f.to.map(|to| to + chrono::Duration::seconds(p.time_cap_secs));
            let (fv, starts, vargs) = visit_starts(d, f, p);
            let mut args = lf.args.clone();
            args.extend(vargs);
            let sql = format!(
                "WITH {launches}, {fv},
                 v AS (SELECT tool_id, count(*) AS visits FROM ({starts}) s GROUP BY tool_id),
                 {returns},
                 t AS (SELECT tool_id, {p50} AS p50, {p90} AS p90
                       FROM ({pairs}) x WHERE secs >= 0 AND secs <= {cap} GROUP BY tool_id),
                 a AS (SELECT tool_id, {name} AS tool_name, count(*) AS launches,
                              count(DISTINCT user_hash) AS users, count(DISTINCT course_hash) AS courses,
                              count(*) FILTER (WHERE role = 'learner') AS learners,
                              count(*) FILTER (WHERE role IN ('instructor', 'teaching-assistant')) AS instructors,
                              min(event_time) AS first_seen, max(event_time) AS last_seen
                       FROM f GROUP BY tool_id)
                 SELECT a.tool_id, a.tool_name, a.launches::BIGINT, coalesce(v.visits, 0)::BIGINT,
                        a.users::BIGINT, a.courses::BIGINT, a.learners::BIGINT, a.instructors::BIGINT,
                        t.p50::FLOAT8, t.p90::FLOAT8, {first}, {last}
                 FROM a LEFT JOIN v USING (tool_id) LEFT JOIN t USING (tool_id)
                 ORDER BY a.launches DESC, a.tool_id",
                launches = launches_cte(w),
                returns = returns_cte(f, until),
                pairs = pair_secs(d, true),
                p50 = d.quantile("secs", 0.5),
                p90 = d.quantile("secs", 0.9),
                cap = p.time_cap_secs,
                name = any("tool_name"),
                first = us("a.first_seen"),
                last = us("a.last_seen"),
            );
            (sql, args)
        }
        // The same per-tool counts; ToolLaunches without the distinct users.
        Question::ToolCounts | Question::ToolLaunches => one(format!(
            "SELECT tool_id, {name}, count(*)::BIGINT{users}
             FROM launches WHERE action = 'launch' {w} GROUP BY tool_id ORDER BY 3 DESC, 1",
            name = any("tool_name"),
            users = if q == Question::ToolCounts {
                ", count(DISTINCT user_hash)::BIGINT"
            } else {
                ""
            },
        )),
        Question::Courses => one(courses_sql(d, w, None, CourseNames::Records)),
        Question::TopCourses => one(courses_sql(
            d,
            w,
            Some(TOP_COURSES),
            CourseNames::Records,
        )),
        Question::Roles => one(format!(
            "SELECT role, count(*)::BIGINT, count(DISTINCT user_hash)::BIGINT
             FROM launches WHERE action = 'launch' {w} GROUP BY role ORDER BY 2 DESC, 1"
        )),
        Question::Hourly => one(format!(
            "SELECT {h} AS h, count(*)::BIGINT
             FROM launches WHERE action = 'launch' {w} GROUP BY 1 ORDER BY 1",
            h = us("date_trunc('hour', event_time)")
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
            "SELECT tool_id, {name}, {keys}, count(*)::BIGINT, count(DISTINCT user_hash)::BIGINT,
                    count(DISTINCT course_hash)::BIGINT, {first}, {last}
             FROM launches WHERE action = 'launch' {w}
             GROUP BY tool_id, {keys}
             ORDER BY 8 DESC, 1, 3, 4, 5, 6, 7",
            keys = DEPLOYMENT.join(", "),
            name = any("tool_name"),
            first = us("min(event_time)"),
            last = us("max(event_time)"),
        )),
        Question::Adoption => one(format!(
            "WITH f AS (SELECT tool_id, tool_name, user_hash, course_hash
                        FROM launches WHERE action = 'launch' {w}),
             tot AS (SELECT count(DISTINCT course_hash) AS ac, count(DISTINCT user_hash) AS au FROM f)
             SELECT tool_id, {name},
                    count(DISTINCT course_hash)::BIGINT, min(tot.ac)::BIGINT,
                    count(DISTINCT course_hash)::FLOAT8 / nullif(min(tot.ac), 0) AS cs,
                    count(DISTINCT user_hash)::BIGINT, min(tot.au)::BIGINT,
                    count(DISTINCT user_hash)::FLOAT8 / nullif(min(tot.au), 0)
             FROM f, tot GROUP BY tool_id ORDER BY cs DESC NULLS LAST, 1",
            name = any("tool_name")
        )),
        Question::DormantTools => dormant(d, p, dims, &[]),
        Question::DormantDeployments => dormant(d, p, dims, &DEPLOYMENT),
        Question::Health => (
            format!(
                "WITH w AS (
                    SELECT tool_id, tool_name, (ceil({since} / 86400) - 1)::INTEGER AS d
                    FROM launches WHERE action = 'launch' {dims}
                      AND event_time >= {as_of} - {days} AND event_time < {as_of})
                 SELECT tool_id, {name},
                        count(*) FILTER (WHERE d = 0)::BIGINT,
                        (count(*) FILTER (WHERE d IN (7, 14, 21, 28)) / 4.0)::FLOAT8,
                        count(DISTINCT d) FILTER (WHERE d IN (7, 14, 21, 28))::BIGINT
                 FROM w GROUP BY tool_id
                 HAVING count(*) FILTER (WHERE d IN (0, 7, 14, 21, 28)) > 0
                 ORDER BY 4 DESC, 1",
                since = secs_since(d, p, "event_time"),
                name = any("tool_name"),
                dims = dims.sql,
                days = interval(29, "days"),
            ),
            dims.args,
        ),
        // A return more than twice the cap after its launch is no pair at all (the launch is
        // unpaired, not over the cap): rollups must know every pair a return can make, and a
        // return reaches back only that far (`rollup::affected_days`).
        Question::TimeInTool => one(format!(
            "WITH {launches}, {returns},
             p AS ({pairs}),
             a AS (SELECT tool_id, {name} AS tool_name, count(*) AS launches FROM f GROUP BY tool_id),
             s AS (SELECT tool_id,
                          count(*) FILTER (WHERE secs BETWEEN 0 AND {cap}) AS paired,
                          count(*) FILTER (WHERE secs > {cap} AND secs <= 2 * {cap}) AS over_cap,
                          {quartiles} FILTER (WHERE secs BETWEEN 0 AND {cap}) AS q,
                          avg(secs) FILTER (WHERE secs BETWEEN 0 AND {cap}) AS mean,
                          count(*) FILTER (WHERE secs >= 0 AND secs < 60 AND secs <= {cap}) AS b1,
                          count(*) FILTER (WHERE secs >= 60 AND secs < 300 AND secs <= {cap}) AS b2,
                          count(*) FILTER (WHERE secs >= 300 AND secs < 900 AND secs <= {cap}) AS b3,
                          count(*) FILTER (WHERE secs >= 900 AND secs < 3600 AND secs <= {cap}) AS b4,
                          count(*) FILTER (WHERE secs >= 3600 AND secs <= {cap}) AS b5
                   FROM p GROUP BY tool_id)
             SELECT a.tool_id, a.tool_name, a.launches::BIGINT, coalesce(s.paired, 0)::BIGINT,
                    (a.launches - coalesce(s.paired, 0))::BIGINT, coalesce(s.over_cap, 0)::BIGINT,
                    s.q[1]::FLOAT8, s.q[2]::FLOAT8, s.q[3]::FLOAT8, s.q[4]::FLOAT8, s.mean::FLOAT8,
                    coalesce(s.b1, 0)::BIGINT, coalesce(s.b2, 0)::BIGINT, coalesce(s.b3, 0)::BIGINT,
                    coalesce(s.b4, 0)::BIGINT, coalesce(s.b5, 0)::BIGINT
             FROM a LEFT JOIN s USING (tool_id)
             ORDER BY coalesce(s.paired, 0) DESC, a.launches DESC, 1",
            launches = launches_cte(w),
            returns = returns_cte(
                f,
                f.to.map(|to| to + chrono::Duration::seconds(2 * p.time_cap_secs))
            ),
            pairs = pair_secs(d, false),
            name = any("tool_name"),
            quartiles = d.quantiles("secs", &[0.25, 0.5, 0.75, 0.9]),
            cap = p.time_cap_secs
        )),
        Question::QualitySources => {
            let r = Filter::received(f);
            let lag = format!("{} - {}", d.epoch("received_at"), d.epoch("event_time"));
            let sql = format!(
                "WITH e AS (
                    SELECT source, count(*) FILTER (WHERE kind = 'launch') AS lr,
                           count(*) FILTER (WHERE kind <> 'launch') AS nl,
                           {p50} AS p50, {p95} AS p95, max(event_time) AS last_event
                    FROM events WHERE true {r} GROUP BY source),
                 d AS (SELECT source, sum(duplicates) AS dup FROM ingest_log WHERE true {r} GROUP BY source),
                 q AS (SELECT coalesce(source, '(unknown)') AS source, count(*) AS qn
                       FROM quarantine WHERE true {r} GROUP BY 1)
                 SELECT source, coalesce(lr, 0)::BIGINT, coalesce(nl, 0)::BIGINT, coalesce(dup, 0)::BIGINT,
                        coalesce(qn, 0)::BIGINT, p50::FLOAT8, p95::FLOAT8, {last}
                 FROM e FULL JOIN d USING (source) FULL JOIN q USING (source)
                 WHERE coalesce(lr, 0) + coalesce(nl, 0) + coalesce(dup, 0) + coalesce(qn, 0) > 0
                 ORDER BY 1",
                p50 = d.quantile(&lag, 0.5),
                p95 = d.quantile(&lag, 0.95),
                last = us("last_event"),
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
                           FROM events WHERE true {r} GROUP BY 1, 2),
                 d AS (SELECT {day} AS day, source, sum(duplicates) AS dup
                       FROM ingest_log WHERE true {r} GROUP BY 1, 2),
                 q AS (SELECT {day} AS day, coalesce(source, '(unknown)') AS source, count(*) AS qn
                       FROM quarantine WHERE true {r} GROUP BY 1, 2)
                 SELECT {day_text}, source, coalesce(lr, 0)::BIGINT, coalesce(nl, 0)::BIGINT,
                        coalesce(dup, 0)::BIGINT, coalesce(qn, 0)::BIGINT
                 FROM e FULL JOIN d USING (day, source) FULL JOIN q USING (day, source)
                 WHERE coalesce(lr, 0) + coalesce(nl, 0) + coalesce(dup, 0) + coalesce(qn, 0) > 0
                 ORDER BY 1, 2",
                day_text = d.day_text("day"),
                r = r.sql
            );
            (sql, thrice(&r.args))
        }
        Question::QualityLag => {
            let r = Filter::received(f);
            let lag = format!("{} - {}", d.epoch("received_at"), d.epoch("event_time"));
            (
                format!(
                    "WITH l AS (SELECT source, {lag} AS s FROM events WHERE true {r}),
                     b AS (SELECT source, CASE WHEN s < 0 THEN 1 WHEN s < 60 THEN 2 WHEN s < 300 THEN 3
                                               WHEN s < 3600 THEN 4 WHEN s < 86400 THEN 5 ELSE 6 END AS o
                           FROM l)
                     SELECT source,
                            CASE o WHEN 1 THEN 'future (clock skew)' WHEN 2 THEN 'under 1 min'
                                   WHEN 3 THEN '1-5 min' WHEN 4 THEN '5-60 min' WHEN 5 THEN '1-24 h'
                                   ELSE 'over 24 h' END,
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
        // Per known source, so each part is an index lookup on PostgreSQL (events by source
        // and event time, by source and receipt) instead of a scan of every event; DuckDB
        // scans its columns either way.
        Question::Freshness => {
            let sources: Vec<String> = Source::ALL
                .iter()
                .map(|s| format!("({})", super::quote(s.as_str())))
                .collect();
            (
                format!(
                    "SELECT source, {last_event}, {last_received}, n::BIGINT FROM (
                        SELECT s.source,
                               (SELECT max(event_time) FROM events e WHERE e.source = s.source) AS le,
                               (SELECT max(received_at) FROM events e WHERE e.source = s.source) AS lr,
                               (SELECT count(*) FROM events e
                                WHERE e.source = s.source AND e.received_at >= {as_of} - {day}) AS n
                        FROM (VALUES {values}) AS s (source)) x
                     WHERE le IS NOT NULL ORDER BY source",
                    last_event = us("le"),
                    last_received = us("lr"),
                    day = interval(1, "days"),
                    values = sources.join(", "),
                ),
                Vec::new(),
            )
        }
        Question::UserLaunches => {
            let mut r = Filter::received(&ReportFilter::default());
            r.range("event_time", f.from, f.to);
            let user = p.user.clone().unwrap_or_default();
            let mut args = r.args;
            args.extend(std::iter::repeat_n(Arg::Text(user), 4));
            (
                format!(
                    "SELECT {t}, action, tool_id, tool_name, course_key,
                            coalesce(course_label, course_title), role, source, event_id
                     FROM launches WHERE true {r}
                       AND (user_key = ? OR user_platform_id = ? OR user_external_id = ? OR user_iri = ?)
                     ORDER BY event_time DESC LIMIT 1000",
                    t = us("event_time"),
                    r = r.sql
                ),
                args,
            )
        }
        Question::Tenants => (
            format!(
                "SELECT tenant, count(*)::BIGINT, {last}
                 FROM launches WHERE action = 'launch' {dims} GROUP BY tenant ORDER BY 2 DESC, 1",
                last = us("max(event_time)"),
                dims = dims.sql
            ),
            dims.args,
        ),
        Question::Span => one(format!(
            "SELECT {first}, {last} FROM launches WHERE action = 'launch' {w}",
            first = us("min(event_time)"),
            last = us("max(event_time)"),
        )),
    }
}

/// Seconds from a timestamp expression to `as_of`.
fn secs_since(d: Dialect, p: &Params, e: &str) -> String {
    format!("({} - {})", d.epoch(&lit(p.as_of)), d.epoch(e))
}

/// The columns that tell a tool's deployments apart.
const DEPLOYMENT: [&str; 5] = [
    "client_id",
    "deployment_id",
    "consumer_key",
    "tool_provider_id",
    "launch_host",
];

/// Tools (or, with `keys`, their deployments) whose last launch is more than the dormant days
/// before `as_of`, oldest first.
fn dormant(d: Dialect, p: &Params, dims: Filter, keys: &[&str]) -> (String, Vec<Arg>) {
    let as_of = lit(p.as_of);
    let keys: String = keys.iter().map(|k| format!(", {k}")).collect();
    (
        format!(
            "SELECT tool_id, {name}{keys}, {last}, floor({since} / 86400)::BIGINT,
                    count(*)::BIGINT
             FROM launches WHERE action = 'launch' {dims}
             GROUP BY tool_id{keys}
             HAVING max(event_time) < {as_of} - {days}
             ORDER BY max(event_time), tool_id",
            name = d.any("tool_name"),
            last = d.epoch_us("max(event_time)"),
            since = secs_since(d, p, "max(event_time)"),
            dims = dims.sql,
            days = interval(p.dormant_days, "days"),
        ),
        dims.args,
    )
}

fn thrice(args: &[Arg]) -> Vec<Arg> {
    let mut out = Vec::with_capacity(args.len() * 3);
    for _ in 0..3 {
        out.extend_from_slice(args);
    }
    out
}
