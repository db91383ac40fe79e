//! Answers from rollups: the questions whose every column can be computed exactly from the
//! rollup rows of a range of whole local days, with the same columns, order and meaning as
//! their SQL over the launch records (`crate::sql::questions`). The store's conformance suite
//! checks the two agree cell by cell.

use super::codec::{Bits, decode_into, quantile_cont};
use super::{Db, RollupConfig, local_day, state};
use crate::StoreError;
use crate::sql::{Arg, CourseNames, Filter, Raw, Wire, cell, wire};
use chrono::{NaiveDate, Offset, TimeZone};
use ltiscope_model::day_start;
use ltiscope_model::report::{Cell, Params, Question, ReportFilter, TOP_COURSES, Table};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Whether rollups may answer `q` under `f` at all (the range and tuning are checked against
/// the rollup state in [`answer`]); nothing is refreshed for the others.
pub(crate) fn may_answer(q: Question, f: &ReportFilter) -> bool {
    f.course.is_none() && answers(q)
}

/// The questions rollups answer from the course rollup (`courses.rs`) over whole days without
/// a source or role filter, and otherwise by reading the launch records themselves, named
/// from `rollup_courses` (no text column of the records is read).
pub(crate) fn reads_records(q: Question) -> bool {
    matches!(q, Question::Courses | Question::TopCourses)
}

/// The questions rollups answer.
fn answers(q: Question) -> bool {
    matches!(
        q,
        Question::Totals
            | Question::Daily
            | Question::ToolCounts
            | Question::ToolLaunches
            | Question::Tools
            | Question::Adoption
            | Question::Roles
            | Question::Hourly
            | Question::MessageTypes
            | Question::LtiVersions
            | Question::Deployments
            | Question::Courses
            | Question::TopCourses
            | Question::DormantTools
            | Question::DormantDeployments
            | Question::Health
            | Question::TimeInTool
    )
}

/// The rollup days `[from, to)` a filter covers, when it covers whole days of the rollup time
/// zone (`None` for an open end); `None` when the rollups cannot answer it exactly.
fn day_range(
    cfg: &RollupConfig,
    q: Question,
    f: &ReportFilter,
    p: &Params,
) -> Option<(Option<NaiveDate>, Option<NaiveDate>)> {
    if !may_answer(q, f) {
        return None;
    }
    match q {
        // The courses read the launch records of the range themselves (only their names come
        // from rollups); dormant reads every rolled-up day: neither depends on whole days,
        // visits or pairs.
        _ if reads_records(q) => return Some((None, None)),
        Question::DormantTools | Question::DormantDeployments => return Some((None, None)),
        // Whole UTC hours before `as_of`, whatever the range: exact when it starts an hour.
        Question::Health => {
            let on_the_hour = p.as_of.timestamp_micros().rem_euclid(3_600_000_000) == 0;
            return on_the_hour.then_some((None, None));
        }
        _ => {}
    }
    if p.visit_window_secs != cfg.visit_window_secs || p.time_cap_secs != cfg.time_cap_secs {
        return None;
    }
    let range = whole_days(cfg, f)?;
    if q == Question::Daily && !one_offset(cfg, f, p) {
        return None;
    }
    Some(range)
}

/// The local days `[from, to)` of the filter's range (`None` for an open end), when both ends
/// are midnights of the rollup time zone.
fn whole_days(
    cfg: &RollupConfig,
    f: &ReportFilter,
) -> Option<(Option<NaiveDate>, Option<NaiveDate>)> {
    let whole = |t: Option<ltiscope_model::Timestamp>| -> Option<Option<NaiveDate>> {
        match t {
            None => Some(None),
            Some(t) => {
                let d = local_day(cfg.timezone, t);
                (day_start(&cfg.timezone, d) == t).then_some(Some(d))
            }
        }
    };
    Some((whole(f.from)?, whole(f.to)?))
}

/// Whether the rollup time zone keeps the one UTC offset the SQL cuts days with
/// (`Params::utc_offset_minutes`, the offset at the start of the range) over the whole range:
/// rollup days follow daylight saving, the SQL does not, so a daily series across a change is
/// left to the SQL and both always agree. An open range counts as one offset only in a zone
/// without daylight saving.
fn one_offset(cfg: &RollupConfig, f: &ReportFilter, p: &Params) -> bool {
    let offset = |t: ltiscope_model::Timestamp| {
        cfg.timezone
            .offset_from_utc_datetime(&t.naive_utc())
            .fix()
            .local_minus_utc()
            / 60
    };
    let (from, to) = match (f.from, f.to) {
        (Some(from), Some(to)) => (from, to),
        _ => {
            let year = chrono::Datelike::year(&p.as_of);
            let probe = |m| {
                NaiveDate::from_ymd_opt(year, m, 1)
                    .and_then(|d| d.and_hms_opt(12, 0, 0))
                    .map(|t| t.and_utc())
            };
            let (Some(jan), Some(jul)) = (probe(1), probe(7)) else {
                return false;
            };
            (jan, jul)
        }
    };
    let mut t = from;
    while t < to {
        if offset(t) != p.utc_offset_minutes {
            return false;
        }
        t += chrono::Duration::hours(6);
    }
    offset(to) == p.utc_offset_minutes
}

/// One rollup row as read: text borrowed from the driver's row, sets decoded once into
/// buffers every question of the read shares (rollup answers read tens of thousands of rows
/// holding millions of set members).
struct Row<'a> {
    /// Local day, as days since 1970-01-01.
    day: i64,
    tool_id: &'a str,
    tool_name: &'a str,
    role: &'a str,
    launches: u64,
    visits: u64,
    first_us: i64,
    last_us: i64,
    users: &'a [u32],
    courses: &'a [u32],
    paired_ms: &'a [u32],
    /// Launches whose first return came after the cap, within twice it.
    over_cap: u64,
}

/// The sets a question needs.
#[derive(Clone, Copy, Default)]
struct Need {
    users: bool,
    courses: bool,
    paired: bool,
}

impl Need {
    fn of(q: Question) -> Need {
        match q {
            Question::Tools => Need {
                users: true,
                courses: true,
                paired: true,
            },
            Question::Totals | Question::Daily | Question::Adoption => Need {
                users: true,
                courses: true,
                paired: false,
            },
            Question::ToolLaunches => Need::default(),
            Question::TimeInTool => Need {
                paired: true,
                ..Need::default()
            },
            _ => Need {
                users: true,
                ..Need::default()
            },
        }
    }

    fn or(self, o: Need) -> Need {
        Need {
            users: self.users || o.users,
            courses: self.courses || o.courses,
            paired: self.paired || o.paired,
        }
    }
}

/// Per-group sums while answering.
#[derive(Default)]
struct Group {
    name: String,
    launches: u64,
    visits: u64,
    learners: u64,
    instructors: u64,
    first_us: Option<i64>,
    last_us: Option<i64>,
    users: Bits,
    courses: Bits,
    paired_ms: Vec<u32>,
    over_cap: u64,
}

impl Group {
    /// Adds a row's counts (a row of sets only has none) and the sets `need` asks for (a row
    /// of counts only has empty ones).
    fn add(&mut self, r: &Row<'_>, need: Need) {
        if r.launches > 0 {
            if self.launches == 0 || r.tool_name < self.name.as_str() {
                r.tool_name.clone_into(&mut self.name);
            }
            self.first_us = Some(self.first_us.map_or(r.first_us, |f| f.min(r.first_us)));
            self.last_us = Some(self.last_us.map_or(r.last_us, |l| l.max(r.last_us)));
        }
        self.launches += r.launches;
        self.visits += r.visits;
        self.over_cap += r.over_cap;
        match r.role {
            "learner" => self.learners += r.launches,
            "instructor" | "teaching-assistant" => self.instructors += r.launches,
            _ => {}
        }
        if need.users {
            self.users.add_all(r.users);
        }
        if need.courses {
            self.courses.add_all(r.courses);
        }
        if need.paired {
            self.paired_ms.extend_from_slice(r.paired_ms);
        }
    }
}

/// The group of `key`, made on first use (the key is copied only then).
fn group<'m>(groups: &'m mut HashMap<String, Group>, key: &str) -> &'m mut Group {
    if !groups.contains_key(key) {
        groups.insert(key.to_owned(), Group::default());
    }
    groups.get_mut(key).expect("inserted above")
}

/// One question being answered from the rows of a read.
enum Acc {
    Totals {
        all: Group,
        tools: HashSet<String>,
    },
    Daily(BTreeMap<i64, Group>),
    Roles(HashMap<String, Group>),
    /// ToolCounts, ToolLaunches, Tools, Adoption and TimeInTool: per tool (and, for adoption,
    /// everything).
    PerTool {
        q: Question,
        tools: HashMap<String, Group>,
        all: Group,
    },
}

impl Acc {
    fn new(q: Question) -> Acc {
        match q {
            Question::Totals => Acc::Totals {
                all: Group::default(),
                tools: HashSet::new(),
            },
            Question::Daily => Acc::Daily(BTreeMap::new()),
            Question::Roles => Acc::Roles(HashMap::new()),
            _ => Acc::PerTool {
                q,
                tools: HashMap::new(),
                all: Group::default(),
            },
        }
    }

    fn add(&mut self, r: &Row<'_>, need: Need) {
        match self {
            Acc::Totals { all, tools } => {
                all.add(r, need);
                if r.launches > 0 && !tools.contains(r.tool_id) {
                    tools.insert(r.tool_id.to_owned());
                }
            }
            Acc::Daily(days) => days.entry(r.day).or_default().add(r, need),
            Acc::Roles(roles) => group(roles, r.role).add(r, need),
            Acc::PerTool { q, tools, all } => {
                group(tools, r.tool_id).add(r, need);
                if *q == Question::Adoption {
                    all.users.add_all(r.users);
                    all.courses.add_all(r.courses);
                }
            }
        }
    }

    /// The answer, with the columns, order and meaning of the question's SQL.
    fn finish(self, q: Question) -> Table {
        let mut table = Table::new(q.name(), q.columns());
        let count = |n: u64| Cell::Int(n);
        let time = |us: Option<i64>| {
            us.and_then(chrono::DateTime::from_timestamp_micros)
                .map_or(Cell::Empty, Cell::Time)
        };
        match self {
            Acc::Totals { all, tools } => table.rows.push(vec![
                count(all.launches),
                count(all.visits),
                count(all.users.count()),
                count(all.courses.count()),
                count(tools.len() as u64),
            ]),
            Acc::Daily(days) => {
                for (d, g) in days {
                    let Some(day) =
                        NaiveDate::default().checked_add_signed(chrono::Duration::days(d))
                    else {
                        continue;
                    };
                    table.rows.push(vec![
                        Cell::Day(day),
                        count(g.launches),
                        count(g.users.count()),
                        count(g.courses.count()),
                    ]);
                }
            }
            Acc::Roles(roles) => {
                let mut out: Vec<(String, Group)> = roles.into_iter().collect();
                out.sort_by(|a, b| b.1.launches.cmp(&a.1.launches).then(a.0.cmp(&b.0)));
                for (role, g) in out {
                    table.rows.push(vec![
                        Cell::Text(role),
                        count(g.launches),
                        count(g.users.count()),
                    ]);
                }
            }
            Acc::PerTool {
                q: Question::Adoption,
                tools,
                all,
            } => {
                let (ac, au) = (all.courses.count(), all.users.count());
                let share = |n: u64, of: u64| (of > 0).then(|| n as f64 / of as f64);
                let mut shares: Vec<(String, Group, u64, u64, Option<f64>)> = tools
                    .into_iter()
                    .map(|(id, g)| {
                        let (c, u) = (g.courses.count(), g.users.count());
                        (id, g, c, u, share(c, ac))
                    })
                    .collect();
                // ORDER BY course share DESC NULLS LAST, tool_id.
                shares.sort_by(|a, b| {
                    let by_share = match (a.4, b.4) {
                        (Some(x), Some(y)) => y.total_cmp(&x),
                        (Some(_), None) => std::cmp::Ordering::Less,
                        (None, Some(_)) => std::cmp::Ordering::Greater,
                        (None, None) => std::cmp::Ordering::Equal,
                    };
                    by_share.then(a.0.cmp(&b.0))
                });
                for (id, g, c, u, cs) in shares {
                    table.rows.push(vec![
                        Cell::Text(id),
                        Cell::Text(g.name),
                        count(c),
                        count(ac),
                        cs.map_or(Cell::Empty, Cell::Ratio),
                        count(u),
                        count(au),
                        share(u, au).map_or(Cell::Empty, Cell::Ratio),
                    ]);
                }
            }
            Acc::PerTool {
                q: Question::TimeInTool,
                tools,
                ..
            } => {
                let mut out: Vec<(String, Group)> = tools.into_iter().collect();
                // ORDER BY paired DESC, launches DESC, tool_id.
                out.sort_by(|a, b| {
                    (b.1.paired_ms.len(), b.1.launches, &a.0).cmp(&(
                        a.1.paired_ms.len(),
                        a.1.launches,
                        &b.0,
                    ))
                });
                for (id, g) in out {
                    table.rows.push(time_in_tool_row(id, g));
                }
            }
            Acc::PerTool { q, tools, .. } => {
                let mut out: Vec<(String, Group)> = tools.into_iter().collect();
                out.sort_by(|a, b| b.1.launches.cmp(&a.1.launches).then(a.0.cmp(&b.0)));
                for (id, mut g) in out {
                    let mut row = vec![
                        Cell::Text(id),
                        Cell::Text(g.name.clone()),
                        count(g.launches),
                    ];
                    if q == Question::Tools {
                        let secs = |x: Option<f64>| x.map_or(Cell::Empty, Cell::Float);
                        let p50 = quantile_cont(&mut g.paired_ms, 0.5, 1000.0);
                        let p90 = quantile_cont(&mut g.paired_ms, 0.9, 1000.0);
                        row.extend([
                            count(g.visits),
                            count(g.users.count()),
                            count(g.courses.count()),
                            count(g.learners),
                            count(g.instructors),
                            secs(p50),
                            secs(p90),
                            time(g.first_us),
                            time(g.last_us),
                        ]);
                    } else if q == Question::ToolCounts {
                        row.push(count(g.users.count()));
                    }
                    table.rows.push(row);
                }
            }
        }
        table
    }
}

/// A row of the time-in-tool question from a tool's group, as its SQL computes it from the
/// launch records: the pairs within the cap timed (quartiles, p90, mean, five buckets), the
/// rest of the launches unpaired, of which those returned within twice the cap are over it.
fn time_in_tool_row(id: String, mut g: Group) -> Vec<Cell> {
    let paired = g.paired_ms.len() as u64;
    let secs = |x: Option<f64>| x.map_or(Cell::Empty, Cell::Float);
    let mut row = vec![
        Cell::Text(id),
        Cell::Text(std::mem::take(&mut g.name)),
        Cell::Int(g.launches),
        Cell::Int(paired),
        Cell::Int(g.launches.saturating_sub(paired)),
        Cell::Int(g.over_cap),
    ];
    for p in [0.25, 0.5, 0.75, 0.9] {
        row.push(secs(quantile_cont(&mut g.paired_ms, p, 1000.0)));
    }
    let total: u64 = g.paired_ms.iter().map(|&ms| u64::from(ms)).sum();
    row.push(secs(
        (paired > 0).then(|| total as f64 / 1000.0 / paired as f64),
    ));
    // [0, 1 min), [1, 5), [5, 15), [15, 60) minutes, an hour up to the cap.
    let mut buckets = [0u64; 5];
    for &ms in &g.paired_ms {
        let k = match ms {
            0..60_000 => 0,
            60_000..300_000 => 1,
            300_000..900_000 => 2,
            900_000..3_600_000 => 3,
            _ => 4,
        };
        buckets[k] += 1;
    }
    row.extend(buckets.map(Cell::Int));
    row
}

/// Answers each of `qs` from rollups, or `None` for those they cannot answer exactly (the
/// caller then asks the launch records). The questions share one read of the rollup rows
/// (Roles, which needs the sets of every role apart, has its own). The caller has refreshed
/// pending marks.
pub(crate) fn answer(
    db: &mut dyn Db,
    qs: &[Question],
    f: &ReportFilter,
    p: &Params,
) -> Result<Vec<Option<Table>>, StoreError> {
    let mut out: Vec<Option<Table>> = qs.iter().map(|_| None).collect();
    if !qs.iter().any(|q| may_answer(*q, f)) {
        return Ok(out);
    }
    let cfg = state(db)?;
    // (index, question, accumulator) of the shared read and of the per-role read.
    let mut reads: [Vec<(usize, Question, Acc)>; 2] = [Vec::new(), Vec::new()];
    let mut range = None;
    // (index, question) of the counted facets, read together; their days are the filter's
    // whole days, the same for each.
    let mut counted: Vec<(usize, Question)> = Vec::new();
    let mut counted_days = None;
    for (i, &q) in qs.iter().enumerate() {
        let Some(r) = day_range(&cfg, q, f, p) else {
            continue;
        };
        out[i] = Some(match q {
            _ if reads_records(q) => {
                let packed = match whole_days(&cfg, f) {
                    Some(days) => super::courses::answer(db, &cfg, q, f, days)?,
                    None => None,
                };
                match packed {
                    Some(table) => table,
                    None => courses(db, q, f)?,
                }
            }
            Question::DormantTools | Question::DormantDeployments => dormant(db, q, f, p)?,
            Question::Health => health(db, &cfg, f, p)?,
            _ if facet_name(q).is_some() => {
                counted.push((i, q));
                counted_days = Some(r);
                continue;
            }
            Question::Deployments => deployments(db, f, r)?,
            _ => {
                range = Some(r);
                reads[usize::from(q == Question::Roles)].push((i, q, Acc::new(q)));
                continue;
            }
        });
    }
    if let Some(days) = counted_days {
        let qs: Vec<Question> = counted.iter().map(|(_, q)| *q).collect();
        for ((i, _), table) in counted.iter().zip(counted_facets(db, &qs, f, days)?) {
            out[*i] = Some(table);
        }
    }
    let Some((from, to)) = range else {
        return Ok(out);
    };
    for (k, mut accs) in reads.into_iter().enumerate() {
        if accs.is_empty() {
            continue;
        }
        let needs: Vec<Need> = accs.iter().map(|(_, q, _)| Need::of(*q)).collect();
        let need = needs.iter().fold(Need::default(), |n, m| n.or(*m));
        let merged = k == 0 && f.role.is_none() && f.source.is_none();
        each_row(db, f, from, to, need, merged, &mut |r| {
            for ((_, _, acc), need) in accs.iter_mut().zip(&needs) {
                acc.add(r, *need);
            }
        })?;
        for (i, q, acc) in accs {
            out[i] = Some(acc.finish(q));
        }
    }
    Ok(out)
}

/// Calls `row` with the rollup rows of the days and dimensions of the filter, with the sets
/// `need` asks for decoded (the others empty). `merged` (only without a role or source
/// filter): the counts come summed per (day, tool, role) from `rollup_days` and the sets from
/// `rollup_tool_days`, as two kinds of rows (counts with empty sets, then sets with zero
/// counts), far fewer rows than the sets of every role and source. Otherwise every matching
/// `rollup_days` row comes with its counts and sets.
fn each_row(
    db: &mut dyn Db,
    f: &ReportFilter,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    need: Need,
    merged: bool,
    row: &mut dyn FnMut(&Row<'_>),
) -> Result<(), StoreError> {
    let d = db.dialect();
    let (conditions, args) = where_days(f, (from, to));
    let none = d.no_bytes();
    let set = |wanted: bool, column| if wanted { column } else { none };
    let (users, courses, paired) = (
        set(need.users, "users"),
        set(need.courses, "courses"),
        set(need.paired, "paired_ms"),
    );
    // Date minus date is a whole number of days in both dialects.
    let day = "CAST(day - DATE '1970-01-01' AS BIGINT)";
    let (zero, text) = ("CAST(0 AS BIGINT)", "VARCHAR");
    let queries = if merged {
        let mut queries = vec![format!(
            "SELECT {day}, tool_id, min(tool_name), role, CAST(sum(launches) AS BIGINT),
                    CAST(sum(visits) AS BIGINT), min(first_us), max(last_us),
                    {none}, {none}, {none}, CAST(sum(over_cap) AS BIGINT)
             FROM rollup_days WHERE true {conditions}
             GROUP BY day, tool_id, role",
        )];
        // The sets' rows, unless no set is wanted (counts only: they would add nothing).
        if need.users || need.courses || need.paired {
            queries.push(format!(
                "SELECT {day}, tool_id, CAST('' AS {text}), CAST('' AS {text}), {zero}, {zero},
                        {zero}, {zero}, {users}, {courses}, {paired}, {zero}
                 FROM rollup_tool_days WHERE true {conditions}",
            ));
        }
        queries
    } else {
        vec![format!(
            "SELECT {day}, tool_id, tool_name, role, launches, visits, first_us, last_us,
                    {users}, {courses}, {paired}, over_cap
             FROM rollup_days WHERE true {conditions}",
        )]
    };
    let mut sets: [Vec<u32>; 3] = Default::default();
    for sql in queries {
        db.each(&sql, &args, &mut |r| {
            for (k, buf) in sets.iter_mut().enumerate() {
                buf.clear();
                decode_into(r.bytes(8 + k)?.unwrap_or_default(), buf);
            }
            row(&Row {
                day: r.int(0)?.unwrap_or_default(),
                tool_id: r.text_ref(1)?.unwrap_or_default(),
                tool_name: r.text_ref(2)?.unwrap_or_default(),
                role: r.text_ref(3)?.unwrap_or_default(),
                launches: r.int(4)?.unwrap_or(0).max(0) as u64,
                visits: r.int(5)?.unwrap_or(0).max(0) as u64,
                first_us: r.int(6)?.unwrap_or_default(),
                last_us: r.int(7)?.unwrap_or_default(),
                users: &sets[0],
                courses: &sets[1],
                paired_ms: &sets[2],
                over_cap: r.int(11)?.unwrap_or(0).max(0) as u64,
            });
            Ok(())
        })?;
    }
    Ok(())
}

/// The conditions (`AND …`) and arguments that pick the rollup rows of a range of days and the
/// dimensions of a filter.
fn where_days(
    f: &ReportFilter,
    range: (Option<NaiveDate>, Option<NaiveDate>),
) -> (String, Vec<Arg>) {
    where_range(f, "day", range)
}

/// The conditions `column` in `[from, to)` (an open end adds nothing) and the dimensions of
/// a filter.
pub(super) fn where_range(
    f: &ReportFilter,
    column: &str,
    (from, to): (Option<NaiveDate>, Option<NaiveDate>),
) -> (String, Vec<Arg>) {
    let dims = Filter::dims(f);
    let mut sql = String::new();
    let mut args = Vec::new();
    if let Some(from) = from {
        sql.push_str(&format!(" AND {column} >= ?"));
        args.push(Arg::Date(from));
    }
    if let Some(to) = to {
        sql.push_str(&format!(" AND {column} < ?"));
        args.push(Arg::Date(to));
    }
    sql.push_str(&dims.sql);
    args.extend(dims.args);
    (sql, args)
}

/// Per deployment while answering.
#[derive(Default)]
struct Deployment {
    name: String,
    launches: u64,
    first_us: i64,
    last_us: i64,
    users: Bits,
    courses: Bits,
}

/// The facet a counted question (launches per facet value, no sets) reads in
/// `rollup_facets`; `None` for every other question.
fn facet_name(q: Question) -> Option<&'static str> {
    match q {
        Question::Hourly => Some("hour"),
        Question::MessageTypes => Some("message_type"),
        Question::LtiVersions => Some("lti_version"),
        _ => None,
    }
}

/// Answers the hourly, message-type and LTI-version questions (any of them) from one read of
/// `rollup_facets` (one scan of the table instead of one per question): the launches summed
/// in SQL per facet value, each table in the order of its SQL over the launch records — hours
/// ascending, the others by launches (most first), then value.
fn counted_facets(
    db: &mut dyn Db,
    qs: &[Question],
    f: &ReportFilter,
    days: (Option<NaiveDate>, Option<NaiveDate>),
) -> Result<Vec<Table>, StoreError> {
    let (conditions, args) = where_days(f, days);
    let facets: Vec<String> = qs
        .iter()
        .filter_map(|q| facet_name(*q))
        .map(|name| format!("'{name}'"))
        .collect();
    let sql = format!(
        "SELECT facet, value, CAST(sum(launches) AS BIGINT) FROM rollup_facets
         WHERE facet IN ({}) {conditions} GROUP BY facet, value ORDER BY facet, 3 DESC, value",
        facets.join(", ")
    );
    let mut tables: Vec<Table> = qs
        .iter()
        .map(|q| Table::new(q.name(), q.columns()))
        .collect();
    db.each(&sql, &args, &mut |r| {
        let facet = r.text_ref(0)?.unwrap_or_default();
        let Some(k) = qs.iter().position(|q| facet_name(*q) == Some(facet)) else {
            return Ok(());
        };
        let columns = qs[k].columns();
        let value = match wire(columns[0].kind) {
            Wire::Int => Raw::Int(r.text_ref(1)?.and_then(|v| v.parse().ok())),
            _ => Raw::Text(r.text(1)?),
        };
        let launches = Raw::Int(r.int(2)?);
        tables[k].rows.push(vec![
            cell(columns[0].kind, value),
            cell(columns[1].kind, launches),
        ]);
        Ok(())
    })?;
    // Hours are kept as text: ordered here as numbers (the SQL ordered them by launches).
    for (q, table) in qs.iter().zip(&mut tables) {
        if *q == Question::Hourly {
            table.rows.sort_by_key(|row| match row.first() {
                Some(Cell::Time(t)) => t.timestamp_micros(),
                _ => i64::MIN,
            });
        }
    }
    Ok(tables)
}

/// Answers the deployments question from the deployment rows of `rollup_facets`: launches and
/// first and last launch summed and bounded per deployment, distinct users and courses from
/// their sets, in the order of its SQL over the launch records.
fn deployments(
    db: &mut dyn Db,
    f: &ReportFilter,
    days: (Option<NaiveDate>, Option<NaiveDate>),
) -> Result<Table, StoreError> {
    let q = Question::Deployments;
    let (conditions, args) = where_days(f, days);
    let mut table = Table::new(q.name(), q.columns());
    let mut deployments: BTreeMap<(String, String), Deployment> = BTreeMap::new();
    let mut sets = (Vec::new(), Vec::new());
    db.each(
        &format!(
            "SELECT tool_id, tool_name, value, launches, first_us, last_us, users, courses
             FROM rollup_facets WHERE facet = 'deployment' {conditions}"
        ),
        &args,
        &mut |r| {
            let key = (
                r.text_ref(0)?.unwrap_or_default().to_owned(),
                r.text_ref(2)?.unwrap_or_default().to_owned(),
            );
            let name = r.text_ref(1)?.unwrap_or_default();
            let (launches, first, last) = (
                r.int(3)?.unwrap_or(0).max(0) as u64,
                r.int(4)?.unwrap_or_default(),
                r.int(5)?.unwrap_or_default(),
            );
            let d = deployments.entry(key).or_default();
            if d.launches == 0 {
                (d.first_us, d.last_us) = (first, last);
                name.clone_into(&mut d.name);
            } else if name < d.name.as_str() {
                name.clone_into(&mut d.name);
            }
            d.launches += launches;
            d.first_us = d.first_us.min(first);
            d.last_us = d.last_us.max(last);
            sets.0.clear();
            sets.1.clear();
            decode_into(r.bytes(6)?.unwrap_or_default(), &mut sets.0);
            decode_into(r.bytes(7)?.unwrap_or_default(), &mut sets.1);
            d.users.add_all(&sets.0);
            d.courses.add_all(&sets.1);
            Ok(())
        },
    )?;
    let mut rows: Vec<(String, Vec<Option<String>>, Deployment)> = deployments
        .into_iter()
        .map(|((tool, value), d)| (tool, deployment_keys(&value), d))
        .collect();
    // ORDER BY launches DESC, tool_id, then each key with NULLs last (as both engines sort).
    let nulls_last = |k: &Vec<Option<String>>| {
        k.iter()
            .map(|v| (v.is_none(), v.clone()))
            .collect::<Vec<_>>()
    };
    rows.sort_by(|a, b| {
        b.2.launches
            .cmp(&a.2.launches)
            .then_with(|| a.0.cmp(&b.0))
            .then_with(|| nulls_last(&a.1).cmp(&nulls_last(&b.1)))
    });
    let time =
        |us: i64| chrono::DateTime::from_timestamp_micros(us).map_or(Cell::Empty, Cell::Time);
    for (tool, keys, d) in rows {
        let mut row = vec![Cell::Text(tool), Cell::Text(d.name)];
        row.extend(keys.into_iter().map(Cell::opt));
        row.extend([
            Cell::Int(d.launches),
            Cell::Int(d.users.count()),
            Cell::Int(d.courses.count()),
            time(d.first_us),
            time(d.last_us),
        ]);
        table.rows.push(row);
    }
    Ok(table)
}

/// The courses (all, or the top ones): counted from the numbers of the launch records as
/// their SQL does, named from `rollup_courses` (so no text column of the launch records is
/// read).
fn courses(db: &mut dyn Db, q: Question, f: &ReportFilter) -> Result<Table, StoreError> {
    let w = Filter::launches(f);
    let top = (q == Question::TopCourses).then_some(TOP_COURSES);
    let sql = crate::sql::courses_sql(db.dialect(), &w.sql, top, CourseNames::Rollups);
    let mut table = Table::new(q.name(), q.columns());
    db.each(&sql, &w.args, &mut |r| {
        table.rows.push(crate::sql::read_cells(q.columns(), r)?);
        Ok(())
    })?;
    Ok(table)
}

/// The client id, deployment id, consumer key, tool-provider id and host of a deployment facet
/// value (a JSON array of the five, as the refresh writes it).
fn deployment_keys(value: &str) -> Vec<Option<String>> {
    let mut keys: Vec<Option<String>> = serde_json::from_str(value).unwrap_or_default();
    keys.resize(5, None);
    keys
}

/// Answers the dormant questions from rollups: per tool (or deployment) over every rolled-up
/// day of the filter's dimensions, the last launch and the launches ever, for those whose last
/// launch is more than `dormant_days` before `as_of`, least recent first (as their SQL).
fn dormant(
    db: &mut dyn Db,
    q: Question,
    f: &ReportFilter,
    p: &Params,
) -> Result<Table, StoreError> {
    let (conditions, mut args) = where_days(f, (None, None));
    let as_of = p.as_of.timestamp_micros();
    args.push(Arg::Int(
        as_of.saturating_sub(p.dormant_days.saturating_mul(86_400_000_000)),
    ));
    let deployments = q == Question::DormantDeployments;
    let sql = if deployments {
        format!(
            "SELECT tool_id, min(tool_name), max(last_us), CAST(sum(launches) AS BIGINT), value
             FROM rollup_facets WHERE facet = 'deployment' {conditions}
             GROUP BY tool_id, value HAVING max(last_us) < ? ORDER BY 3, 1, 5"
        )
    } else {
        format!(
            "SELECT tool_id, min(tool_name), max(last_us), CAST(sum(launches) AS BIGINT)
             FROM rollup_days WHERE true {conditions}
             GROUP BY tool_id HAVING max(last_us) < ? ORDER BY 3, 1"
        )
    };
    let mut table = Table::new(q.name(), q.columns());
    db.each(&sql, &args, &mut |r| {
        let last = r.int(2)?.unwrap_or_default();
        let mut row = vec![
            Cell::Text(r.text(0)?.unwrap_or_default()),
            Cell::Text(r.text(1)?.unwrap_or_default()),
        ];
        if deployments {
            let keys = deployment_keys(r.text_ref(4)?.unwrap_or_default());
            row.extend(keys.into_iter().map(Cell::opt));
        }
        // Whole days between the last launch and now, as the SQL's floor of seconds / 86,400.
        let days = ((as_of - last) as f64 / 86_400_000_000.0).floor();
        row.extend([
            chrono::DateTime::from_timestamp_micros(last).map_or(Cell::Empty, Cell::Time),
            Cell::Int(days.max(0.0) as u64),
            Cell::Int(r.int(3)?.unwrap_or(0).max(0) as u64),
        ]);
        table.rows.push(row);
        Ok(())
    })?;
    Ok(table)
}

/// Answers the health question from the hourly facet: per tool, the launches of the 24 hours
/// before `as_of` (the start of an hour), and of the same 24 hours 7, 14, 21 and 28 days
/// before, as its SQL over the launch records counts them (day `d` of a launch is
/// `ceil((as_of - t) / 24 h) - 1`, so each window is `[as_of - (d + 1) days, as_of - d days)`
/// and every hour falls in one).
fn health(
    db: &mut dyn Db,
    cfg: &RollupConfig,
    f: &ReportFilter,
    p: &Params,
) -> Result<Table, StoreError> {
    let q = Question::Health;
    // Only the local days the five windows touch (one to three each, at most fifteen of the
    // 29): the rows of other hours of those days get a `d` no sum below counts. The hours are
    // not compared in the WHERE clause: PostgreSQL cannot estimate a predicate on
    // `CAST(value AS BIGINT)`, guessed a thousand rows for 600,000 and scanned the whole table.
    let mut days = BTreeSet::new();
    for d in [0, 7, 14, 21, 28] {
        let end = p.as_of - chrono::Duration::days(d);
        let start = end - chrono::Duration::days(1);
        let last = local_day(cfg.timezone, end - chrono::Duration::microseconds(1));
        let mut day = local_day(cfg.timezone, start);
        while day <= last {
            days.insert(day);
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
    }
    let (mut conditions, mut args) = where_days(f, (None, None));
    conditions.push_str(&format!(
        " AND day IN ({})",
        vec!["?"; days.len()].join(", ")
    ));
    args.extend(days.into_iter().map(Arg::Date));
    let as_of = p.as_of.timestamp_micros();
    let day_us = 86_400_000_000i64;
    // Summed per tool and hour first (a few hundred hours a tool instead of a row per tenant,
    // day, source, role and hour), so the day of each hour is worked out a few thousand times;
    // in floating point, which is exact here (whole hours, far below 2^53 microseconds) and
    // several times cheaper than PostgreSQL's numeric (BENCHMARKS.md, PostgreSQL run 7).
    let sql = format!(
        "WITH h AS (SELECT tool_id, value, min(tool_name) AS tool_name, sum(launches) AS launches
                    FROM rollup_facets
                    WHERE facet = 'hour' {conditions}
                    GROUP BY tool_id, value),
              w AS (SELECT tool_id, tool_name, launches,
                           CAST(ceil(CAST({as_of} - CAST(value AS BIGINT) AS FLOAT8) / {day_us}) AS BIGINT) - 1 AS d
                    FROM h)
         SELECT tool_id, min(tool_name) FILTER (WHERE d IN (0, 7, 14, 21, 28)),
                CAST(coalesce(sum(launches) FILTER (WHERE d = 0), 0) AS BIGINT),
                CAST(coalesce(sum(launches) FILTER (WHERE d IN (7, 14, 21, 28)), 0) / 4.0 AS FLOAT8),
                CAST(count(DISTINCT d) FILTER (WHERE d IN (7, 14, 21, 28)) AS BIGINT)
         FROM w GROUP BY tool_id
         HAVING sum(launches) FILTER (WHERE d IN (0, 7, 14, 21, 28)) > 0
         ORDER BY 4 DESC, 1"
    );
    let mut table = Table::new(q.name(), q.columns());
    db.each(&sql, &args, &mut |r| {
        table.rows.push(crate::sql::read_cells(q.columns(), r)?);
        Ok(())
    })?;
    Ok(table)
}
