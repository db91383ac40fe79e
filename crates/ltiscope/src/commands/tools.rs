//! `ltiscope tools ...`: which tool the stored launch records count towards, and naming them
//! again by the tool rules (crate `ltiscope_store::naming` does the work).

use super::{columns, format, open_existing, refresh_rollups};
use crate::args::FormatArg;
use crate::settings::Settings;
use anyhow::Context;
use ltiscope_model::report::{Cell, ColumnKind, Table};
use ltiscope_report::Render;
use ltiscope_store::{NamingMode, Renaming, Store};
use std::fmt::Write as _;

pub(super) fn list_tools(f: FormatArg, settings: &Settings) -> anyhow::Result<()> {
    let store = open_existing(settings)?;
    note_other_naming(&store, settings)?;
    let tools = store.stored_tools().context("listing the stored tools")?;
    // A catalogue tool may have hundreds of hosts: a table shows the first few of each list.
    let shown = |values: Vec<String>| {
        let limit = if matches!(f, FormatArg::Table) {
            3
        } else {
            usize::MAX
        };
        let mut text = values
            .iter()
            .take(limit)
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        if values.len() > limit {
            let _ = write!(text, " (+{} more)", values.len() - limit);
        }
        Cell::Text(text)
    };
    let table = Table {
        title: "tools (as the stored launch records name them)".into(),
        columns: columns(&[
            ("tool_id", ColumnKind::Text),
            ("tool", ColumnKind::Text),
            ("named_by", ColumnKind::Text),
            ("records", ColumnKind::Int),
            ("hosts", ColumnKind::Text),
            ("client_ids", ColumnKind::Text),
            ("consumer_keys", ColumnKind::Text),
            ("tool_provider_ids", ColumnKind::Text),
        ]),
        rows: tools
            .into_iter()
            .map(|t| {
                vec![
                    Cell::Text(t.id),
                    Cell::Text(t.name),
                    Cell::Text(t.matched_by),
                    Cell::Int(t.records),
                    shown(t.hosts),
                    shown(t.client_ids),
                    shown(t.consumer_keys),
                    shown(t.tool_provider_ids),
                ]
            })
            .collect(),
    };
    print!("{}", table.render(format(f)));
    Ok(())
}

pub(super) fn name_tools(dry_run: bool, settings: &Settings) -> anyhow::Result<()> {
    let mut store = open_existing(settings)?;
    let mode = if dry_run {
        NamingMode::DryRun
    } else {
        NamingMode::Now
    };
    let renamings = store
        .name_tools(&settings.tools(), mode)
        .context("naming the stored launch records' tools by the tool rules")?
        .unwrap_or_default();
    if renamings.is_empty() {
        println!(
            "nothing to rename: every stored launch record has the name the tool rules and the catalogue give it"
        );
    } else if dry_run {
        print!("{}", renamings_text(&renamings, "would rename: "));
        println!("(dry run: nothing was changed; run again without --dry-run)");
    } else {
        print!("{}", renamings_text(&renamings, ""));
        // The days the renamed records fall on are rolled up again here rather than by the
        // next report: merging a popular tool touches most days of a term (a full rebuild,
        // ~7 s for a million launches).
        refresh_rollups(&store)?;
    }
    Ok(())
}

/// Says so when the stored records' tools were named by other tool rules than these: a
/// report or export then shows the names they were stored under, and the dormant report may
/// list a tool the new rules name as never launched. Reports do not rename (a report with
/// another `--config` would rename what the collector named); `tools apply` does.
pub(super) fn note_other_naming(store: &Store, settings: &Settings) -> anyhow::Result<()> {
    if !store
        .tools_named_alike(&settings.tools())
        .context("reading which tool rules named the stored launch records")?
    {
        eprintln!(
            "note: the stored launch records were named by other tool rules than these (or by another ltiscope's catalogue); run `ltiscope tools apply` with this configuration to name them by it (serve and import do it on start)"
        );
    }
    Ok(())
}

/// Renamed tools for people: the records, then a line per old and new name, most records
/// first.
pub(super) fn renamings_text(renamings: &[Renaming], lead: &str) -> String {
    let records: u64 = renamings.iter().map(|r| r.records).sum();
    let mut out = format!(
        "{lead}{records} launch record(s) now count towards another tool ({} renaming(s)):\n",
        renamings.len()
    );
    for r in renamings {
        let _ = writeln!(
            out,
            "  {} ({}) -> {} ({}, by {}): {} record(s)",
            r.from_id, r.from_name, r.to_id, r.to_name, r.to_match, r.records
        );
    }
    out
}
