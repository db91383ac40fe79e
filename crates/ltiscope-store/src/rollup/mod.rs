//! Rollups: what the big reports read instead of scanning every launch record.
//!
//! One row of `rollup_days` per (tenant, local day, source, tool, role bucket, test user)
//! holds the launch and visit counts, the first and last launch, and three compact sets: the
//! dense numbers of the users and of the courses who launched (so distinct counts over any
//! range of days stay exact: the sets are unioned at read time), and the time in tool of every
//! launch paired with a return within the cap (so medians stay exact too), with a count of
//! the launches whose first return came later than the cap but within twice it (a later
//! return is no pair at all, so a return never reaches back further than that).
//! `rollup_tool_days` holds the same sets merged over roles and sources (what reports without
//! a role or source filter read), `rollup_facets` the launches of each rollup row per UTC hour,
//! message type, LTI version and deployment (with the deployment's sets).
//!
//! How they stay true, on both backends and with any number of collectors:
//! - every write marks, in the same transaction, the (tenant, UTC hour, launch|return) of the
//!   records it stored (`rollup_marks`);
//! - [`refresh`] turns marks into the local days they can change (a launch changes the visit
//!   count of the launches up to one visit window after it; a return changes the pairing of
//!   the launches up to twice the cap before it), recomputes those days from the launch records with
//!   the same definitions as the raw report SQL, and deletes exactly the marks it read, but
//!   only once the rows are written (one refresher at a time; the months of a large refresh
//!   in two lanes side by side);
//! - a question is answered from rollups only when they can answer it exactly: its range
//!   starts and ends at local midnights of the rollup time zone, its visit window and cap are
//!   the rollups', and it has no course filter. Everything else is answered from the launch
//!   records, as before. Reports refresh pending marks before they read.
//!
//! Days are cut in the rollup time zone (`[reports] timezone`), daylight saving included;
//! changing the time zone, visit window or cap ([`configure`]) marks everything for rebuilding.

mod answer;
pub(crate) mod codec;
mod courses;
pub(crate) mod lanes;

pub(crate) use answer::{answer, may_answer, reads_records};
/// The course rollup's tables.
pub(crate) use courses::TABLES as COURSE_TABLES;

use crate::StoreError;
use crate::sql::{Arg, Dialect, RowRead};
use crate::write::Val;
use chrono::{Duration, NaiveDate};
use chrono_tz::Tz;
use codec::{distinct, encode};
use ltiscope_model::{Timestamp, day_start};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

/// How rollups cut and count: the time zone of their days, the visit window and the
/// time-in-tool cap. Reports with other values are answered from the launch records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollupConfig {
    /// The time zone whose midnights cut days.
    pub timezone: Tz,
    /// Repeated launches of one link by one user less than this many seconds apart are one
    /// visit.
    pub visit_window_secs: i64,
    /// Launch/return pairs longer than this many seconds are not time in tool.
    pub time_cap_secs: i64,
}

impl Default for RollupConfig {
    fn default() -> Self {
        RollupConfig {
            timezone: Tz::UTC,
            visit_window_secs: 600,
            time_cap_secs: 4 * 3600,
        }
    }
}

/// What a refresh did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefreshOutcome {
    /// Marks consumed.
    pub marks: u64,
    /// (tenant, day) pairs recomputed.
    pub days: u64,
    /// Launches read to recompute them.
    pub launches: u64,
    /// Connections that recomputed them side by side (0 when nothing was waiting).
    pub lanes: u32,
}

/// A backend's connection (or open transaction) as the rollup code needs it.
pub(crate) trait Db {
    fn dialect(&self) -> Dialect;
    /// Runs a query with `?` markers and hands every row to `row`.
    fn each(
        &mut self,
        sql: &str,
        args: &[Arg],
        row: &mut dyn FnMut(&dyn RowRead) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// Runs a statement with `?` markers; returns the rows changed.
    fn exec(&mut self, sql: &str, args: &[Arg]) -> Result<u64, StoreError>;
    /// Appends rows to a rollup table, each in its column order.
    fn append(&mut self, table: &str, rows: &[Vec<Val<'_>>]) -> Result<(), StoreError>;
}

/// The local day of a time.
pub(crate) fn local_day(tz: Tz, t: Timestamp) -> NaiveDate {
    t.with_timezone(&tz).date_naive()
}

/// The local days a mark can change: a launch in the hour changes visit starts until one
/// window after the hour; a return changes the pairing of launches up to twice the cap before
/// it (those over the cap are counted too).
fn affected_days(cfg: &RollupConfig, hour: Timestamp, kind: &str) -> (NaiveDate, NaiveDate) {
    let hour_end = hour + Duration::hours(1);
    let (from, to) = if kind == "return" {
        (hour - Duration::seconds(2 * cfg.time_cap_secs), hour_end)
    } else {
        (hour, hour_end + Duration::seconds(cfg.visit_window_secs))
    };
    let last = to - Duration::microseconds(1);
    (local_day(cfg.timezone, from), local_day(cfg.timezone, last))
}

/// The configuration the rollups were built with.
pub(crate) fn state(db: &mut dyn Db) -> Result<RollupConfig, StoreError> {
    let mut found = None;
    db.each(
        "SELECT timezone, visit_window_secs, time_cap_secs FROM rollup_state",
        &[],
        &mut |r| {
            let tz = r.text(0)?.and_then(|s| s.parse::<Tz>().ok());
            found = Some(RollupConfig {
                timezone: tz.unwrap_or(Tz::UTC),
                visit_window_secs: r.int(1)?.unwrap_or(600),
                time_cap_secs: r.int(2)?.unwrap_or(4 * 3600),
            });
            Ok(())
        },
    )?;
    Ok(found.unwrap_or_default())
}

/// Whether marks are waiting for a refresh.
pub(crate) fn pending(db: &mut dyn Db) -> Result<bool, StoreError> {
    let mut n = 0;
    db.each("SELECT count(*) FROM rollup_marks", &[], &mut |r| {
        n = r.int(0)?.unwrap_or(0);
        Ok(())
    })?;
    Ok(n > 0)
}

/// Marks every hour of the launch records in `[from, to)` (all of them without bounds).
fn mark_launches(
    db: &mut dyn Db,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
) -> Result<u64, StoreError> {
    let mut f = crate::sql::Filter::received(&Default::default());
    f.range("event_time", from, to);
    mark_where(db, &f.sql, &f.args)
}

/// Marks the hours of the launch records that `condition` (`AND ...`, over `launches`)
/// selects, for a change to records already stored (a purge, a renaming): the next refresh
/// recomputes the days they touch.
pub(crate) fn mark_where(
    db: &mut dyn Db,
    condition: &str,
    args: &[Arg],
) -> Result<u64, StoreError> {
    db.exec(
        &format!(
            "INSERT INTO rollup_marks (tenant, hour, kind)
             SELECT DISTINCT tenant, date_trunc('hour', event_time), action
             FROM launches WHERE action IN ('launch', 'return') {condition}"
        ),
        args,
    )
}

/// Sets the configuration; when it differs from the one in force, drops every rollup row and
/// marks every launch record so the next refresh rebuilds them. Returns whether it differed.
pub(crate) fn configure(db: &mut dyn Db, cfg: &RollupConfig) -> Result<bool, StoreError> {
    if state(db)? == *cfg {
        return Ok(false);
    }
    db.exec("DELETE FROM rollup_state", &[])?;
    db.exec(
        "INSERT INTO rollup_state VALUES (?, ?, ?)",
        &[
            Arg::Text(cfg.timezone.name().to_owned()),
            Arg::Int(cfg.visit_window_secs),
            Arg::Int(cfg.time_cap_secs),
        ],
    )?;
    for table in ROLLUP_TABLES.iter().chain(&courses::TABLES) {
        db.exec(&format!("DELETE FROM {table}"), &[])?;
    }
    mark_launches(db, None, None)?;
    Ok(true)
}

/// After a purge of everything before `cutoff`: rollup days before it are gone, the day it
/// falls in is marked to be recomputed from what is left, and users and courses with no launch
/// left lose their numbers.
pub(crate) fn purge(db: &mut dyn Db, cutoff: Timestamp) -> Result<(), StoreError> {
    let cfg = state(db)?;
    let day = local_day(cfg.timezone, cutoff);
    for table in ROLLUP_TABLES {
        db.exec(
            &format!("DELETE FROM {table} WHERE day <= ?"),
            &[Arg::Date(day)],
        )?;
    }
    // The course rollup keeps a month per row: the cutoff's month is rebuilt from what is
    // left of it (marked to its end), the months before it are gone.
    let month = courses::month_of(day);
    for table in courses::TABLES {
        db.exec(
            &format!("DELETE FROM {table} WHERE month <= ?"),
            &[Arg::Date(month)],
        )?;
    }
    let next = courses::next_month(month);
    mark_launches(db, Some(cutoff), Some(day_start(&cfg.timezone, next)))?;
    // Numbers (and names) of users, courses and tools with no launch left: no remaining
    // rollup set holds them, and a purged course's label must not outlive its launches.
    for (table, column) in [
        ("rollup_users", "user_hash"),
        ("rollup_courses", "course_hash"),
        ("rollup_tools", "tool_id"),
    ] {
        db.exec(
            &format!(
                "DELETE FROM {table} WHERE NOT EXISTS
                 (SELECT 1 FROM launches l WHERE l.{column} = {table}.{column})"
            ),
            &[],
        )?;
    }
    Ok(())
}

/// The tables of rolled-up days: per (tenant, day, source, tool, role, test user) with counts
/// and sets, per (tenant, day, tool, test user) with the sets merged over roles and sources,
/// and per (tenant, day, source, tool, role, test user, facet value) for the one-tool report.
const ROLLUP_TABLES: [&str; 3] = ["rollup_days", "rollup_tool_days", "rollup_facets"];

/// What the one-tool report shows for a message type or LTI version that was not sent (as its
/// SQL over the launch records does).
pub(crate) const NOT_SENT: &str = "(not sent)";

/// The longest run of days recomputed by one query (bounds the memory of a rebuild).
const RUN_DAYS: i64 = 7;

/// A connection a refresh works on, one transaction at a time.
pub(crate) trait Transact {
    /// Runs `work` in a transaction of its own, committed when it returns `Ok` (and not
    /// otherwise). `work` runs once.
    fn transact(
        &mut self,
        work: &mut dyn FnMut(&mut dyn Db) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}

/// How many connections recompute the months of a large refresh side by side: the caller's
/// and the one [`refresh`] opens. The recomputing is one thread's work per month (DuckDB's
/// query, then our own adding up, then the appends), so on two cores a second lane takes most
/// of the other core; each lane holds a month's course rows and a run of days, so more lanes
/// would cost memory for little on these machines.
const LANES: u32 = 2;

/// Recomputes every day the waiting marks can change, then deletes those marks. The caller
/// makes sure only one refresh runs at a time (on `main`, while this runs).
///
/// Marks touching one month are consumed in one transaction on `main`. Marks touching more
/// (a bulk import, a rebuild after the settings changed) take three steps: the marks are read
/// and the new users, courses and tools numbered in one transaction, committed; the months
/// are recomputed in [`LANES`] lanes side by side, `main` and a connection from `connect`
/// (returned to `release` afterwards), each month in a transaction of its own; the marks read
/// are deleted in a last one. Months are disjoint, so the lanes delete and write disjoint
/// rows. Every month is recomputed from the records its transaction sees, which hold at least
/// what the marks named, and the marks go last: a refresh that fails part way leaves them,
/// and the next one recomputes those days again. A record stored meanwhile (its user perhaps
/// not numbered yet) left its own mark, which the next refresh consumes. Without a second
/// connection the months are recomputed on `main` alone.
pub(crate) fn refresh<L: Transact + Send>(
    main: &mut dyn Transact,
    connect: impl FnOnce() -> Result<L, StoreError>,
    release: impl FnOnce(L),
) -> Result<RefreshOutcome, StoreError> {
    let mut planned = None;
    let mut outcome = RefreshOutcome::default();
    main.transact(&mut |db| {
        let plan = Plan::read(db)?;
        for span in plan.numbering() {
            number(db, &span)?;
        }
        if plan.months.len() < 2 {
            outcome = plan.recompute_alone(db)?;
            plan.consumed(db)?;
        } else {
            planned = Some(plan);
        }
        Ok(())
    })?;
    let Some(mut plan) = planned else {
        return Ok(outcome);
    };
    plan.heaviest_first();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed = std::sync::atomic::AtomicBool::new(false);
    // Takes the next month not taken yet until none is left or a lane failed.
    let work = |conn: &mut dyn Transact| -> Result<RefreshOutcome, StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        let mut done = RefreshOutcome::default();
        while !failed.load(SeqCst) {
            let Some(runs) = plan.months.get(next.fetch_add(1, SeqCst)) else {
                break;
            };
            let month = conn.transact(&mut |db| {
                done.add(recompute_month(db, &plan.cfg, runs)?);
                Ok(())
            });
            if month.is_err() {
                failed.store(true, SeqCst);
            }
            month?;
        }
        Ok(done)
    };
    let outcome = match connect() {
        Ok(mut lane) => {
            let work = &work;
            let (mine, theirs) = std::thread::scope(|scope| {
                let other = scope.spawn(move || {
                    let done = work(&mut lane);
                    (done, lane)
                });
                let mine = work(main);
                let theirs = other
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e));
                (mine, theirs)
            });
            let (theirs, lane) = theirs;
            let (mut mine, theirs) = (mine?, theirs?);
            release(lane);
            mine.add(theirs);
            mine.lanes = LANES;
            mine
        }
        // No second connection (a server at its connection limit): one lane still refreshes.
        Err(_) => work(main)?,
    };
    main.transact(&mut |db| plan.consumed(db))?;
    Ok(RefreshOutcome {
        marks: plan.ids.len() as u64,
        lanes: outcome.lanes.max(1),
        ..outcome
    })
}

/// What a refresh recomputes: the marks it read, and the runs of consecutive days (of one
/// month each, each recomputed for every tenant marked in it) grouped by month.
struct Plan {
    cfg: RollupConfig,
    ids: Vec<i64>,
    months: Vec<Vec<Run>>,
}

/// A run of consecutive days of one month, each with the tenants marked in it.
type Run = Vec<(NaiveDate, BTreeSet<String>)>;

impl Plan {
    /// Reads the waiting marks and the days they can change.
    fn read(db: &mut dyn Db) -> Result<Plan, StoreError> {
        let cfg = state(db)?;
        let mut ids = Vec::new();
        let mut days: BTreeMap<NaiveDate, BTreeSet<String>> = BTreeMap::new();
        db.each(
            &format!(
                "SELECT id, tenant, {}, kind FROM rollup_marks",
                db.dialect().epoch_us("hour")
            ),
            &[],
            &mut |r| {
                ids.push(r.int(0)?.unwrap_or_default());
                let tenant = r.text(1)?.unwrap_or_default();
                let hour = r
                    .int(2)?
                    .and_then(chrono::DateTime::from_timestamp_micros)
                    .unwrap_or_default();
                let (first, last) = affected_days(&cfg, hour, &r.text(3)?.unwrap_or_default());
                let mut d = first;
                while d <= last {
                    days.entry(d).or_default().insert(tenant.clone());
                    d = d.succ_opt().unwrap_or(NaiveDate::MAX);
                    if d == NaiveDate::MAX {
                        break;
                    }
                }
                Ok(())
            },
        )?;
        let mut months: Vec<Vec<Run>> = Vec::new();
        for (day, tenants) in days {
            let month = courses::month_of(day);
            match months.last_mut() {
                Some(runs)
                    if runs
                        .first()
                        .is_some_and(|r| courses::month_of(r[0].0) == month) =>
                {
                    match runs.last_mut() {
                        Some(run)
                            if run[run.len() - 1].0 + Duration::days(1) == day
                                && (day - run[0].0).num_days() < RUN_DAYS =>
                        {
                            run.push((day, tenants));
                        }
                        _ => runs.push(vec![(day, tenants)]),
                    }
                }
                _ => months.push(vec![vec![(day, tenants)]]),
            }
        }
        Ok(Plan { cfg, ids, months })
    }

    /// The spans whose users, courses and tools are numbered before any month is recomputed:
    /// consecutive days with the same tenants make one span, so a rebuild is numbered by one
    /// statement per table rather than one per run of days: the first transaction of a
    /// million launches' rebuild, one core's work while the other waits, took 0.40-0.46 s
    /// against 0.53-0.58 s. In time order while the months are.
    fn numbering(&self) -> Vec<Span> {
        let mut spans: Vec<(NaiveDate, NaiveDate, &BTreeSet<String>)> = Vec::new();
        for (day, tenants) in self.months.iter().flatten().flatten() {
            match spans.last_mut() {
                Some((_, last, same)) if *last + Duration::days(1) == *day && *same == tenants => {
                    *last = *day;
                }
                _ => spans.push((*day, *day, tenants)),
            }
        }
        spans
            .into_iter()
            .map(|(first, last, tenants)| Span::new(&self.cfg, (first, last), tenants.iter()))
            .collect()
    }

    /// Orders the months from the one with the most tenant-days to recompute, so that lanes
    /// taking the next month in turn end at about the same time. (They are numbered in time
    /// order before.)
    fn heaviest_first(&mut self) {
        let tenant_days = |m: &Vec<Run>| m.iter().flatten().map(|(_, t)| t.len()).sum::<usize>();
        self.months
            .sort_by_key(|m| std::cmp::Reverse(tenant_days(m)));
    }

    /// Recomputes every month on one connection.
    fn recompute_alone(&self, db: &mut dyn Db) -> Result<RefreshOutcome, StoreError> {
        let mut outcome = RefreshOutcome {
            marks: self.ids.len() as u64,
            lanes: 1,
            ..RefreshOutcome::default()
        };
        for runs in &self.months {
            outcome.add(recompute_month(db, &self.cfg, runs)?);
        }
        Ok(outcome)
    }

    /// Deletes the marks read: their days are recomputed.
    fn consumed(&self, db: &mut dyn Db) -> Result<(), StoreError> {
        for chunk in self.ids.chunks(500) {
            let markers = vec!["?"; chunk.len()].join(", ");
            let args: Vec<Arg> = chunk.iter().map(|id| Arg::Int(*id)).collect();
            db.exec(
                &format!("DELETE FROM rollup_marks WHERE id IN ({markers})"),
                &args,
            )?;
        }
        Ok(())
    }
}

/// Recomputes the runs of one month. The course rollup keeps a month per row: its rows are
/// gathered over the month's runs and written once (or when what is gathered grows large),
/// not once per run.
fn recompute_month(
    db: &mut dyn Db,
    cfg: &RollupConfig,
    runs: &[Run],
) -> Result<RefreshOutcome, StoreError> {
    let mut outcome = RefreshOutcome::default();
    let mut by_course = courses::Recomputed::default();
    for run in runs {
        if let Some((first, _)) = run.first()
            && by_course.full_before(*first)
        {
            std::mem::take(&mut by_course).write(db, cfg)?;
        }
        outcome.add(recompute(db, cfg, run, &mut by_course)?);
    }
    by_course.write(db, cfg)?;
    Ok(outcome)
}

impl RefreshOutcome {
    fn add(&mut self, o: RefreshOutcome) {
        self.days += o.days;
        self.launches += o.launches;
    }
}

pub(super) use crate::Fast;

/// Small numbers for the strings of a refresh's rows (tenants, sources, tools, roles), looked
/// up without allocating, so that a launch's rollup key is a few integers.
#[derive(Default)]
pub(super) struct Names {
    ids: HashMap<String, u32, Fast>,
    names: Vec<String>,
}

impl Names {
    /// The number of `name`, given it at its first sight.
    pub(super) fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.ids.insert(name.to_owned(), id);
        id
    }

    /// The string of a number [`Names::id`] gave.
    pub(super) fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", String::as_str)
    }
}

/// What every rollup row and facet value counts of its launches: the smallest tool name (as
/// the SQL's `min`), the launches, the first and last.
#[derive(Default)]
struct Seen {
    tool_name: String,
    launches: i64,
    first_us: i64,
    last_us: i64,
}

impl Seen {
    fn add(&mut self, name: &str, t_us: i64) {
        if self.launches == 0 {
            name.clone_into(&mut self.tool_name);
            (self.first_us, self.last_us) = (t_us, t_us);
        } else if name < self.tool_name.as_str() {
            name.clone_into(&mut self.tool_name);
        }
        self.launches += 1;
        self.first_us = self.first_us.min(t_us);
        self.last_us = self.last_us.max(t_us);
    }
}

/// One rollup row being built.
#[derive(Default)]
struct Acc {
    seen: Seen,
    visits: i64,
    users: Vec<u32>,
    courses: Vec<u32>,
    paired_ms: Vec<u32>,
    /// Launches whose first return came after the cap, within twice it.
    over_cap: i64,
    /// Per facet (in [`FACETS`] order), per value.
    facets: [HashMap<String, Facet, Fast>; 4],
}

/// The facets of `rollup_facets`, in the order `Acc::facets` keeps them; the last, the
/// deployment, also keeps its users and courses.
const FACETS: [&str; 4] = ["hour", "message_type", "lti_version", "deployment"];

/// One facet value of a rollup row being built (users and courses for deployments only).
#[derive(Default)]
struct Facet {
    seen: Seen,
    users: Vec<u32>,
    courses: Vec<u32>,
}

/// (tenant, day, source, tool id, role, test user).
type DayKey = (String, NaiveDate, String, String, String, bool);

/// A [`DayKey`] with its strings as [`Names`].
type DayIds = (u32, NaiveDate, u32, u32, u32, bool);

/// Which launches of a run start a visit: a launch does unless the launch before it with the
/// same visit key (tenant, user, tool and link; in time order, from one window before the run
/// on) came no more than the visit window earlier, in epoch seconds as the launch-record SQL
/// compares them (`sql::questions`: `lag(...) OVER (PARTITION BY visit_key ORDER BY
/// event_time)`). The refresh query once asked DuckDB for that window itself, which sorted
/// every column of the run's launches by visit key and time; here only a key, a time and a
/// rollup row per launch are sorted (BENCHMARKS.md, "The closing refresh without a window").
struct Visits {
    /// Per visit key, the last launch in the window before the run.
    before: HashMap<Option<i64>, i64, Fast>,
    /// (visit key, time, rollup row) of each launch of the run.
    launches: Vec<(Option<i64>, i64, u32)>,
    window_secs: f64,
}

impl Visits {
    /// The last launch per visit key within one window before `start`, of the tenants of
    /// `in_tenants`.
    fn before(
        db: &mut dyn Db,
        cfg: &RollupConfig,
        in_tenants: &str,
        tenant_args: &[Arg],
        start: Timestamp,
    ) -> Result<Visits, StoreError> {
        let win = cfg.visit_window_secs;
        let mut before = HashMap::default();
        let mut args = tenant_args.to_vec();
        args.extend([Arg::Time(start - Duration::seconds(win)), Arg::Time(start)]);
        db.each(
            &format!(
                "SELECT visit_key, {} FROM launches
                 WHERE action = 'launch' AND {in_tenants} AND event_time >= ? AND event_time < ?
                 GROUP BY visit_key",
                db.dialect().epoch_us("max(event_time)")
            ),
            &args,
            &mut |r| {
                before.insert(r.int(0)?, r.int(1)?.unwrap_or_default());
                Ok(())
            },
        )?;
        Ok(Visits {
            before,
            launches: Vec::new(),
            window_secs: win as f64,
        })
    }

    /// A launch of the run, counted into rollup row `slot`.
    fn launch(&mut self, key: Option<i64>, t_us: i64, slot: u32) {
        self.launches.push((key, t_us, slot));
    }

    /// Calls `start` with the rollup row of each launch that starts a visit.
    fn starts(mut self, mut start: impl FnMut(u32)) {
        self.launches.sort_unstable();
        let secs = |us: i64| us as f64 / 1_000_000.0;
        let mut last: Option<(Option<i64>, i64)> = None;
        for (key, t_us, slot) in self.launches {
            let prev = match last {
                Some((k, t)) if k == key => Some(t),
                _ => self.before.get(&key).copied(),
            };
            last = Some((key, t_us));
            if prev.is_none_or(|p| secs(t_us) - secs(p) > self.window_secs) {
                start(slot);
            }
        }
    }
}

/// The launches a run of days reads: its tenants, as `tenant IN (?, ...)` with their
/// arguments, and its first and last instants.
struct Span {
    first: NaiveDate,
    last: NaiveDate,
    end_day: NaiveDate,
    start: Timestamp,
    end: Timestamp,
    markers: String,
    tenant_args: Vec<Arg>,
}

impl Span {
    /// The days `first` to `last` of `tenants`.
    fn new<'a>(
        cfg: &RollupConfig,
        (first, last): (NaiveDate, NaiveDate),
        tenants: impl Iterator<Item = &'a String>,
    ) -> Span {
        let tenants: BTreeSet<&String> = tenants.collect();
        let end_day = last.succ_opt().unwrap_or(last);
        Span {
            first,
            last,
            end_day,
            start: day_start(&cfg.timezone, first),
            end: day_start(&cfg.timezone, end_day),
            markers: vec!["?"; tenants.len()].join(", "),
            tenant_args: tenants.iter().map(|t| Arg::Text((*t).clone())).collect(),
        }
    }

    /// The days of a run, for every tenant marked in any of them.
    fn of(cfg: &RollupConfig, run: &[(NaiveDate, BTreeSet<String>)]) -> Option<Span> {
        let (Some((first, _)), Some((last, _))) = (run.first(), run.last()) else {
            return None;
        };
        Some(Span::new(
            cfg,
            (*first, *last),
            run.iter().flat_map(|(_, t)| t),
        ))
    }

    /// The tenants' arguments followed by `rest`.
    fn args(&self, rest: &[Arg]) -> Vec<Arg> {
        let mut args = self.tenant_args.clone();
        args.extend_from_slice(rest);
        args
    }
}

/// Gives dense numbers to the users, courses and tools the launches of a span show for the
/// first time, in hash order; a course keeps the tenant, key and label it was first seen with
/// (the courses show them). Known ones are left out before grouping, so their names are not
/// grouped again, by an anti-join written as a `LEFT JOIN` with no match: DuckDB plans the
/// same filter written as `NOT EXISTS` as a join that first materialises every launch it
/// scans, the courses' 137-character keys included, which at the closing refresh's 128 MB
/// spilled to temporary files and took 0.38-0.48 s of a million launches' rebuild on one core
/// against 0.017-0.019 s (BENCHMARKS.md, "Numbering without a spill"). PostgreSQL plans
/// it as a hash anti-join too.
fn number(db: &mut dyn Db, span: &Span) -> Result<(), StoreError> {
    let d = db.dialect();
    let course_details = [
        ("tenant", d.any("l.tenant")),
        ("course_key", d.any("l.course_key")),
        (
            "label",
            format!(
                "coalesce({}, {})",
                d.any("l.course_label"),
                d.any("l.course_title")
            ),
        ),
    ];
    for (table, column, details) in [
        ("rollup_users", "user_hash", &[][..]),
        ("rollup_courses", "course_hash", &course_details[..]),
        ("rollup_tools", "tool_id", &[][..]),
    ] {
        let (mut names, mut values) = (String::new(), String::new());
        for (name, value) in details {
            let _ = write!(names, ", {name}");
            let _ = write!(values, ", {value} AS {name}");
        }
        db.exec(
            &format!(
                "INSERT INTO {table} ({column}, n{names})
                 SELECT h, (SELECT coalesce(max(n), 0) FROM {table}) + row_number() OVER (ORDER BY h){names}
                 FROM (SELECT l.{column} AS h{values}
                       FROM launches l LEFT JOIN {table} t ON t.{column} = l.{column}
                       WHERE l.action = 'launch' AND l.tenant IN ({})
                         AND l.event_time >= ? AND l.event_time < ?
                         AND l.{column} IS NOT NULL AND t.{column} IS NULL
                       GROUP BY l.{column}) x",
                span.markers
            ),
            &span.args(&[Arg::Time(span.start), Arg::Time(span.end)]),
        )?;
    }
    Ok(())
}

/// Recomputes the rollup rows of a run of consecutive days for the tenants marked in it, its
/// users, courses and tools numbered ([`number`]).
fn recompute(
    db: &mut dyn Db,
    cfg: &RollupConfig,
    run: &[(NaiveDate, BTreeSet<String>)],
    by_course: &mut courses::Recomputed,
) -> Result<RefreshOutcome, StoreError> {
    let Some(span) = Span::of(cfg, run) else {
        return Ok(RefreshOutcome::default());
    };
    let (first, last, start, end) = (span.first, span.last, span.start, span.end);
    let tenants: BTreeSet<&String> = run.iter().flat_map(|(_, t)| t).collect();
    let d = db.dialect();
    let markers = &span.markers;
    let in_tenants = format!("tenant IN ({markers})");
    for table in ROLLUP_TABLES {
        db.exec(
            &format!("DELETE FROM {table} WHERE {in_tenants} AND day >= ? AND day < ?"),
            &span.args(&[Arg::Date(first), Arg::Date(span.end_day)]),
        )?;
    }
    // Pairs take returns up to twice the cap after the run. Visits are told apart here, not
    // by the query (see `Visits`).
    let sql = format!(
        "WITH r AS (SELECT tenant, launch_id, min(event_time) AS returned FROM launches
               WHERE action = 'return' AND launch_id IS NOT NULL AND {in_tenants}
                 AND event_time >= ? AND event_time < ?
               GROUP BY tenant, launch_id)
         SELECT s.tenant, s.source, s.tool_id, s.tool_name, s.role, s.test_user, {t_us},
                s.visit_key,
                CAST(u.n AS BIGINT), CAST(c.n AS BIGINT), CAST(round(({ret} - {t}) * 1000) AS BIGINT),
                s.message_type, s.lti_version, s.client_id, s.deployment_id, s.consumer_key,
                s.tool_provider_id, s.launch_host, CAST(tl.n AS BIGINT)
         FROM launches s LEFT JOIN r ON r.tenant = s.tenant AND r.launch_id = s.launch_id
                LEFT JOIN rollup_users u ON u.user_hash = s.user_hash
                LEFT JOIN rollup_courses c ON c.course_hash = s.course_hash
                LEFT JOIN rollup_tools tl ON tl.tool_id = s.tool_id
         WHERE s.action = 'launch' AND s.tenant IN ({markers})
           AND s.event_time >= ? AND s.event_time < ?",
        t_us = d.epoch_us("s.event_time"),
        t = d.epoch("s.event_time"),
        ret = d.epoch("r.returned"),
    );
    let mut args = span.args(&[
        Arg::Time(start),
        Arg::Time(end + Duration::seconds(2 * cfg.time_cap_secs)),
    ]);
    args.extend(span.args(&[Arg::Time(start), Arg::Time(end)]));
    let mut visits = Visits::before(db, cfg, &in_tenants, &span.tenant_args, start)?;
    let cap_ms = cfg.time_cap_secs.saturating_mul(1000);
    // The rollup rows being built, and where each is in `accs`.
    let (mut slots, mut accs): (HashMap<DayIds, u32, Fast>, Vec<(DayIds, Acc)>) =
        Default::default();
    let mut names = Names::default();
    let mut d = first;
    while d <= last {
        for t in &tenants {
            by_course.recomputed(t, d);
        }
        d = d.succ_opt().unwrap_or(NaiveDate::MAX);
        if d == NaiveDate::MAX {
            break;
        }
    }
    let mut launches = 0u64;
    // The facet values of a launch, written into reused buffers: a value is copied only the
    // first time its row sees it, the hour formatted only when it changes.
    let (mut hour, mut hour_us, mut deployment) = (String::new(), None, Vec::new());
    db.each(&sql, &args, &mut |r| {
        launches += 1;
        let t_us = r.int(6)?.unwrap_or_default();
        let t = chrono::DateTime::from_timestamp_micros(t_us).unwrap_or_default();
        let mut id = |i| Ok::<_, StoreError>(names.id(r.text_ref(i)?.unwrap_or_default()));
        let key: DayIds = (
            id(0)?,
            local_day(cfg.timezone, t),
            id(1)?,
            id(2)?,
            id(4)?,
            r.boolean(5)?.unwrap_or(false),
        );
        let name = r.text_ref(3)?.unwrap_or_default();
        let (user, course) = (r.int(8)?.map(|n| n as u32), r.int(9)?.map(|n| n as u32));
        if let (Some(c), Some(tool)) = (course, r.int(18)?) {
            by_course.add(
                names.name(key.0),
                key.1,
                c,
                key.5,
                (tool as u32, names.name(key.3)),
                names.name(key.4),
                user,
                t_us,
            );
        }
        let slot = *slots.entry(key).or_insert_with(|| {
            accs.push((key, Acc::default()));
            accs.len() as u32 - 1
        });
        visits.launch(r.int(7)?, t_us, slot);
        let a = &mut accs[slot as usize].1;
        a.seen.add(name, t_us);
        a.users.extend(user);
        a.courses.extend(course);
        match r.int(10)? {
            Some(ms) if (0..=cap_ms).contains(&ms) => a.paired_ms.push(ms as u32),
            Some(ms) if ms > cap_ms && ms <= 2 * cap_ms => a.over_cap += 1,
            _ => {}
        }
        let h = t_us.div_euclid(3_600_000_000) * 3_600_000_000;
        if hour_us != Some(h) {
            hour.clear();
            let _ = write!(hour, "{h}");
            hour_us = Some(h);
        }
        deployment.clear();
        let keys = [
            r.text_ref(13)?,
            r.text_ref(14)?,
            r.text_ref(15)?,
            r.text_ref(16)?,
            r.text_ref(17)?,
        ];
        // Writing strings and nulls into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut deployment, &keys);
        let values = [
            hour.as_str(),
            r.text_ref(11)?.unwrap_or(NOT_SENT),
            r.text_ref(12)?.unwrap_or(NOT_SENT),
            std::str::from_utf8(&deployment).unwrap_or_default(),
        ];
        for (k, value) in values.into_iter().enumerate() {
            let by_value = &mut a.facets[k];
            if !by_value.contains_key(value) {
                by_value.insert(value.to_owned(), Facet::default());
            }
            let Some(f) = by_value.get_mut(value) else {
                continue;
            };
            f.seen.add(name, t_us);
            if k == FACETS.len() - 1 {
                f.users.extend(user);
                f.courses.extend(course);
            }
        }
        Ok(())
    })?;
    let marked: BTreeSet<(&String, NaiveDate)> = run
        .iter()
        .flat_map(|(day, ts)| ts.iter().map(move |t| (t, *day)))
        .collect();
    visits.starts(|slot| accs[slot as usize].1.visits += 1);
    let mut rows: Vec<(DayKey, Acc)> = accs
        .into_iter()
        .map(|((tenant, day, source, tool, role, test), a)| {
            let name = |id| names.name(id).to_owned();
            (
                (
                    name(tenant),
                    day,
                    name(source),
                    name(tool),
                    name(role),
                    test,
                ),
                a,
            )
        })
        .collect();
    rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    // The same sets merged over roles and sources, per (tenant, day, tool, test user).
    let mut merged: BTreeMap<(&str, NaiveDate, &str, bool), [Vec<u32>; 3]> = BTreeMap::new();
    for (k, a) in &rows {
        let m = merged.entry((&k.0, k.1, &k.3, k.5)).or_default();
        m[0].extend(&a.users);
        m[1].extend(&a.courses);
        m[2].extend(&a.paired_ms);
    }
    let mut tool_days = Vec::with_capacity(merged.len());
    for ((tenant, day, tool, test), [mut users, mut courses, mut paired]) in merged {
        distinct(&mut users);
        distinct(&mut courses);
        paired.sort_unstable();
        tool_days.push(vec![
            Val::Owned(Some(tenant.to_owned())),
            Val::Date(day),
            Val::Owned(Some(tool.to_owned())),
            Val::Bool(test),
            Val::Blob(encode(&users)),
            Val::Blob(encode(&courses)),
            Val::Blob(encode(&paired)),
        ]);
    }
    let days: Vec<Vec<Val<'_>>> = rows
        .iter_mut()
        .map(|(k, a)| {
            distinct(&mut a.users);
            distinct(&mut a.courses);
            a.paired_ms.sort_unstable();
            vec![
                Val::Text(Some(&k.0)),
                Val::Date(k.1),
                Val::Text(Some(&k.2)),
                Val::Text(Some(&k.3)),
                Val::Text(Some(&a.seen.tool_name)),
                Val::Text(Some(&k.4)),
                Val::Bool(k.5),
                Val::Int(Some(a.seen.launches)),
                Val::Int(Some(a.visits)),
                Val::Int(Some(a.seen.first_us)),
                Val::Int(Some(a.seen.last_us)),
                Val::Blob(encode(&a.users)),
                Val::Blob(encode(&a.courses)),
                Val::Blob(encode(&a.paired_ms)),
                Val::Int(Some(a.over_cap)),
            ]
        })
        .collect();
    db.append("rollup_days", &days)?;
    db.append("rollup_tool_days", &tool_days)?;
    let mut facet_rows: Vec<Vec<Val<'_>>> = Vec::new();
    for (k, a) in &mut rows {
        for (facet, by_value) in FACETS.iter().zip(std::mem::take(&mut a.facets)) {
            let mut values: Vec<(String, Facet)> = by_value.into_iter().collect();
            values.sort_unstable_by(|x, y| x.0.cmp(&y.0));
            for (value, mut f) in values {
                distinct(&mut f.users);
                distinct(&mut f.courses);
                facet_rows.push(vec![
                    Val::Owned(Some(k.0.clone())),
                    Val::Date(k.1),
                    Val::Owned(Some(k.2.clone())),
                    Val::Owned(Some(k.3.clone())),
                    Val::Owned(Some(f.seen.tool_name)),
                    Val::Owned(Some(k.4.clone())),
                    Val::Bool(k.5),
                    Val::Text(Some(facet)),
                    Val::Owned(Some(value)),
                    Val::Int(Some(f.seen.launches)),
                    Val::Int(Some(f.seen.first_us)),
                    Val::Int(Some(f.seen.last_us)),
                    Val::Blob(encode(&f.users)),
                    Val::Blob(encode(&f.courses)),
                ]);
            }
        }
    }
    db.append("rollup_facets", &facet_rows)?;
    Ok(RefreshOutcome {
        days: marked.len() as u64,
        launches,
        ..RefreshOutcome::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_default()
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn a_mark_changes_the_days_its_window_or_cap_reaches() {
        let utc = RollupConfig::default();
        let noon = at("2026-03-02T12:00:00Z");
        assert_eq!(
            affected_days(&utc, noon, "launch"),
            (day("2026-03-02"), day("2026-03-02"))
        );
        // A launch at 23:xx changes the visits of the first minutes of the next day.
        let late = at("2026-03-02T23:00:00Z");
        assert_eq!(
            affected_days(&utc, late, "launch"),
            (day("2026-03-02"), day("2026-03-03"))
        );
        // A return at 07:xx can pair with a launch of the evening before (4 h cap: it reaches
        // back twice the cap, 8 h, for the pairs over the cap); at 09:xx it cannot.
        let early = at("2026-03-03T07:00:00Z");
        assert_eq!(
            affected_days(&utc, early, "return"),
            (day("2026-03-02"), day("2026-03-03"))
        );
        assert_eq!(
            affected_days(&utc, at("2026-03-03T09:00:00Z"), "return"),
            (day("2026-03-03"), day("2026-03-03"))
        );
        // In New York, 03:00 UTC is the evening of the day before.
        let ny = RollupConfig {
            timezone: chrono_tz::America::New_York,
            ..utc
        };
        assert_eq!(
            affected_days(&ny, at("2026-03-03T03:00:00Z"), "launch"),
            (day("2026-03-02"), day("2026-03-02"))
        );
    }

    #[test]
    fn days_start_at_local_midnight_daylight_saving_included() {
        let ny = chrono_tz::America::New_York;
        assert_eq!(
            day_start(&ny, day("2026-01-10")),
            at("2026-01-10T05:00:00Z")
        );
        assert_eq!(
            day_start(&ny, day("2026-07-10")),
            at("2026-07-10T04:00:00Z")
        );
        // Havana skips midnight when daylight saving starts: the day starts at 01:00.
        let havana = chrono_tz::America::Havana;
        assert_eq!(
            day_start(&havana, day("2026-03-08")),
            at("2026-03-08T05:00:00Z")
        );
        assert_eq!(local_day(ny, at("2026-01-10T04:59:59Z")), day("2026-01-09"));
    }
}
