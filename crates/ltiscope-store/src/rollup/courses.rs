//! The course rollup: what the courses report needs per course and local day, packed one row
//! per (tenant, local month, course, test user) in `rollup_course_months`, and the same per
//! tool in `rollup_course_tool_months` (the one-tool report's top courses).
//!
//! Why packed: a course's launches are spread thin over days (one or two a day per tool), so
//! a row per course and day holds about as many rows as the launch records, and the courses
//! report over a term would read millions of them. A row per course and month keeps its days
//! inside: a 90-day report reads about four rows per course and keeps the entries of the days
//! it covers, so any range of whole days is exact. A row holds a `summary` (the month as one
//! entry, its users the row's user list) and `days` (an entry per local day with launches, its
//! users as positions in that list); a month wholly inside the range is read from its summary
//! alone, and the query does not send its days.
//!
//! An entry holds the launches, the learner and instructor launches, the last launch, the
//! launches per tool (dense tool numbers, `rollup_tools`) and the distinct users (dense user
//! numbers). A refresh recomputes the entries of the days it recomputes and rewrites the rows
//! of the courses that have launches on them: launch records are only ever added (a purge
//! drops whole months of rows and re-marks what is left of the cutoff's month; a re-derive
//! that moves launch records out of a course drops that course's rows and re-marks all its
//! launches, `crate::rederive`), so a course with an entry on a day still has one after the
//! day is recomputed.
//!
//! It does not answer under a source or role filter (the entries do not split by them): the
//! courses are then counted from the launch records (`answer::courses`).

use super::codec::{Varints, put_gaps, put_varint};
use super::{Db, Fast, Names, RollupConfig};
use crate::StoreError;
use crate::sql::Arg;
use crate::write::Val;
use chrono::{Datelike, NaiveDate};
use ltiscope_model::day_start;
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
        add_tool(&mut self.tools, tool, 1);
        self.users.extend(user);
    }

    /// Adds another entry's launches (users repeat until [`Entry::settle`]).
    fn absorb(&mut self, e: &Entry) {
        if e.launches > 0 {
            self.absorb_counts(e);
            self.users.extend_from_slice(&e.users);
        }
    }

    /// [`Entry::absorb`] without the users (the caller collects them its own way).
    fn absorb_counts(&mut self, e: &Entry) {
        if e.launches == 0 {
            return;
        }
        self.last_us = if self.launches == 0 {
            e.last_us
        } else {
            self.last_us.max(e.last_us)
        };
        self.launches += e.launches;
        self.learners += e.learners;
        self.instructors += e.instructors;
        for &(tool, n) in &e.tools {
            add_tool(&mut self.tools, tool, n);
        }
    }

    /// Sorted and deduplicated, as stored.
    fn settle(&mut self) {
        self.tools.sort_unstable();
        super::codec::distinct(&mut self.users);
    }
}

/// Adds `n` launches of `tool` to a short list of (tool, launches).
fn add_tool(tools: &mut Vec<(u32, u64)>, tool: u32, n: u64) {
    match tools.iter_mut().find(|(t, _)| *t == tool) {
        Some((_, k)) => *k += n,
        None => tools.push((tool, n)),
    }
}

/// The days of one row: day of the month (0-based) → entry.
type Days = BTreeMap<u8, Entry>;

/// A row as stored: `summary`, the month's entry (its users are the row's user list), and
/// `days`, each day's entry with its users as positions in that list (one byte each, mostly).
/// Times count from the start of the row's month. A report over whole months reads the
/// summaries only (the query does not even send their days).
fn encode(days: &Days, month_start_us: i64) -> (Vec<u8>, Vec<u8>) {
    let mut month = Entry::default();
    for e in days.values() {
        month.absorb(e);
    }
    month.settle();
    let mut summary = Vec::new();
    put_entry(&mut summary, &month, month_start_us, &month.users);
    let mut out = Vec::new();
    let mut at = Vec::new();
    for (day, e) in days {
        put_varint(&mut out, u64::from(*day));
        // Users by position in the month's list (both ascending, so are the positions).
        at.clear();
        at.extend(
            e.users
                .iter()
                .filter_map(|u| month.users.binary_search(u).ok())
                .map(|i| i as u32),
        );
        put_entry(&mut out, e, month_start_us, &at);
    }
    (summary, out)
}

/// Appends an entry's counts, last launch, tools and `users` (numbers or positions).
fn put_entry(out: &mut Vec<u8>, e: &Entry, month_start_us: i64, users: &[u32]) {
    for v in [e.launches, e.learners, e.instructors] {
        put_varint(out, v);
    }
    put_varint(out, e.last_us.saturating_sub(month_start_us).max(0) as u64);
    put_varint(out, e.tools.len() as u64);
    let mut prev = 0u32;
    for (tool, n) in &e.tools {
        put_varint(out, u64::from(tool.wrapping_sub(prev)));
        put_varint(out, *n);
        prev = *tool;
    }
    put_varint(out, users.len() as u64);
    put_gaps(out, users);
}

/// Whether reading an entry decodes its tool and user lists or steps over them (its counts
/// and last launch are read either way).
#[derive(Clone, Copy, PartialEq)]
enum Lists {
    Decode,
    Skip,
}

/// Reads an entry into `e` (its users as written: numbers or positions; with [`Lists::Skip`]
/// no tools or users); `None` at the end of the blob or where it is damaged.
fn read_entry(r: &mut Varints<'_>, month_start_us: i64, lists: Lists, e: &mut Entry) -> Option<()> {
    e.launches = r.next()?;
    e.learners = r.next()?;
    e.instructors = r.next()?;
    e.last_us = month_start_us.saturating_add(i64::try_from(r.next()?).ok()?);
    e.tools.clear();
    e.users.clear();
    let tools = r.next()?;
    if lists == Lists::Skip {
        // A gap and the launches per tool, then the users' count and a gap per user.
        r.skip(tools.checked_mul(2)?)?;
        let users = r.next()?;
        return r.skip(users);
    }
    let mut tool = 0u32;
    for _ in 0..tools {
        tool = tool.wrapping_add(u32::try_from(r.next()?).ok()?);
        e.tools.push((tool, r.next()?));
    }
    let n = r.next()?;
    r.gaps_into(n, &mut e.users)
}

/// The month's entry of a row (`None` if the summary is damaged).
fn decode_summary(summary: &[u8], month_start_us: i64, month: &mut Entry) -> Option<()> {
    read_entry(
        &mut Varints::new(summary),
        month_start_us,
        Lists::Decode,
        month,
    )
}

/// Hands every day of a row to `each` (its buffers reused from day to day); its users are
/// positions in the row's user list (the summary's). A damaged blob ends early.
fn decode_days(days: &[u8], month_start_us: i64, lists: Lists, each: &mut dyn FnMut(u8, &Entry)) {
    let mut r = Varints::new(days);
    let mut e = Entry::default();
    loop {
        let Some(day) = r.next().and_then(|d| u8::try_from(d).ok()) else {
            return;
        };
        if read_entry(&mut r, month_start_us, lists, &mut e).is_none() {
            return;
        }
        each(day, &e);
    }
}

fn decode(summary: &[u8], days: &[u8], month_start_us: i64) -> Days {
    let mut month = Entry::default();
    let mut out = Days::new();
    if decode_summary(summary, month_start_us, &mut month).is_some() {
        decode_days(days, month_start_us, Lists::Decode, &mut |d, e| {
            let mut e = e.clone();
            let at = std::mem::take(&mut e.users);
            e.users.extend(
                at.iter()
                    .filter_map(|&i| month.users.get(i as usize).copied()),
            );
            out.insert(d, e);
        });
    }
    out
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

/// The course rollup's tables: the rows for all tools of a course, and those per tool.
pub(crate) const TABLES: [&str; 2] = ["rollup_course_months", "rollup_course_tool_months"];

/// (tenant index, month, course number, tool number or none for all tools, test user): in
/// this order, the rows of a month's courses are neighbours.
type Key = (u32, NaiveDate, u32, Option<u32>, bool);

/// Entries gathered before [`Recomputed::write`] holds this many: a month of a large
/// deployment is written in parts rather than held whole (about 100 bytes an entry).
const GATHER_ENTRIES: usize = 1_000_000;

/// The entries of the days refresh runs recomputed, by row, until they are written.
#[derive(Default)]
pub(super) struct Recomputed {
    tenants: Names,
    tools: HashMap<u32, String, Fast>,
    /// Hashed, not ordered: every launch of a refresh looks its row up (in an ordered tree
    /// that and the rest of [`Recomputed::add`] were 13% of a full rebuild's samples);
    /// [`Recomputed::write`] sorts the rows.
    rows: HashMap<Key, Days, Fast>,
    /// (tenant index, day) recomputed: their stored entries are replaced.
    days: BTreeSet<(u32, NaiveDate)>,
    entries: usize,
}

impl Recomputed {
    /// Notes that a tenant's day is recomputed (with or without launches).
    pub(super) fn recomputed(&mut self, tenant: &str, day: NaiveDate) {
        let t = self.tenants.id(tenant);
        self.days.insert((t, day));
    }

    /// Whether what is gathered should be written before a run starting on `day`: it holds
    /// another month, or many entries.
    pub(super) fn full_before(&self, day: NaiveDate) -> bool {
        self.entries >= GATHER_ENTRIES
            || self.days.iter().any(|(_, d)| month_of(*d) != month_of(day))
    }

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
        let t = self.tenants.id(tenant);
        self.tools.entry(tool).or_insert_with(|| tool_id.to_owned());
        let (month, d) = (month_of(day), day.day0() as u8);
        // The row per tool only: the course's row for all tools is summed from these when
        // written, which halves the work per launch.
        let days = self
            .rows
            .entry((t, month, course, Some(tool), test))
            .or_default();
        let e = days.entry(d).or_insert_with(|| {
            // Counted twice: the row for all tools will hold the day too.
            self.entries += 2;
            Entry::default()
        });
        e.add(tool, role, user, t_us);
    }

    /// Writes the recomputed days into the rows of the courses that have launches on them:
    /// each such row's entries of those days are replaced, the others kept.
    pub(super) fn write(self, db: &mut dyn Db, cfg: &RollupConfig) -> Result<(), StoreError> {
        let Recomputed {
            tenants,
            tools,
            mut rows,
            days: recomputed,
            ..
        } = self;
        // The rows for all tools of each course: the sum of its rows per tool.
        let mut all_tools: HashMap<Key, Days, Fast> = HashMap::default();
        for ((t, month, course, _, test), days) in rows.iter().filter(|(k, _)| k.3.is_some()) {
            let sum = all_tools
                .entry((*t, *month, *course, None, *test))
                .or_default();
            for (d, e) in days {
                sum.entry(*d).or_default().absorb(e);
            }
        }
        rows.extend(all_tools);
        let mut rows: Vec<(Key, Days)> = rows.into_iter().collect();
        rows.sort_unstable_by_key(|(key, _)| *key);
        // (tenant, month) → courses with new entries, ascending (the rows are in that order).
        let mut courses: BTreeMap<(u32, NaiveDate), Vec<u32>> = BTreeMap::new();
        for ((t, month, course, _, _), _) in &rows {
            let list = courses.entry((*t, *month)).or_default();
            if list.last() != Some(course) {
                list.push(*course);
            }
        }
        for ((t, month), in_month) in courses {
            let tenant = tenants.name(t);
            let start_us = day_start(&cfg.timezone, month).timestamp_micros();
            // The days of this month recomputed for this tenant (0-based).
            let mut redone = [false; 31];
            for (_, d) in recomputed.range((t, month)..(t, next_month(month))) {
                redone[d.day0() as usize] = true;
            }
            let args = [Arg::Text(tenant.to_owned()), Arg::Date(month)];
            // A month with nothing stored yet (every month of a first import) has no rows to
            // merge with or replace, so none are read or deleted chunk by chunk: in a fresh
            // import of a million launches, DuckDB parsing, planning and running those
            // statements was 63% of this function's samples.
            let mut month_stored = false;
            db.each(
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM {} WHERE tenant = ? AND month = ?)
                         OR EXISTS (SELECT 1 FROM {} WHERE tenant = ? AND month = ?)",
                    TABLES[0], TABLES[1]
                ),
                &[args.clone(), args.clone()].concat(),
                &mut |r| {
                    month_stored = r.boolean(0)?.unwrap_or(true);
                    Ok(())
                },
            )?;
            for chunk in in_month.chunks(500) {
                let list = chunk
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                let which = format!("tenant = ? AND month = ? AND course_no IN ({list})");
                // The rows as stored, without the recomputed days.
                let mut merged: BTreeMap<(Option<String>, u32, bool), Days> = BTreeMap::new();
                if month_stored {
                    for (table, tool) in
                        [(TABLES[0], "CAST(NULL AS VARCHAR)"), (TABLES[1], "tool_id")]
                    {
                        db.each(
                            &format!(
                                "SELECT {tool}, course_no, test_user, summary, days FROM {table}
                                 WHERE {which}"
                            ),
                            &args,
                            &mut |r| {
                                let key = (
                                    r.text(0)?,
                                    r.int(1)?.unwrap_or_default() as u32,
                                    r.boolean(2)?.unwrap_or(false),
                                );
                                let mut days = decode(
                                    r.bytes(3)?.unwrap_or_default(),
                                    r.bytes(4)?.unwrap_or_default(),
                                    start_us,
                                );
                                days.retain(|d, _| !redone[usize::from(*d).min(30)]);
                                merged.insert(key, days);
                                Ok(())
                            },
                        )?;
                    }
                }
                let (Some(&c0), Some(&c1)) = (chunk.first(), chunk.last()) else {
                    continue;
                };
                let (lo, hi) = (
                    (t, month, c0, None, false),
                    (t, month, c1, Some(u32::MAX), true),
                );
                let from = rows.partition_point(|(k, _)| *k < lo);
                let to = rows.partition_point(|(k, _)| *k <= hi);
                for (key, days) in rows.get_mut(from..to).unwrap_or_default() {
                    let tool = key.3.and_then(|n| tools.get(&n)).cloned();
                    let stored = merged.entry((tool, key.2, key.4)).or_default();
                    for (d, mut e) in std::mem::take(days) {
                        e.settle();
                        stored.insert(d, e);
                    }
                }
                if month_stored {
                    for table in TABLES {
                        db.exec(&format!("DELETE FROM {table} WHERE {which}"), &args)?;
                    }
                }
                let mut out: [Vec<Vec<Val<'_>>>; 2] = Default::default();
                for ((tool, course, test), days) in &merged {
                    if days.is_empty() {
                        continue;
                    }
                    let (summary, days) = encode(days, start_us);
                    let mut row = vec![Val::Text(Some(tenant)), Val::Date(month)];
                    row.extend(tool.as_deref().map(|id| Val::Text(Some(id))));
                    row.extend([
                        Val::Int(Some(i64::from(*course))),
                        Val::Bool(*test),
                        Val::Blob(summary),
                        Val::Blob(days),
                    ]);
                    out[usize::from(tool.is_some())].push(row);
                }
                for (table, rows) in TABLES.iter().zip(&out) {
                    db.append(table, rows)?;
                }
            }
        }
        Ok(())
    }
}

/// A row kept for the top courses: course number, month span, summary, days.
type KeptRow = (usize, (i64, u8, u8), Vec<u8>, Option<Vec<u8>>);

/// Adds rows of the course rollup to the entries of their courses, its buffers reused.
#[derive(Default)]
struct RowReader {
    /// The row's month summary.
    month: Entry,
    /// Which of a month's users launched on the days in the range (by position).
    picked: Vec<bool>,
}

impl RowReader {
    /// Adds a row to its course's entry `c`: the month's summary when the query sent no days
    /// (a whole month), else its days in the range. `span` is the month's start and the range's
    /// days of it (0-based, half-open). A damaged row adds nothing.
    fn absorb(&mut self, c: &mut Entry, summary: &[u8], days: Option<&[u8]>, span: (i64, u8, u8)) {
        let (start_us, lo, hi) = span;
        if decode_summary(summary, start_us, &mut self.month).is_none() {
            return;
        }
        let Some(days) = days else {
            c.absorb(&self.month);
            return;
        };
        // Each user of the month once, however many of its days they launched on (merging
        // the days' lists made long lists to sort).
        let picked = &mut self.picked;
        picked.clear();
        picked.resize(self.month.users.len(), false);
        decode_days(days, start_us, Lists::Decode, &mut |d, e| {
            if (lo..hi).contains(&d) {
                c.absorb_counts(e);
                for &i in &e.users {
                    if let Some(p) = picked.get_mut(i as usize) {
                        *p = true;
                    }
                }
            }
        });
        let users = self.month.users.iter().zip(picked.iter());
        c.users.extend(users.filter(|(_, p)| **p).map(|(u, _)| *u));
    }
}

/// The launches of a row in the range, read without decoding its lists (see
/// [`RowReader::absorb`] for the arguments); a damaged row counts what it could read.
fn launches_in(summary: &[u8], days: Option<&[u8]>, (start_us, lo, hi): (i64, u8, u8)) -> u64 {
    let mut e = Entry::default();
    let Some(days) = days else {
        let whole = read_entry(&mut Varints::new(summary), start_us, Lists::Skip, &mut e);
        return whole.map_or(0, |()| e.launches);
    };
    let mut total = 0;
    decode_days(days, start_us, Lists::Skip, &mut |d, e| {
        if (lo..hi).contains(&d) {
            total += e.launches;
        }
    });
    total
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
    if f.source.is_some() || f.role.is_some() {
        return Ok(None);
    }
    // Rows of whole months inside the range come without their days.
    let mut whole = Vec::new();
    let mut args = Vec::new();
    if let Some(from) = from {
        whole.push("month >= ?");
        args.push(Arg::Date(from));
    }
    if let Some(to) = to {
        whole.push("month < ?");
        args.push(Arg::Date(month_of(to)));
    }
    if whole.is_empty() {
        whole.push("true");
    }
    let days = format!("CASE WHEN {} THEN NULL ELSE days END", whole.join(" AND "));
    let table = TABLES[usize::from(f.tool.is_some())];
    let (conditions, rest) = super::answer::where_range(f, "month", (from.map(month_of), to));
    args.extend(rest);
    let sql = format!(
        "SELECT CAST(month - DATE '1970-01-01' AS BIGINT), course_no, summary, {days}
         FROM {table} WHERE true{conditions}"
    );
    let epoch = NaiveDate::default();
    // Per month: where it starts, and the days of it in the range (0-based, half-open).
    let mut months: HashMap<i64, (i64, u8, u8)> = HashMap::new();
    // Each course's launches of the range, as one entry, by course number (dense, from 1).
    let mut courses: Vec<Entry> = Vec::new();
    let mut reader = RowReader::default();
    // The top courses: each row's launches in the range first (no user lists decoded), the
    // rows kept; then only the courses that can be among the first `TOP_COURSES` (all those
    // with at least the launches of the last one, ties included) are decoded in full. The
    // most launched tool's courses are ~200,000 rows whose user lists were most of the work.
    let top = q == Question::TopCourses;
    let mut kept: Vec<KeptRow> = Vec::new();
    let mut launches: Vec<u64> = Vec::new();
    db.each(&sql, &args, &mut |r| {
        let m = r.int(0)?.unwrap_or_default();
        let span = *months.entry(m).or_insert_with(|| {
            let month = epoch
                .checked_add_signed(chrono::Duration::days(m))
                .unwrap_or(epoch);
            let day0 = |d: NaiveDate| (d - month).num_days().clamp(0, 31) as u8;
            (
                day_start(&cfg.timezone, month).timestamp_micros(),
                from.map_or(0, day0),
                to.map_or(31, day0),
            )
        });
        let n = r.int(1)?.unwrap_or_default().clamp(0, i64::from(u32::MAX)) as usize;
        let (summary, days) = (r.bytes(2)?.unwrap_or_default(), r.bytes(3)?);
        if top {
            if n >= launches.len() {
                launches.resize((n + 1).max(launches.len() * 2), 0);
            }
            launches[n] += launches_in(summary, days, span);
            kept.push((n, span, summary.to_vec(), days.map(<[u8]>::to_vec)));
            return Ok(());
        }
        if n >= courses.len() {
            courses.resize_with((n + 1).max(courses.len() * 2), Entry::default);
        }
        reader.absorb(&mut courses[n], summary, days, span);
        Ok(())
    })?;
    if top {
        let mut most: Vec<u64> = launches.iter().copied().filter(|&l| l > 0).collect();
        most.sort_unstable_by(|a, b| b.cmp(a));
        let least = most.get(TOP_COURSES - 1).copied().unwrap_or(1).max(1);
        courses.resize_with(launches.len(), Entry::default);
        for (n, span, summary, days) in &kept {
            if launches[*n] >= least {
                reader.absorb(&mut courses[*n], summary, days.as_deref(), *span);
            }
        }
    }
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
    let mut rows: Vec<Vec<Cell>> = Vec::with_capacity(courses.len());
    db.each(
        &format!(
            "SELECT CAST(n AS BIGINT), tenant, course_key, label FROM rollup_courses WHERE true{only}"
        ),
        &tenant_args,
        &mut |r| {
            let n = r.int(0)?.unwrap_or_default();
            let Some(c) = usize::try_from(n).ok().and_then(|n| courses.get_mut(n)) else {
                return Ok(());
            };
            if c.launches == 0 {
                return Ok(());
            }
            let mut c = std::mem::take(c);
            super::codec::distinct(&mut c.users);
            // The most launched tool, the smallest id among equals (as the SQL ranks them).
            let top = c
                .tools
                .iter()
                .filter_map(|(t, n)| Some((*n, tool_ids.get(t)?)))
                .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(a.1)))
                .map(|(_, id)| id.clone());
            rows.push(vec![
                Cell::Text(r.text(1)?.unwrap_or_default()),
                Cell::Text(r.text(2)?.unwrap_or_default()),
                Cell::opt(r.text(3)?),
                Cell::Int(c.launches),
                Cell::Int(c.tools.len() as u64),
                Cell::Int(c.users.len() as u64),
                Cell::Int(c.learners),
                Cell::Int(c.instructors),
                Cell::opt(top),
                chrono::DateTime::from_timestamp_micros(c.last_us).map_or(Cell::Empty, Cell::Time),
            ]);
            Ok(())
        },
    )?;
    Ok(Some(finish(q, rows)))
}

/// The answer from its rows in any order: ordered as the SQL orders them (launches
/// descending, then course key, then tenant so equal keys keep one order), the first
/// [`TOP_COURSES`] for the top courses.
fn finish(q: Question, mut rows: Vec<Vec<Cell>>) -> Table {
    fn key(row: &[Cell]) -> (u64, Option<&str>, Option<&str>) {
        let at = |i: usize| row.get(i);
        (
            at(3).and_then(Cell::as_int).unwrap_or_default(),
            at(1).and_then(Cell::as_text),
            at(0).and_then(Cell::as_text),
        )
    }
    rows.sort_unstable_by(|a, b| {
        let (a, b) = (key(a), key(b));
        b.0.cmp(&a.0).then_with(|| (a.1, a.2).cmp(&(b.1, b.2)))
    });
    if q == Question::TopCourses {
        rows.truncate(TOP_COURSES);
    }
    let mut table = Table::new(q.name(), q.columns());
    table.rows = rows;
    table
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
        let (summary, blob) = encode(&days, start);
        assert_eq!(decode(&summary, &blob, start), days);
        // The summary is the month: every count summed, users and tools merged.
        let mut month = Entry::default();
        assert!(decode_summary(&summary, start, &mut month).is_some());
        assert_eq!(
            (month.launches, month.learners, month.instructors),
            (5, 2, 2)
        );
        assert_eq!(month.users, vec![12, 300, 4_000_000_000]);
        assert_eq!(month.tools, vec![(2, 1), (7, 3), (1_000_000, 1)]);
        assert_eq!(month.last_us, start + 30 * 86_400_000_000);
        // Launches counted without decoding the lists: the month, and days of it.
        assert_eq!(launches_in(&summary, None, (start, 0, 31)), 5);
        assert_eq!(launches_in(&summary, Some(&blob), (start, 0, 31)), 5);
        assert_eq!(launches_in(&summary, Some(&blob), (start, 1, 31)), 1);
        assert_eq!(launches_in(&summary, Some(&blob), (start, 0, 30)), 4);
        for cut in 0..blob.len() {
            assert!(
                decode(&summary, &blob[..cut], start).len() < 2,
                "cut at {cut}"
            );
        }
        for cut in 0..summary.len() {
            assert!(
                decode(&summary[..cut], &blob, start).is_empty(),
                "cut at {cut}"
            );
        }
    }
}
