//! The read path: one function, [`run`], answers every report from the store; the CLI, the
//! JSON API and the dashboard only choose how to render the same [`Report`], so they always
//! agree.
//!
//! A report is a list of sections ([`Table`]s of typed cells). This crate asks the store the
//! [`Question`]s a report needs, derives what is pure arithmetic (change against the previous
//! period of equal length, health status, the hour-of-week heat map in the institution's time
//! zone) and applies small-cell suppression last, so no view can show a suppressed count.
//! Rendering (text, JSON, CSV) is in `render`; every report declares its sections and columns
//! ([`ReportKind::sections`]), from which the API's OpenAPI document is generated.

mod render;

pub use render::{Format, Render};

use chrono::{Datelike, Offset, TimeZone, Timelike};
pub use chrono_tz::Tz;
use ltiscope_model::Timestamp;
use ltiscope_model::report::{Cell, Column, ColumnKind, Params, Question, ReportFilter, Table};
use ltiscope_store::{Store, StoreError};

/// The reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// Totals against the previous period, daily series, top tools, freshness per source.
    Overview,
    /// Per tool: launches, visits, users, courses, role split, time in tool, change.
    Tools,
    /// One tool (needs the tool filter): daily series, courses, roles, heat map, message types,
    /// LTI versions, deployments.
    Tool,
    /// Per course: launches, tools, users, role split, top tool.
    Courses,
    /// One course (needs the course filter): its tools, roles, daily series.
    Course,
    /// Per tool: share of active courses and users.
    Adoption,
    /// Tools and deployments without a launch in the last N days.
    Dormant,
    /// Per tool: the last 24 hours against the same hours of the previous four weeks.
    Health,
    /// Per tool: time in tool from launch/return pairs.
    TimeInTool,
    /// Ingest quality: per source, per day, receive lag, quarantine by reason.
    Quality,
    /// One user's launches (admin only; needs the user id).
    User,
}

impl ReportKind {
    /// Every report, in menu order.
    pub const ALL: [ReportKind; 11] = [
        ReportKind::Overview,
        ReportKind::Tools,
        ReportKind::Tool,
        ReportKind::Courses,
        ReportKind::Course,
        ReportKind::Adoption,
        ReportKind::Dormant,
        ReportKind::Health,
        ReportKind::TimeInTool,
        ReportKind::Quality,
        ReportKind::User,
    ];

    /// The stable name (CLI argument, API path segment).
    pub fn name(self) -> &'static str {
        match self {
            ReportKind::Overview => "overview",
            ReportKind::Tools => "tools",
            ReportKind::Tool => "tool",
            ReportKind::Courses => "courses",
            ReportKind::Course => "course",
            ReportKind::Adoption => "adoption",
            ReportKind::Dormant => "dormant",
            ReportKind::Health => "health",
            ReportKind::TimeInTool => "time-in-tool",
            ReportKind::Quality => "quality",
            ReportKind::User => "user",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        ReportKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// One line on what it answers.
    pub fn summary(self) -> &'static str {
        match self {
            ReportKind::Overview => {
                "totals against the previous period, daily series, top tools, freshness per source"
            }
            ReportKind::Tools => {
                "per tool: launches, visits, users, courses, learner/instructor split, time in tool, change vs the previous period"
            }
            ReportKind::Tool => {
                "one tool: daily series, top courses, roles, hour-of-week heat map, message types, LTI versions, deployments"
            }
            ReportKind::Courses => {
                "per course: launches, tools, users, learner/instructor split, top tool"
            }
            ReportKind::Course => "one course: its tools, roles and daily series",
            ReportKind::Adoption => {
                "per tool: share of active courses and of active users that used it"
            }
            ReportKind::Dormant => {
                "tools and deployments with no launch in the last N days (the licence-renewal list)"
            }
            ReportKind::Health => {
                "per tool: launches in the last 24 hours against the same hours of the previous 4 weeks; drops and spikes flagged"
            }
            ReportKind::TimeInTool => {
                "per tool: time between launch and return, its distribution, unpaired launches"
            }
            ReportKind::Quality => {
                "ingest quality: per source and day, receive lag, quarantine by reason"
            }
            ReportKind::User => "one user's launches, for support cases (admin only)",
        }
    }

    /// The sections of the report, with their columns, in order (what [`run`] returns).
    pub fn sections(self) -> Vec<(&'static str, Vec<Column>)> {
        let q = |q: Question| (q.name(), q.columns().to_vec());
        match self {
            ReportKind::Overview => vec![
                ("summary", SUMMARY.to_vec()),
                q(Question::Daily),
                ("top_tools", Question::ToolCounts.columns().to_vec()),
                q(Question::Freshness),
            ],
            ReportKind::Tools => vec![("tools", with_change(Question::Tools.columns()))],
            ReportKind::Tool => vec![
                ("summary", with_change(Question::Tools.columns())),
                q(Question::Daily),
                q(Question::Courses),
                q(Question::Roles),
                ("heatmap", HEATMAP.to_vec()),
                q(Question::MessageTypes),
                q(Question::LtiVersions),
                q(Question::Deployments),
            ],
            ReportKind::Courses => vec![q(Question::Courses)],
            ReportKind::Course => vec![
                ("summary", Question::Courses.columns().to_vec()),
                ("tools", with_change(Question::Tools.columns())),
                q(Question::Roles),
                q(Question::Daily),
            ],
            ReportKind::Adoption => vec![q(Question::Adoption)],
            ReportKind::Dormant => vec![q(Question::DormantTools), q(Question::DormantDeployments)],
            ReportKind::Health => vec![("health", health_columns())],
            ReportKind::TimeInTool => vec![q(Question::TimeInTool)],
            ReportKind::Quality => vec![
                q(Question::QualitySources),
                q(Question::QualityDaily),
                q(Question::QualityLag),
                q(Question::QuarantineReasons),
            ],
            ReportKind::User => vec![q(Question::UserLaunches)],
        }
    }
}

const fn col(name: &'static str, kind: ColumnKind, doc: &'static str) -> Column {
    Column { name, kind, doc }
}

const SUMMARY: [Column; 4] = [
    col(
        "metric",
        ColumnKind::Text,
        "launches, visits, users, courses or tools",
    ),
    col("value", ColumnKind::Count, "in the range"),
    col(
        "previous",
        ColumnKind::Count,
        "in the previous period of equal length",
    ),
    col("change", ColumnKind::Ratio, "(value - previous) / previous"),
];

const HEATMAP: [Column; 3] = [
    col(
        "weekday",
        ColumnKind::Int,
        "ISO weekday in the report time zone, 1 = Monday",
    ),
    col(
        "hour",
        ColumnKind::Int,
        "hour of day in the report time zone",
    ),
    col("launches", ColumnKind::Count, "launch events"),
];

const PREV: Column = col(
    "prev_launches",
    ColumnKind::Count,
    "launches in the previous period of equal length",
);
const CHANGE: Column = col(
    "change",
    ColumnKind::Ratio,
    "(launches - prev_launches) / prev_launches",
);

fn with_change(columns: &[Column]) -> Vec<Column> {
    let mut out = columns.to_vec();
    out.extend([PREV, CHANGE]);
    out
}

fn health_columns() -> Vec<Column> {
    let mut out = Question::Health.columns().to_vec();
    out.push(col("ratio", ColumnKind::Ratio, "last_24h / baseline"));
    out.push(col(
        "status",
        ColumnKind::Text,
        "ok, drop (below half the baseline), silent (no launch where at least 5 were expected), spike (over twice the baseline) or new",
    ));
    out
}

/// Report failures.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A report needs a value the request did not give.
    #[error("the {report} report needs {what}")]
    Missing {
        /// The report.
        report: &'static str,
        /// What to give, in the words of the caller (`--tool ID` / `tool=ID`).
        what: &'static str,
    },
    /// The one-tool report for a tool id nothing was ever launched with (a typo, or a tool's
    /// name where its id belongs); `like` is a known tool that resembles it.
    #[error("no tool {id:?} has any launch{}", like.as_ref().map(|l| format!(" (did you mean {l:?}?)")).unwrap_or_default())]
    UnknownTool {
        /// The id given.
        id: String,
        /// A known tool id whose id or name contains it, or is contained in it, ignoring case.
        like: Option<String>,
    },
    /// The one-course report for a course key no launch ever had.
    #[error("no course {key:?} has any launch")]
    UnknownCourse {
        /// The key given.
        key: String,
    },
}

/// Whether the tool of `f` was ever launched (in any range, by anyone): an empty one-tool
/// report for a tool that exists says "no launches in this range"; for an id that does not,
/// it would say the same of a typo.
/// Puts the tools of the inventory that have no launch at all under the filter (any time;
/// the tool filter picks one of them) at the head of the dormant tools, with no last launch
/// and no launches: they have been dormant the longest.
fn never_launched(
    dormant: &mut Table,
    inventory: &[(String, String)],
    f: &ReportFilter,
    ask: &impl Fn(Question, &ReportFilter) -> Result<Table, StoreError>,
) -> Result<(), StoreError> {
    let wanted: Vec<&(String, String)> = inventory
        .iter()
        .filter(|(id, _)| f.tool.as_deref().is_none_or(|t| t == id))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let ever = ReportFilter {
        from: None,
        to: None,
        ..f.clone()
    };
    let launched = ask(Question::ToolLaunches, &ever)?;
    let mut rows: Vec<Vec<Cell>> = wanted
        .into_iter()
        .filter(|(id, _)| launched.find("tool_id", id).is_none())
        .map(|(id, name)| {
            vec![
                Cell::Text(id.clone()),
                Cell::Text(name.clone()),
                Cell::Empty,
                Cell::Empty,
                Cell::Int(0),
            ]
        })
        .collect();
    rows.sort_by(|a, b| a[0].as_text().cmp(&b[0].as_text()));
    rows.append(&mut dormant.rows);
    dormant.rows = rows;
    Ok(())
}

fn known_tool(
    store: &Store,
    f: &ReportFilter,
    p: &Params,
    inventory: &[(String, String)],
) -> Result<(), ReportError> {
    let Some(id) = f.tool.as_deref() else {
        return Ok(());
    };
    // A tool of the inventory is known even if it never launched (the dormant report lists
    // and links it): its report is empty, not an error.
    if inventory.iter().any(|(tool, _)| tool == id) {
        return Ok(());
    }
    let everyone = ReportFilter {
        include_test_users: true,
        ..ReportFilter::default()
    };
    let tools = store.answer(Question::ToolCounts, &everyone, p)?;
    if tools.find("tool_id", id).is_some() {
        return Ok(());
    }
    let wanted = id.to_lowercase();
    let resembles = |s: &str| {
        let s = s.to_lowercase();
        !s.is_empty() && (s.contains(&wanted) || wanted.contains(&s))
    };
    let like = (0..tools.rows.len()).find_map(|row| {
        let tool_id = tools.text(row, "tool_id")?;
        (resembles(tool_id) || tools.text(row, "tool").is_some_and(resembles))
            .then(|| tool_id.to_owned())
    });
    Err(ReportError::UnknownTool {
        id: id.to_owned(),
        like,
    })
}

/// Whether the course of `f` was ever launched in (in any range, by anyone), as
/// [`known_tool`] asks of a tool.
fn known_course(store: &Store, f: &ReportFilter, p: &Params) -> Result<(), ReportError> {
    let Some(key) = f.course.as_deref() else {
        return Ok(());
    };
    let ever = ReportFilter {
        course: Some(key.to_owned()),
        include_test_users: true,
        ..ReportFilter::default()
    };
    if store.answer(Question::Courses, &ever, p)?.rows.is_empty() {
        return Err(ReportError::UnknownCourse {
            key: key.to_owned(),
        });
    }
    Ok(())
}

/// How reports are computed and shown, resolved once from settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// The institution's time zone: days and the heat map follow it.
    pub timezone: Tz,
    /// Counts below this are shown as `<k` (small-cell suppression); `None` shows all.
    pub suppress_below: Option<u64>,
    /// The tools the institution told us it has (id, name: the tool rules of the
    /// configuration). The dormant report lists those with no launch at all as never
    /// launched: the licences nobody used, which no launch record can show.
    pub inventory: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timezone: Tz::UTC,
            suppress_below: None,
            inventory: Vec::new(),
        }
    }
}

/// A report question: which report, over which launches, with which tuning.
#[derive(Debug, Clone)]
pub struct Request {
    /// The report.
    pub kind: ReportKind,
    /// Which launches.
    pub filter: ReportFilter,
    /// Tuning (visit window, time cap, dormant days, the user, the clock).
    pub params: Params,
}

/// A computed report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Which report.
    pub kind: ReportKind,
    /// The filter it answered.
    pub filter: ReportFilter,
    /// The previous period compared against, when the range has both ends.
    pub previous: Option<(Timestamp, Timestamp)>,
    /// Its sections, in the order of [`ReportKind::sections`].
    pub sections: Vec<Table>,
}

impl Report {
    /// `limit` rows of a section from `offset` (the API's pagination).
    pub fn page(t: &Table, offset: usize, limit: usize) -> Table {
        Table {
            title: t.title.clone(),
            columns: t.columns.clone(),
            rows: t.rows.iter().skip(offset).take(limit).cloned().collect(),
        }
    }

    /// A section by name.
    pub fn section(&self, name: &str) -> Option<&Table> {
        self.sections.iter().find(|t| t.title == name)
    }
}

/// The previous period of equal length, when the range has both ends.
pub fn previous_period(f: &ReportFilter) -> Option<(Timestamp, Timestamp)> {
    let (from, to) = (f.from?, f.to?);
    (to > from).then(|| (from - (to - from), from))
}

/// The questions of the one-tool report, in the order it asks them.
pub const TOOL_QUESTIONS: [Question; 8] = [
    Question::Tools,
    Question::Daily,
    Question::TopCourses,
    Question::Roles,
    Question::Hourly,
    Question::MessageTypes,
    Question::LtiVersions,
    Question::Deployments,
];

/// Runs `main` while the previous period's `q` is answered on a second handle of the store
/// (`Store::beside`; one after the other where there is none): both are reads of rollup sets
/// as large as each other, overlapped on two cores.
fn with_previous<T>(
    store: &Store,
    previous: Option<&ReportFilter>,
    q: Question,
    p: &Params,
    main: impl FnOnce() -> Result<T, StoreError>,
) -> Result<(T, Option<Table>), StoreError> {
    let Some(pf) = previous else {
        return Ok((main()?, None));
    };
    let Some(reader) = store.beside()? else {
        let out = main()?;
        return Ok((out, Some(store.answer(q, pf, p)?)));
    };
    std::thread::scope(|scope| {
        let prev = scope.spawn(move || reader.answer(q, pf, p));
        let out = main();
        let prev = prev.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        Ok((out?, Some(prev?)))
    })
}

/// Questions over one filter asked together (rollups answer those they hold from one read of
/// them), then taken one by one.
struct Answers<'a> {
    store: &'a Store,
    filter: &'a ReportFilter,
    params: &'a Params,
    answers: Vec<(Question, Table)>,
}

impl<'a> Answers<'a> {
    fn ask(
        store: &'a Store,
        asked: &[Question],
        filter: &'a ReportFilter,
        params: &'a Params,
    ) -> Result<Self, StoreError> {
        let answers = store.answer_many(asked, filter, params)?;
        Ok(Answers {
            store,
            filter,
            params,
            answers: asked.iter().copied().zip(answers).collect(),
        })
    }

    /// The answer to `q`: the one asked together, or asked now on its own if `q` was not.
    fn take(&mut self, q: Question) -> Result<Table, StoreError> {
        match self.answers.iter().position(|(asked, _)| *asked == q) {
            Some(i) => Ok(self.answers.swap_remove(i).1),
            None => self.store.answer(q, self.filter, self.params),
        }
    }
}

/// Answers a report: the one read path behind every view.
pub fn run(store: &Store, req: &Request, opts: &Options) -> Result<Report, ReportError> {
    let f = &req.filter;
    let mut p = req.params.clone();
    // Dormant and health look back from the end of the range when it is in the past (a report
    // on last term), from now otherwise: a range ending tomorrow must not count the hours that
    // have not happened yet as a drop.
    if matches!(req.kind, ReportKind::Dormant | ReportKind::Health)
        && let Some(to) = f.to
    {
        p.as_of = p.as_of.min(to);
    }
    // Health compares whole hours: the 24 hours before the last full hour against the same
    // hours of the weeks before (an hour under way would look like a drop; whole hours are
    // also what the rollups' hourly counts can answer).
    if req.kind == ReportKind::Health {
        p.as_of = start_of_hour(p.as_of);
    }
    // Days are cut at local midnight with the offset in force at the start of the range.
    let anchor = f.from.unwrap_or(p.as_of);
    p.utc_offset_minutes = opts
        .timezone
        .offset_from_utc_datetime(&anchor.naive_utc())
        .fix()
        .local_minus_utc()
        / 60;
    let previous = previous_period(f);
    let prev_filter = previous.map(|(from, to)| ReportFilter {
        from: Some(from),
        to: Some(to),
        ..f.clone()
    });
    let ask = |q: Question, filter: &ReportFilter| store.answer(q, filter, &p);
    let ask_prev = |q: Question| -> Result<Option<Table>, StoreError> {
        prev_filter.as_ref().map(|pf| ask(q, pf)).transpose()
    };
    let kind = req.kind;
    let sections = match kind {
        ReportKind::Overview => {
            let (mut next, prev) =
                with_previous(store, prev_filter.as_ref(), Question::Totals, &p, || {
                    Answers::ask(
                        store,
                        &[Question::Totals, Question::Daily, Question::ToolCounts],
                        f,
                        &p,
                    )
                })?;
            let totals = next.take(Question::Totals)?;
            let daily = next.take(Question::Daily)?;
            let mut top = next.take(Question::ToolCounts)?;
            top.title = "top_tools".into();
            top.rows.truncate(10);
            vec![
                summary(&totals, prev.as_ref()),
                daily,
                top,
                ask(Question::Freshness, f)?,
            ]
        }
        ReportKind::Tools => {
            let (tools, prev) = with_previous(
                store,
                prev_filter.as_ref(),
                Question::ToolLaunches,
                &p,
                || ask(Question::Tools, f),
            )?;
            vec![add_change(tools, prev.as_ref())]
        }
        ReportKind::Tool => {
            if f.tool.is_none() {
                return Err(ReportError::Missing {
                    report: kind.name(),
                    what: "a tool id (the tool filter)",
                });
            }
            use Question::{
                Daily, Deployments, Hourly, LtiVersions, MessageTypes, Roles, Tools, TopCourses,
            };
            let (mut next, prev) = with_previous(
                store,
                prev_filter.as_ref(),
                Question::ToolLaunches,
                &p,
                || Answers::ask(store, &TOOL_QUESTIONS, f, &p),
            )?;
            let mut summary = add_change(next.take(Tools)?, prev.as_ref());
            if summary.rows.is_empty() {
                known_tool(store, f, &p, &opts.inventory)?;
            }
            summary.title = "summary".into();
            let daily = next.take(Daily)?;
            vec![
                summary,
                daily,
                next.take(TopCourses)?,
                next.take(Roles)?,
                heatmap(&next.take(Hourly)?, opts.timezone),
                next.take(MessageTypes)?,
                next.take(LtiVersions)?,
                next.take(Deployments)?,
            ]
        }
        ReportKind::Courses => vec![ask(Question::Courses, f)?],
        ReportKind::Course => {
            if f.course.is_none() {
                return Err(ReportError::Missing {
                    report: kind.name(),
                    what: "a course key (the course filter)",
                });
            }
            let mut summary = ask(Question::Courses, f)?;
            if summary.rows.is_empty() {
                known_course(store, f, &p)?;
            }
            summary.title = "summary".into();
            let tools = add_change(
                ask(Question::Tools, f)?,
                ask_prev(Question::ToolLaunches)?.as_ref(),
            );
            vec![
                summary,
                tools,
                ask(Question::Roles, f)?,
                ask(Question::Daily, f)?,
            ]
        }
        ReportKind::Adoption => vec![ask(Question::Adoption, f)?],
        ReportKind::Dormant => {
            let mut tools = ask(Question::DormantTools, f)?;
            never_launched(&mut tools, &opts.inventory, f, &ask)?;
            vec![tools, ask(Question::DormantDeployments, f)?]
        }
        ReportKind::Health => vec![health(ask(Question::Health, f)?)],
        ReportKind::TimeInTool => vec![ask(Question::TimeInTool, f)?],
        ReportKind::Quality => vec![
            ask(Question::QualitySources, f)?,
            ask(Question::QualityDaily, f)?,
            ask(Question::QualityLag, f)?,
            ask(Question::QuarantineReasons, f)?,
        ],
        ReportKind::User => {
            if p.user.as_deref().is_none_or(str::is_empty) {
                return Err(ReportError::Missing {
                    report: kind.name(),
                    what: "a user id",
                });
            }
            vec![ask(Question::UserLaunches, f)?]
        }
    };
    let mut report = Report {
        kind,
        filter: f.clone(),
        previous,
        sections,
    };
    if let Some(k) = opts.suppress_below {
        suppress(&mut report, k);
    }
    Ok(report)
}

/// (value - previous) / previous, when there is a previous value.
fn change(value: u64, previous: Option<u64>) -> Cell {
    match previous {
        Some(p) if p > 0 => Cell::Ratio((value as f64 - p as f64) / p as f64),
        _ => Cell::Empty,
    }
}

/// The overview's summary: each total against the previous period.
fn summary(totals: &Table, prev: Option<&Table>) -> Table {
    let mut out = Table::new("summary", &SUMMARY);
    for c in &totals.columns {
        let value = totals.int(0, c.name).unwrap_or(0);
        let previous = prev.map(|p| p.int(0, c.name).unwrap_or(0));
        out.rows.push(vec![
            Cell::Text(c.name.to_owned()),
            Cell::Int(value),
            previous.map_or(Cell::Empty, Cell::Int),
            change(value, previous),
        ]);
    }
    out
}

/// Adds `prev_launches` and `change` per tool from the previous period's counts.
fn add_change(mut tools: Table, prev: Option<&Table>) -> Table {
    tools.columns.extend([PREV, CHANGE]);
    for row in &mut tools.rows {
        let id = row.first().and_then(Cell::as_text).unwrap_or_default();
        let launches = row.get(2).and_then(Cell::as_int).unwrap_or(0);
        let previous = prev.map(|p| {
            p.find("tool_id", id)
                .and_then(|i| p.int(i, "launches"))
                .unwrap_or(0)
        });
        row.push(previous.map_or(Cell::Empty, Cell::Int));
        row.push(change(launches, previous));
    }
    tools
}

/// Launches per (weekday, hour) in the time zone, from launches per UTC hour. Every one of the
/// 168 cells is present, so a chart or a CSV has no gaps.
fn heatmap(hourly: &Table, tz: Tz) -> Table {
    let mut grid = [[0u64; 24]; 7];
    for i in 0..hourly.rows.len() {
        if let (Some(Cell::Time(t)), Some(n)) = (hourly.cell(i, "hour"), hourly.int(i, "launches"))
        {
            let local = t.with_timezone(&tz);
            let d = local.weekday().num_days_from_monday() as usize;
            grid[d][local.hour() as usize] += n;
        }
    }
    let mut out = Table::new("heatmap", &HEATMAP);
    for (d, hours) in grid.iter().enumerate() {
        for (h, n) in hours.iter().enumerate() {
            out.rows.push(vec![
                Cell::Int(d as u64 + 1),
                Cell::Int(h as u64),
                Cell::Int(*n),
            ]);
        }
    }
    out
}

/// Expected launches below which a drop is not flagged: a tool used twice a week is not
/// "broken" because nobody used it today.
const HEALTH_MIN_EXPECTED: f64 = 5.0;

/// The health status of one tool.
pub fn health_status(last_24h: u64, baseline: f64, baseline_weeks: u64) -> &'static str {
    let now = last_24h as f64;
    if baseline_weeks == 0 {
        "new"
    } else if baseline >= HEALTH_MIN_EXPECTED && last_24h == 0 {
        "silent"
    } else if baseline >= HEALTH_MIN_EXPECTED && now < 0.5 * baseline {
        "drop"
    } else if now >= HEALTH_MIN_EXPECTED && now > 2.0 * baseline {
        "spike"
    } else {
        "ok"
    }
}

/// Adds ratio and status; problems first.
fn health(mut t: Table) -> Table {
    t.columns = health_columns();
    for row in &mut t.rows {
        let now = row.get(2).and_then(Cell::as_int).unwrap_or(0);
        let base = row.get(3).and_then(Cell::as_f64).unwrap_or(0.0);
        let weeks = row.get(4).and_then(Cell::as_int).unwrap_or(0);
        row.push(if base > 0.0 {
            Cell::Ratio(now as f64 / base)
        } else {
            Cell::Empty
        });
        row.push(Cell::Text(health_status(now, base, weeks).to_owned()));
    }
    let rank = |row: &Vec<Cell>| match row.last().and_then(Cell::as_text) {
        Some("silent") => 0,
        Some("drop") => 1,
        Some("spike") => 2,
        Some("new") => 3,
        _ => 4,
    };
    t.rows.sort_by_key(rank);
    t
}

/// Small-cell suppression: every count from 1 to k-1 becomes `<k`, and the measures of a row
/// with a suppressed count are withheld too (a median or share could reveal it).
fn suppress(report: &mut Report, k: u64) {
    for table in &mut report.sections {
        let kinds: Vec<ColumnKind> = table.columns.iter().map(|c| c.kind).collect();
        for row in &mut table.rows {
            let mut hit = false;
            for (cell, kind) in row.iter_mut().zip(&kinds) {
                if *kind == ColumnKind::Count
                    && let Cell::Int(n) = cell
                    && *n > 0
                    && *n < k
                {
                    *cell = Cell::Suppressed(k);
                    hit = true;
                }
            }
            if hit {
                for (cell, kind) in row.iter_mut().zip(&kinds) {
                    if matches!(kind, ColumnKind::Float | ColumnKind::Ratio) && *cell != Cell::Empty
                    {
                        *cell = Cell::Suppressed(k);
                    }
                }
            }
        }
    }
}

/// An IANA time zone name (`Europe/London`, `America/New_York`, `UTC`).
pub fn parse_timezone(name: &str) -> Result<Tz, String> {
    name.trim().parse::<Tz>().map_err(|_| {
        format!("time zone {name:?} is unknown: use an IANA name such as Europe/London, America/Chicago or UTC")
    })
}

/// A range bound as users write it: `YYYY-MM-DD` (the start of that day in the report time
/// zone: its midnight, or its first valid hour where daylight saving skips midnight) or an
/// RFC 3339 time. The one parser behind the CLI's `--from`/`--to` and the API's `from`/`to`.
pub fn parse_time_bound(s: &str, tz: Tz) -> Result<Timestamp, String> {
    let s = s.trim();
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(ltiscope_model::day_start(&tz, d));
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| {
            format!("{s:?} is not a date (YYYY-MM-DD) or an RFC 3339 time (2026-03-01T08:00:00Z)")
        })
}

/// Where a retention of `keep_days` whole days cuts at `now`: the start, in `tz`, of the day
/// `keep_days` days before today (what `purge --before` that date deletes).
pub fn retention_cutoff(now: Timestamp, keep_days: u32, tz: Tz) -> Result<Timestamp, String> {
    let today = now.with_timezone(&tz).date_naive();
    let day = today
        .checked_sub_days(chrono::Days::new(u64::from(keep_days)))
        .ok_or_else(|| format!("keeping {keep_days} days reaches before the calendar"))?;
    Ok(ltiscope_model::day_start(&tz, day))
}

/// The start of the UTC hour of `t`.
fn start_of_hour(t: Timestamp) -> Timestamp {
    let hour_us = 3_600_000_000;
    chrono::DateTime::from_timestamp_micros(t.timestamp_micros().div_euclid(hour_us) * hour_us)
        .unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_keeps_whole_local_days() {
        let t = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .expect("time")
                .with_timezone(&chrono::Utc)
        };
        let chicago: Tz = "America/Chicago".parse().expect("tz");
        // 03:00 UTC on 10 March is still 9 March in Chicago (CDT, UTC-5).
        assert_eq!(
            retention_cutoff(t("2026-03-10T03:00:00Z"), 30, chicago),
            Ok(t("2026-02-07T06:00:00Z"))
        );
        assert_eq!(
            retention_cutoff(t("2026-03-10T03:00:00Z"), 30, Tz::UTC),
            Ok(t("2026-02-08T00:00:00Z"))
        );
        // Across the change to daylight saving time: midnight of 8 March is CST.
        assert_eq!(
            retention_cutoff(t("2026-03-09T12:00:00Z"), 1, chicago),
            Ok(t("2026-03-08T06:00:00Z"))
        );
        // Havana skips midnight when daylight saving starts: that day starts at 01:00 CDT,
        // for a date bound as for the rollups' days (one `day_start`), not an error.
        let havana: Tz = "America/Havana".parse().expect("tz");
        assert_eq!(
            parse_time_bound("2026-03-08", havana),
            Ok(t("2026-03-08T05:00:00Z"))
        );
        assert_eq!(
            retention_cutoff(t("2026-03-09T12:00:00Z"), 1, havana),
            Ok(t("2026-03-08T05:00:00Z"))
        );
    }

    #[test]
    fn health_flags_drops_spikes_and_silence_but_not_rare_tools() {
        assert_eq!(health_status(0, 40.0, 4), "silent");
        assert_eq!(health_status(10, 40.0, 4), "drop");
        assert_eq!(health_status(35, 40.0, 4), "ok");
        assert_eq!(health_status(100, 40.0, 4), "spike");
        assert_eq!(
            health_status(0, 1.0, 2),
            "ok",
            "a rarely used tool is not broken"
        );
        assert_eq!(health_status(3, 0.0, 0), "new");
    }

    #[test]
    fn previous_period_has_equal_length() {
        let t = |s: &str| ltiscope_ingest_free_parse(s);
        let f = ReportFilter {
            from: Some(t("2026-03-01T00:00:00Z")),
            to: Some(t("2026-03-31T00:00:00Z")),
            ..ReportFilter::default()
        };
        assert_eq!(
            previous_period(&f),
            Some((t("2026-01-30T00:00:00Z"), t("2026-03-01T00:00:00Z")))
        );
        assert_eq!(previous_period(&ReportFilter::default()), None);
    }

    fn ltiscope_ingest_free_parse(s: &str) -> Timestamp {
        chrono::DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&chrono::Utc)
    }

    #[test]
    fn heatmap_follows_the_time_zone_and_has_every_cell() {
        let mut hourly = Table::new("hourly", Question::Hourly.columns());
        // Monday 2026-03-02 14:00 UTC = 09:00 in New York (EST, UTC-5).
        hourly.rows.push(vec![
            Cell::Time(ltiscope_ingest_free_parse("2026-03-02T14:00:00Z")),
            Cell::Int(7),
        ]);
        let t = heatmap(&hourly, chrono_tz::America::New_York);
        assert_eq!(t.rows.len(), 168);
        let hit: Vec<_> = t.rows.iter().filter(|r| r[2] != Cell::Int(0)).collect();
        assert_eq!(hit, vec![&vec![Cell::Int(1), Cell::Int(9), Cell::Int(7)]]);
    }

    #[test]
    fn suppression_hides_small_counts_and_their_measures() {
        let mut t = Table::new("tools", Question::ToolCounts.columns());
        t.rows.push(vec![
            Cell::Text("a".into()),
            Cell::Text("A".into()),
            Cell::Int(100),
            Cell::Int(3),
        ]);
        t.rows.push(vec![
            Cell::Text("b".into()),
            Cell::Text("B".into()),
            Cell::Int(0),
            Cell::Int(0),
        ]);
        let mut r = Report {
            kind: ReportKind::Tools,
            filter: ReportFilter::default(),
            previous: None,
            sections: vec![t],
        };
        suppress(&mut r, 5);
        let t = &r.sections[0];
        assert_eq!(t.rows[0][2], Cell::Int(100));
        assert_eq!(t.rows[0][3], Cell::Suppressed(5));
        assert_eq!(t.rows[1][3], Cell::Int(0), "zero reveals nobody");
    }

    #[test]
    fn every_report_declares_sections_with_distinct_names() {
        for k in ReportKind::ALL {
            let s = k.sections();
            assert!(!s.is_empty(), "{}", k.name());
            let mut names: Vec<_> = s.iter().map(|(n, _)| *n).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), s.len(), "{}", k.name());
            assert_eq!(ReportKind::parse(k.name()), Some(k));
        }
    }
}
