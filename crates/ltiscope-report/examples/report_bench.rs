//! Benchmark: wall time of each report on an existing database, in process (the query and
//! the report assembly; no process start), the median of several runs.
//!
//!     cargo run --example report_bench -- DB FROM TO [RUNS] [REPORTS]
//!
//! DB is a DuckDB file or a `postgres://` URL.
//! FROM and TO are `YYYY-MM-DD`; REPORTS a comma-separated list (default: all). The database
//! gets the memory limit `serve` and `report` use by default (1 GiB). Prints the time of the
//! rollup refresh (what was not rolled up yet), one line per report: name, median and fastest
//! milliseconds, and the rows of its first section; then each question rollups answer (those
//! REPORTS names, by question name, when it is given), timed from the launch records and from
//! rollups side by side (with `SKIP_RAW=1` in the environment, from rollups only: the records
//! side takes seconds per question at 10M).

use ltiscope_model::report::{Params, Question, ReportFilter};
use ltiscope_report::{Options, ReportKind, Request, parse_time_bound, run};
use ltiscope_store::{Location, Store};
use std::time::Instant;

/// The allocator of the `ltiscope` binary, so the figures are the binary's: decoding rollup
/// sets allocates many small values, where glibc's malloc is slower (BENCHMARKS.md, run 7).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: report_bench DB FROM TO [RUNS]");
        std::process::exit(2);
    }
    let runs: usize = args.get(3).map_or(Ok(5), |r| r.parse())?;
    let only: Option<Vec<&str>> = args.get(4).map(|l| l.split(',').collect());
    let mut store = Store::open(&Location::parse(&args[0]))?;
    store.set_memory_limit(1024 * 1024 * 1024)?;
    let tz = ltiscope_report::Tz::UTC;
    let filter = ReportFilter {
        from: Some(parse_time_bound(&args[1], tz)?),
        to: Some(parse_time_bound(&args[2], tz)?),
        ..ReportFilter::default()
    };
    let params = Params::new(filter.to.unwrap_or_else(chrono::Utc::now));
    // Whatever is not rolled up yet (a rebuild after `replicate`), timed on its own.
    let t = Instant::now();
    let r = store.refresh_rollups()?;
    println!(
        "{:<14} {:>8.1} ms   {} launches into {} tenant-days",
        "rollup-refresh",
        t.elapsed().as_secs_f64() * 1000.0,
        r.launches,
        r.days
    );
    let top = store.answer(Question::ToolCounts, &filter, &params)?;
    let top_tool = top.text(0, "tool_id").unwrap_or_default().to_owned();
    let opts = Options::default();
    let time = |f: &mut dyn FnMut() -> usize| {
        let mut ms = Vec::new();
        let mut rows = 0;
        for _ in 0..runs {
            let t = Instant::now();
            rows = f();
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        (ms[ms.len() / 2], ms[0], rows)
    };
    for kind in [
        ReportKind::Overview,
        ReportKind::Tools,
        ReportKind::Tool,
        ReportKind::Adoption,
        ReportKind::Courses,
        ReportKind::TimeInTool,
        ReportKind::Health,
        ReportKind::Dormant,
        ReportKind::Quality,
    ] {
        if only.as_ref().is_some_and(|o| !o.contains(&kind.name())) {
            continue;
        }
        let mut f = filter.clone();
        if kind == ReportKind::Tool {
            f.tool = Some(top_tool.clone());
        }
        let req = Request {
            kind,
            filter: f,
            params: params.clone(),
        };
        let (median, best, rows) = time(&mut || {
            run(&store, &req, &opts)
                .map(|r| r.sections[0].rows.len())
                .unwrap_or_else(|e| panic!("{}: {e}", kind.name()))
        });
        println!(
            "{:<14} median {median:>8.1} ms   fastest {best:>8.1} ms   rows {rows}",
            kind.name()
        );
    }
    // The one-tool report above is the worst case, the most launched tool; a tool of median
    // popularity too.
    if only.as_ref().is_none_or(|o| o.contains(&"tool")) && top.rows.len() > 2 {
        let median_tool = top.text(top.rows.len() / 2, "tool_id").unwrap_or_default();
        let req = Request {
            kind: ReportKind::Tool,
            filter: ReportFilter {
                tool: Some(median_tool.to_owned()),
                ..filter.clone()
            },
            params: params.clone(),
        };
        let (median, best, _) = time(&mut || {
            run(&store, &req, &opts)
                .map(|r| r.sections[0].rows.len())
                .unwrap_or_else(|e| panic!("tool: {e}"))
        });
        let launches = top.int(top.rows.len() / 2, "launches").unwrap_or_default();
        println!(
            "{:<14} median {median:>8.1} ms   fastest {best:>8.1} ms   (median tool: {launches} launches)",
            "tool-median"
        );
    }
    // Where the one-tool and overview reports spend their time: each of their questions as
    // `Store::answer` gives it (from rollups where they can answer, else the records).
    let mut one_tool = filter.clone();
    one_tool.tool = Some(top_tool.clone());
    let mut median_tool = filter.clone();
    median_tool.tool = top.text(top.rows.len() / 2, "tool_id").map(str::to_owned);
    for (scope, f, questions) in [
        ("tool", &one_tool, &ltiscope_report::TOOL_QUESTIONS[..]),
        (
            "tool-med",
            &median_tool,
            &ltiscope_report::TOOL_QUESTIONS[..],
        ),
        ("overview", &filter, &[Question::Freshness][..]),
    ] {
        let report = if scope == "tool-med" { "tool" } else { scope };
        if only.as_ref().is_some_and(|o| !o.contains(&report)) {
            continue;
        }
        for &q in questions {
            let (median, _, rows) = time(&mut || {
                store
                    .answer(q, f, &params)
                    .map(|t| t.rows.len())
                    .unwrap_or_else(|e| panic!("{q:?}: {e}"))
            });
            println!(
                "in {scope:<8} {:<14} median {median:>8.1} ms   rows {rows}",
                q.name()
            );
        }
    }
    // Each question the rollups answer, both ways, side by side: from the launch records (the
    // SQL every answer used before rollups) and from rollups.
    for q in [
        Question::Totals,
        Question::Daily,
        Question::ToolCounts,
        Question::ToolLaunches,
        Question::Tools,
        Question::Adoption,
        Question::Roles,
        Question::Hourly,
        Question::MessageTypes,
        Question::LtiVersions,
        Question::Deployments,
        Question::TimeInTool,
    ] {
        // With a list of reports, only the questions it names (e.g. `time_in_tool`).
        if only.as_ref().is_some_and(|o| !o.contains(&q.name())) {
            continue;
        }
        let skip_raw = std::env::var_os("SKIP_RAW").is_some();
        let (raw, _, rows) = if skip_raw {
            (0.0, 0.0, 0)
        } else {
            time(&mut || {
                store
                    .answer_raw(q, &filter, &params)
                    .map(|t| t.rows.len())
                    .unwrap_or_else(|e| panic!("{q:?}: {e}"))
            })
        };
        let (rolled, _, rolled_rows) = time(&mut || {
            store
                .answer_from_rollups(q, &filter, &params)
                .map(|t| t.map_or(0, |t| t.rows.len()))
                .unwrap_or_else(|e| panic!("{q:?}: {e}"))
        });
        if !skip_raw {
            assert_eq!(rows, rolled_rows, "{q:?}: both ways give the same rows");
        }
        println!(
            "question {:<12} records {raw:>8.1} ms   rollups {rolled:>7.1} ms   {:>6.1}x   rows {rows}",
            q.name(),
            raw / rolled.max(1e-3)
        );
    }
    Ok(())
}
