//! `ltiscope rederive`: every stored event derived again from its kept original
//! (`ltiscope_pipeline::rederive` does the work).

use super::{COMPACT_HINT, open_existing, refresh_rollups, renamings_text};
use crate::args::RederiveArgs;
use crate::settings::Settings;
use anyhow::Context;
use ltiscope_pipeline::RederiveOptions;
use ltiscope_store::{NamingMode, RederiveOutcome};
use std::io::{IsTerminal, Write};
use std::time::Instant;

pub(super) fn rederive(a: RederiveArgs, settings: &Settings) -> anyhow::Result<()> {
    let tz = settings.reports.options.timezone;
    let bound = |s: &Option<String>, flag: &str| {
        s.as_deref()
            .map(|s| ltiscope_report::parse_time_bound(s, tz))
            .transpose()
            .map_err(anyhow::Error::msg)
            .with_context(|| flag.to_owned())
    };
    let options = RederiveOptions {
        from: bound(&a.from, "--from")?,
        to: bound(&a.to, "--to")?,
        dry_run: a.dry_run,
    };
    let pipeline = settings.pipeline()?;
    let mut store = open_existing(settings)?;
    let started = Instant::now();
    let bar = std::io::stderr().is_terminal().then(|| {
        let style = indicatif::ProgressStyle::with_template(
            "deriving stored events again {wide_bar} {pos}/{len} events [{elapsed}, {per_sec}]",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        indicatif::ProgressBar::new(0).with_style(style)
    });
    // Without a terminal (a log), a line per tenth done.
    let mut next_tenth = 1;
    let mut progress = |done: u64, total: u64| match &bar {
        Some(b) => {
            b.set_length(total);
            b.set_position(done);
        }
        None if total > 0 && done * 10 >= next_tenth * total => {
            eprintln!("derived {done} of {total} stored events again");
            next_tenth = done * 10 / total + 1;
        }
        None => {}
    };
    let outcome = ltiscope_pipeline::rederive(&mut store, &pipeline, options, &mut progress)
        .context("deriving the stored events again (what was replaced before this error stays replaced; running it again carries on)")?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let secs = started.elapsed().as_secs_f64();
    print!("{}", summary(&outcome, a.dry_run, secs));
    if a.dry_run {
        return Ok(());
    }
    if outcome.changed > 0 {
        eprintln!("{COMPACT_HINT}");
    }
    if options.from.is_none() && options.to.is_none() {
        // Every stored event is now what this build derives (or was reported above).
        store
            .set_derived_by(&pipeline.derivation_fingerprint())
            .context("recording which parser and redaction derived the stored events")?;
    }
    // The records are named by these tool rules now; the naming's own record of the rules in
    // force follows (records outside --from/--to are named by them too, as serve and import
    // would on start).
    let renamed = store
        .name_tools(&settings.tools(), NamingMode::IfRulesChanged)
        .context("naming the stored launch records' tools by the tool rules")?
        .unwrap_or_default();
    if !renamed.is_empty() {
        print!(
            "{}",
            renamings_text(&renamed, "outside the re-derived events, ")
        );
    }
    if outcome.records > 0 || !renamed.is_empty() {
        refresh_rollups(&store)?;
    }
    Ok(())
}

/// What a re-derive found and did, for people.
fn summary(o: &RederiveOutcome, dry_run: bool, secs: f64) -> String {
    let mut out = Vec::new();
    let verb = if dry_run { "would replace" } else { "replaced" };
    let _ = writeln!(
        out,
        "derived {} stored event(s) again from their kept originals in {secs:.1}s:",
        o.examined
    );
    let unchanged = o.examined - o.changed - o.unparsed - o.moved;
    let _ = writeln!(out, "  unchanged:   {unchanged}");
    let _ = writeln!(
        out,
        "  {verb}: {} (originals scrubbed again: {}; launch records changed: {})",
        o.changed, o.originals, o.records
    );
    if !o.columns.is_empty() {
        let mut columns: Vec<_> = o.columns.iter().collect();
        columns.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let list: Vec<String> = columns.iter().map(|(c, n)| format!("{c} {n}")).collect();
        let _ = writeln!(out, "    launch record columns: {}", list.join(", "));
    }
    if o.unparsed > 0 {
        let _ = writeln!(
            out,
            "  left as stored, the original no longer parses: {}",
            o.unparsed
        );
    }
    if o.moved > 0 {
        let _ = writeln!(
            out,
            "  left as stored, its source, tenant, event id or time would change: {}",
            o.moved
        );
    }
    for e in &o.examples {
        let _ = writeln!(out, "    e.g. {e}");
    }
    if dry_run {
        let _ = writeln!(
            out,
            "(dry run: nothing was changed; run again without --dry-run)"
        );
    }
    String::from_utf8_lossy(&out).into_owned()
}
