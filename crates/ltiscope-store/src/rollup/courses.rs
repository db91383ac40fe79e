//! The course rollup: what the courses report needs per course and local day, packed one row
//! per (tenant, local month, course, tool or all tools, test user) in `rollup_course_months`.
//!
//! Why packed: a course's launches are spread thin over days (one or two a day per tool), so
//! a row per course and day holds about as many rows as the launch records, and the courses
//! report over a term would read millions of them. A row per course and month keeps the days
//! inside its `days` blob: a 90-day report reads about four rows per course (each course of a
//! month once for all tools, and once per tool for the one-tool report's top courses) and
//! keeps the entries of the days it covers, so any range of whole days is exact.
//!
//! An entry (one local day of a row) holds the launches, the learner and instructor launches,
//! the last launch, the launches per tool (dense tool numbers, `rollup_tools`) and the
//! distinct users (dense user numbers). A refresh recomputes the entries of the days it
//! recomputes and rewrites the rows of the courses that have launches on them: launch records
//! are only ever added (a purge drops whole rows and re-marks what is left of its month), so a
//! course with an entry on a day still has one after the day is recomputed.
//!
//! It does not answer under a source or role filter (the entries do not split by them): the
//! courses are then counted from the launch records (`answer::courses`).

use super::codec::{Varints, put_gaps, put_varint};
use super::{Db, RollupConfig, day_start};
use crate::StoreError;
use crate::sql::{Arg, Filter};
use crate::write::Val;
use chrono::{Datelike, NaiveDate};
use ltiscope_model::report::{Cell, Question, ReportFilter, TOP_COURSES, Table};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One local day of a course (for all its tools, or one of them).
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Entry {
    launches: u64,
    learners: u64,
    instructors: u64,
    last_us: i64,
    /// (tool number, launches), ascending by tool number.
    tools: Vec<(u32, u64)>,
    /// Distinct user numbers, ascending.
    users: Vec<u32>,
}

impl Entry {
    fn add(&mut self, tool: u32, role: &str, user: Option<u32>, t_us: i64) {
        self.last_us = if self.launches == 0 {
            t_us
        } else {
            self.last_us.max(t_us)
        };
        self.launches += 1;
        match role {
            "learner" => self.learners += 1,
            "instructor" | "teaching-assistant" => self.instructors += 1,
            _ => {}
        }
        match self.tools.iter_mut().find(|(t, _)| *t == tool) {
            Some((_, n)) => *n += 1,
            None => self.tools.push((tool, 1)),
        }
        self.users.extend(user);
    }

    /// Sorted and deduplicated, as stored.
    fn settle(&mut self) {
        self.tools.sort_unstable();
        super::codec::distinct(&mut self.users);
    }
}

/// The days of one row: day of the month (0-based) → entry.
type Days = BTreeMap<u8, Entry>;

/// Appends the entries of a row; times are stored from the start of the row's month.
fn encode(days: &Days, month_start_us: i64) -> Vec<u8> {
    let mut out = Vec::new();
    for (day, e) in days {
        put_varint(&mut out, u64::from(*day));
        for v in [e.launches, e.learners, e.instructors] {
            put_varint(&mut out, v);
        }
        put_varint(
            &mut out,
            e.last_us.saturating_sub(month_start_us).max(0) as u64,
        );
        put_varint(&mut out, e.tools.len() as u64);
        let mut prev = 0u32;
        for (tool, n) in &e.tools {
            put_varint(&mut out, u64::from(tool.wrapping_sub(prev)));
            put_varint(&mut out, *n);
            prev = *tool;
        }
        put_varint(&mut out, e.users.len() as u64);
        put_gaps(&mut out, &e.users);
    }
    out
}

/// Hands every entry of a row to `each` (its buffers reused from entry to entry). A damaged
/// blob ends early.
fn decode(blob: &[u8], month_start_us: i64, each: &mut dyn FnMut(u8, &Entry)) {
    let mut r = Varints::new(blob);
    let mut e = Entry::default();
    while let Some(day) = next_entry(&mut r, month_start_us, &mut e) {
        each(day, &e);
    }
}

/// Reads the next entry into `e`; its day, or `None` at the end (or a damaged blob).
fn next_entry(r: &mut Varints<'_>, month_start_us: i64, e: &mut Entry) -> Option<u8> {
    let day = u8::try_from(r.next()?).ok()?;
    e.launches = r.next()?;
    e.learners = r.next()?;
    e.instructors = r.next()?;
    e.last_us = month_start_us.saturating_add(i64::try_from(r.next()?).ok()?);
    e.tools.clear();
    let mut tool = 0u32;
    for _ in 0..r.next()? {
        tool = tool.wrapping_add(u32::try_from(r.next()?).ok()?);
        e.tools.push((tool, r.next()?));
    }
    e.users.clear();
    let n = r.next()?;
    r.gaps_into(n, &mut e.users)?;
    Some(day)
}

/// The first day of the month of `day`.
pub(super) fn month_of(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

/// The first day of the month after `month`.
pub(super) fn next_month(month: NaiveDate) -> NaiveDate {
    month
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(NaiveDate::MAX)
}

/// (tenant index, month, course number, tool number or none for all tools, test user): in
/// this order, the rows of a month's courses are neighbours.
type Key = (u32, NaiveDate, u32, Option<u32>, bool);

/// The entries a refresh run recomputed, by row.
#[derive(Default)]
pub(super) struct Recomputed {
    tenants: Vec<String>,
    tools: HashMap<u32, String>,
    rows: BTreeMap<Key, Days>,
}

impl Recomputed {
    /// Adds a launch of a course.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn add(
        &mut self,
        tenant: &str,
        day: NaiveDate,
        course: u32,
        test: bool,
        (tool, tool_id): (u32, &str),
        role: &str,
        user: Option<u32>,
        t_us: i64,
    ) {
        let t = match self.tenants.iter().position(|x| x == tenant) {
            Some(i) => i,
            None => {
                self.tenants.push(tenant.to_owned());
                self.tenants.len() - 1
            }
        } as u32;
        self.tools.entry(tool).or_insert_with(|| tool_id.to_owned());
        let (month, d) = (month_of(day), day.day0() as u8);
        for which in [None, Some(tool)] {
            self.rows
                .entry((t, month, course, which, test))
                .or_default()
                .entry(d)
                .or_default()
                .add(tool, role, user, t_us);
        }
    }

    /// Writes the recomputed days `[first, last]` into the rows of the courses that have
    /// launches on them: each such row's entries of those days are replaced, the others kept.
    pub(super) fn write(
        self,
        db: &mut dyn Db,
        cfg: &RollupConfig,
        first: NaiveDate,
        last: NaiveDate,
    ) -> Result<(), StoreError> {
        let Recomputed {
            tenants,
            tools,
            mut rows,
        } = self;
        // (tenant, month) → courses with new entries.
        let mut courses: BTreeMap<(u32, NaiveDate), BTreeSet<u32>> = BTreeMap::new();
        for (t, month, course, _, _) in rows.keys() {
            courses.entry((*t, *month)).or_default().insert(*course);
        }
        for ((t, month), in_month) in courses {
            let tenant = &tenants[t as usize];
            let start_us = day_start(cfg.timezone, month).timestamp_micros();
            // The days of this month the run recomputed (0-based, inclusive).
            let lo = first.max(month).day0() as u8;
            let hi = last
                .min(next_month(month).pred_opt().unwrap_or(month))
                .day0() as u8;
            let in_month: Vec<u32> = in_month.into_iter().collect();
            for chunk in in_month.chunks(500) {
                let list = chunk
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                let which = format!("tenant = ? AND month = ? AND course_no IN ({list})");
                let args = [Arg::Text(tenant.clone()), Arg::Date(month)];
                // The rows as stored, without the recomputed days.
                let mut merged: BTreeMap<(Option<String>, u32, bool), Days> = BTreeMap::new();
                db.each(
                    &format!(
                        "SELECT tool_id, course_no, test_user, days FROM rollup_course_months
                         WHERE {which}"
                    ),
                    &args,
                    &mut |r| {
                        let tool = r.text(0)?;
                        let course = r.int(1)?.unwrap_or_default() as u32;
                        let days = merged
                            .entry((tool, course, r.boolean(2)?.unwrap_or(false)))
                            .or_default();
                        decode(r.bytes(3)?.unwrap_or_default(), start_us, &mut |d, e| {
                            if !(lo..=hi).contains(&d) {
                                days.insert(d, e.clone());
                            }
                        });
                        Ok(())
                    },
                )?;
                let (Some(&c0), Some(&c1)) = (chunk.first(), chunk.last()) else {
                    continue;
                };
                for (key, days) in rows
                    .range_mut((t, month, c0, None, false)..=(t, month, c1, Some(u32::MAX), true))
                {
                    let tool = key.3.and_then(|n| tools.get(&n)).cloned();
                    let stored = merged.entry((tool, key.2, key.4)).or_default();
                    for (d, mut e) in std::mem::take(days) {
                        e.settle();
                        stored.insert(d, e);
                    }
                }
                db.exec(
                    &format!("DELETE FROM rollup_course_months WHERE {which}"),
                    &args,
                )?;
                let out: Vec<Vec<Val<'_>>> = merged
                    .iter()
                    .filter(|(_, days)| !days.is_empty())
                    .map(|((tool, course, test), days)| {
                        vec![
                            Val::Text(Some(tenant.as_str())),
                            Val::Date(month),
                            Val::Text(tool.as_deref()),
                            Val::Int(Some(i64::from(*course))),
                            Val::Bool(*test),
                            Val::Blob(encode(days, start_us)),
                        ]
                    })
                    .collect();
                db.append("rollup_course_months", &out)?;
            }
        }
        Ok(())
    }
}

/// One course while answering.
#[derive(Default)]
struct Course {
    launches: u64,
    learners: u64,
    instructors: u64,
    last_us: Option<i64>,
    users: Vec<u32>,
    tools: Vec<(u32, u64)>,
}

/// Answers the courses (all, or the top ones) of the whole local days `[from, to)` from the
/// course rollup, with the columns, order and meaning of their SQL over the launch records
/// (`sql::courses_sql`); `None` under a source or role filter, which the entries do not split
/// by.
pub(super) fn answer(
    db: &mut dyn Db,
    cfg: &RollupConfig,
    q: Question,
    f: &ReportFilter,
    (from, to): (Option<NaiveDate>, Option<NaiveDate>),
) -> Result<Option<Table>, StoreError> {
    if f.source.is_some() || f.role.is_some() || f.course.is_some() {
        return Ok(None);
    }
    let dims = Filter::dims(f);
    let mut sql = String::from(
        "SELECT CAST(month - DATE '1970-01-01' AS BIGINT), course_no, days
         FROM rollup_course_months WHERE true",
    );
    let mut args = Vec::new();
    if let Some(from) = from {
        sql.push_str(" AND month >= ?");
        args.push(Arg::Date(month_of(from)));
    }
    if let Some(to) = to {
        sql.push_str(" AND month < ?");
        args.push(Arg::Date(to));
    }
    if f.tool.is_none() {
        sql.push_str(" AND tool_id IS NULL");
    }
    sql.push_str(&dims.sql);
    args.extend(dims.args);
    let epoch = NaiveDate::default();
    // Per month: where it starts, and the days of it in the range (0-based, half-open).
    let mut months: HashMap<i64, (i64, u8, u8)> = HashMap::new();
    let mut courses: HashMap<u32, Course> = HashMap::new();
    db.each(&sql, &args, &mut |r| {
        let m = r.int(0)?.unwrap_or_default();
        let (start_us, lo, hi) = *months.entry(m).or_insert_with(|| {
            let month = epoch
                .checked_add_signed(chrono::Duration::days(m))
                .unwrap_or(epoch);
            let day0 = |d: NaiveDate| (d - month).num_days().clamp(0, 31) as u8;
            (
                day_start(cfg.timezone, month).timestamp_micros(),
                from.map_or(0, day0),
                to.map_or(31, day0),
            )
        });
        let c = courses
            .entry(r.int(1)?.unwrap_or_default() as u32)
            .or_default();
        decode(r.bytes(2)?.unwrap_or_default(), start_us, &mut |d, e| {
            if d < lo || d >= hi {
                return;
            }
            c.launches += e.launches;
            c.learners += e.learners;
            c.instructors += e.instructors;
            c.last_us = Some(c.last_us.map_or(e.last_us, |l| l.max(e.last_us)));
            c.users.extend_from_slice(&e.users);
            for &(tool, n) in &e.tools {
                match c.tools.iter_mut().find(|(t, _)| *t == tool) {
                    Some((_, k)) => *k += n,
                    None => c.tools.push((tool, n)),
                }
            }
        });
        Ok(())
    })?;
    courses.retain(|_, c| c.launches > 0);
    let mut tool_ids: HashMap<u32, String> = HashMap::new();
    db.each(
        "SELECT CAST(n AS BIGINT), tool_id FROM rollup_tools",
        &[],
        &mut |r| {
            tool_ids.insert(
                r.int(0)?.unwrap_or_default() as u32,
                r.text(1)?.unwrap_or_default(),
            );
            Ok(())
        },
    )?;
    let (only, tenant_args) = match &f.tenant {
        Some(t) => (" AND tenant = ?", vec![Arg::Text(t.clone())]),
        None => ("", Vec::new()),
    };
    let mut rows: Vec<(u64, String, String, Vec<Cell>)> = Vec::with_capacity(courses.len());
    db.each(
        &format!(
            "SELECT CAST(n AS BIGINT), tenant, course_key, label FROM rollup_courses WHERE true{only}"
        ),
        &tenant_args,
        &mut |r| {
            let Some(mut c) = courses.remove(&(r.int(0)?.unwrap_or_default() as u32)) else {
                return Ok(());
            };
            let (tenant, key) = (
                r.text(1)?.unwrap_or_default(),
                r.text(2)?.unwrap_or_default(),
            );
            super::codec::distinct(&mut c.users);
            // The most launched tool, the smallest id among equals (as the SQL ranks them).
            let top = c
                .tools
                .iter()
                .filter_map(|(t, n)| Some((*n, tool_ids.get(t)?)))
                .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(a.1)))
                .map(|(_, id)| id.clone());
            let cells = vec![
                Cell::Text(tenant.clone()),
                Cell::Text(key.clone()),
                Cell::opt(r.text(3)?),
                Cell::Int(c.launches),
                Cell::Int(c.tools.len() as u64),
                Cell::Int(c.users.len() as u64),
                Cell::Int(c.learners),
                Cell::Int(c.instructors),
                Cell::opt(top),
                c.last_us
                    .and_then(chrono::DateTime::from_timestamp_micros)
                    .map_or(Cell::Empty, Cell::Time),
            ];
            rows.push((c.launches, key, tenant, cells));
            Ok(())
        },
    )?;
    // ORDER BY launches DESC, course key (then tenant, so equal keys keep one order).
    rows.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| (&a.1, &a.2).cmp(&(&b.1, &b.2))));
    if q == Question::TopCourses {
        rows.truncate(TOP_COURSES);
    }
    let mut table = Table::new(q.name(), q.columns());
    table.rows = rows.into_iter().map(|(_, _, _, cells)| cells).collect();
    Ok(Some(table))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_of_days_round_trips_and_a_damaged_one_ends_early() {
        let start = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z
        let mut days = Days::new();
        let mut a = Entry::default();
        a.add(7, "learner", Some(300), start + 5);
        a.add(2, "instructor", Some(12), start + 86_399_000_000);
        a.add(7, "learner", Some(300), start + 60);
        a.add(7, "mentor", None, start + 70);
        a.settle();
        days.insert(0, a.clone());
        let mut b = Entry::default();
        b.add(
            1_000_000,
            "teaching-assistant",
            Some(4_000_000_000),
            start + 30 * 86_400_000_000,
        );
        b.settle();
        days.insert(30, b.clone());
        assert_eq!(a.tools, vec![(2, 1), (7, 3)]);
        assert_eq!(a.users, vec![12, 300]);
        assert_eq!((a.launches, a.learners, a.instructors), (4, 2, 1));
        let blob = encode(&days, start);
        let mut back = Days::new();
        decode(&blob, start, &mut |d, e| {
            back.insert(d, e.clone());
        });
        assert_eq!(back, days);
        for cut in 0..blob.len() {
            let mut n = 0;
            decode(&blob[..cut], start, &mut |_, _| n += 1);
            assert!(n < 2, "cut at {cut}: {n} entries");
        }
    }
}
