//! Tool names follow the rules in force: every launch record keeps the identifiers its tool was
//! named by (launch URL, host, consumer key, client id, deployment id, tool-provider id), so
//! when the administrator's rules or the built-in catalogue change, the stored records are named
//! again from them, without importing anything again. That is how a tool is renamed, or two
//! are merged into one (two rules with one `id`), after its launches were collected.
//!
//! The names are derived per distinct combination of identifiers and stored name, not per
//! record: a term's million launches hold a few hundred combinations (the launch URL takes
//! part only when a rule matches paths). The records that change get their new name in one
//! statement, and the hours they fall in are marked, in the same transaction, so the next
//! rollup refresh recomputes the days whose counts moved between tools.

use crate::StoreError;
use crate::rollup::{self, Db};
use crate::sql::{fingerprint_in, set_fingerprint};
use crate::write::Val;
use ltiscope_ingest::ToolResolver;
use ltiscope_model::ToolRef;
use std::collections::BTreeMap;

/// When [`name_tools`](crate::Store::name_tools) names the stored records again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamingMode {
    /// Only when the rules or the catalogue differ from those that named them last (what
    /// `serve` and `import` do when they open the database: nothing to do costs one query).
    IfRulesChanged,
    /// Now, whatever named them last.
    Now,
    /// Say what naming them now would change, and change nothing.
    DryRun,
}

/// The launch records of one named tool that are (or would be) counted towards another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renaming {
    /// The tool id they were stored under.
    pub from_id: String,
    /// Its display name.
    pub from_name: String,
    /// The tool id they count towards now.
    pub to_id: String,
    /// Its display name.
    pub to_name: String,
    /// How the new name was found: `rule`, `catalogue`, `domain` or `unknown`.
    pub to_match: String,
    /// How many launch records (launches, returns and tool uses).
    pub records: u64,
}

/// A tool as the stored launch records name it, with the identifiers behind the name: what
/// an administrator reads to write a rule (a domain that lumps several tools together, a
/// catalogue name to change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTool {
    /// The tool id.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// How it was named: `rule`, `catalogue`, `domain` or `unknown`.
    pub matched_by: String,
    /// Launch records (launches, returns and tool uses).
    pub records: u64,
    /// The distinct launch hosts, client ids, consumer keys and tool-provider ids of its
    /// records, each list sorted.
    pub hosts: Vec<String>,
    /// See `hosts`.
    pub client_ids: Vec<String>,
    /// See `hosts`.
    pub consumer_keys: Vec<String>,
    /// See `hosts`.
    pub tool_provider_ids: Vec<String>,
}

/// Every tool of the stored launch records, with how it was named and the identifiers of its
/// records, the tools with the most records first.
pub(crate) fn stored_tools(db: &mut dyn Db) -> Result<Vec<StoredTool>, StoreError> {
    let lists = [
        "launch_host",
        "client_id",
        "consumer_key",
        "tool_provider_id",
    ]
    .iter()
    // Joined by the unit separator, which no identifier holds (a space may).
    .map(|c| format!("string_agg(DISTINCT {c}, chr(31) ORDER BY {c})"))
    .collect::<Vec<_>>()
    .join(", ");
    let mut tools = Vec::new();
    db.each(
        &format!(
            "SELECT tool_id, tool_name, tool_match, count(*)::BIGINT, {lists}
             FROM launches GROUP BY tool_id, tool_name, tool_match ORDER BY 4 DESC, 1, 2, 3"
        ),
        &[],
        &mut |r| {
            let list = |i| -> Result<Vec<String>, StoreError> {
                Ok(r.text(i)?
                    .map(|s| s.split('\u{1f}').map(str::to_owned).collect())
                    .unwrap_or_default())
            };
            tools.push(StoredTool {
                id: r.text(0)?.unwrap_or_default(),
                name: r.text(1)?.unwrap_or_default(),
                matched_by: r.text(2)?.unwrap_or_default(),
                records: r.int(3)?.unwrap_or(0).max(0) as u64,
                hosts: list(4)?,
                client_ids: list(5)?,
                consumer_keys: list(6)?,
                tool_provider_ids: list(7)?,
            });
            Ok(())
        },
    )?;
    Ok(tools)
}

/// The identifier columns a tool is named by, as `launches` and `tool_renames` hold them.
const IDS: [&str; 6] = [
    "launch_url",
    "launch_host",
    "consumer_key",
    "client_id",
    "deployment_id",
    "tool_provider_id",
];
/// The name as stored: these columns are never NULL.
const NAME: [&str; 3] = ["tool_id", "tool_name", "tool_match"];

/// Names the stored records again with `tools` (see [`NamingMode`]). `None` when the rules and
/// the catalogue are those that named them last and `mode` is `IfRulesChanged`; otherwise
/// what changed (or would), the tools with the most records first.
pub(crate) fn name_tools(
    db: &mut dyn Db,
    tools: &ToolResolver,
    mode: NamingMode,
) -> Result<Option<Vec<Renaming>>, StoreError> {
    let fingerprint = tools.fingerprint();
    if mode == NamingMode::IfRulesChanged && named_by(db)?.as_deref() == Some(&fingerprint) {
        return Ok(None);
    }
    // Without a path rule the URL cannot change a name: leaving it out of the grouping (read
    // as NULL) keeps the combinations few when every launch has a URL of its own.
    let (ids, url) = if tools.reads_paths() {
        (&IDS[..], "launch_url")
    } else {
        (&IDS[1..], "CAST(NULL AS VARCHAR)")
    };
    let mut rows: Vec<Vec<Val<'static>>> = Vec::new();
    let mut moved: BTreeMap<[String; 5], u64> = BTreeMap::new();
    db.each(
        &format!(
            "SELECT {url}, {}, {}, count(*) FROM launches GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9",
            IDS[1..].join(", "),
            NAME.join(", ")
        ),
        &[],
        &mut |r| {
            // The columns of IDS, then of NAME, then the count.
            let mut v: [Option<String>; IDS.len() + NAME.len()] = Default::default();
            for (i, slot) in v.iter_mut().enumerate() {
                *slot = r.text(i)?;
            }
            let tool = ToolRef {
                launch_url: v[0].clone(),
                host: v[1].clone(),
                consumer_key: v[2].clone(),
                client_id: v[3].clone(),
                deployment_id: v[4].clone(),
                tool_provider_id: v[5].clone(),
            };
            let stored = [6, 7, 8].map(|i| std::mem::take(&mut v[i]).unwrap_or_default());
            let now = tools.resolve(&tool);
            let now = [now.id, now.name, now.matched_by.as_str().to_owned()];
            if now == stored {
                return Ok(());
            }
            let records = r.int(9)?.unwrap_or(0).max(0) as u64;
            let [from_id, from_name, _] = stored.clone();
            let [to_id, to_name, to_match] = now.clone();
            *moved
                .entry([from_id, from_name, to_id, to_name, to_match])
                .or_default() += records;
            // As `tool_renames` holds them: the identifiers, the stored name, the new one.
            rows.push(
                v.into_iter()
                    .take(IDS.len())
                    .chain(stored.into_iter().chain(now).map(Some))
                    .map(Val::Owned)
                    .collect(),
            );
            Ok(())
        },
    )?;
    let mut renamings: Vec<Renaming> = moved
        .into_iter()
        .map(
            |([from_id, from_name, to_id, to_name, to_match], records)| Renaming {
                from_id,
                from_name,
                to_id,
                to_name,
                to_match,
                records,
            },
        )
        .collect();
    renamings.sort_by_key(|r| std::cmp::Reverse(r.records));
    if mode == NamingMode::DryRun {
        return Ok(Some(renamings));
    }
    if !rows.is_empty() {
        db.exec("DELETE FROM tool_renames", &[])?;
        db.append("tool_renames", &rows)?;
        // The hours of the records that move, marked before they move (the marks are what
        // the rollups recompute; see crate::rollup).
        rollup::mark_where(
            db,
            &format!(
                "AND EXISTS (SELECT 1 FROM tool_renames c WHERE {})",
                same(ids)
            ),
            &[],
        )?;
        db.exec(
            &format!(
                "UPDATE launches SET tool_id = c.new_id, tool_name = c.new_name, tool_match = c.new_match
                 FROM tool_renames c WHERE {}",
                same(ids)
            ),
            &[],
        )?;
        db.exec("DELETE FROM tool_renames", &[])?;
    }
    set_fingerprint(db, "tool_naming", &fingerprint)?;
    Ok(Some(renamings))
}

/// Whether the stored records were named by `tools` as far as is known: false only when
/// other rules or another catalogue named them last (a database no writer named yet says
/// nothing). One query: cheap enough to ask before every report.
pub(crate) fn named_alike(db: &mut dyn Db, tools: &ToolResolver) -> Result<bool, StoreError> {
    Ok(named_by(db)?.is_none_or(|f| f == tools.fingerprint()))
}

/// The fingerprint of the rules and catalogue that named the stored records last.
fn named_by(db: &mut dyn Db) -> Result<Option<String>, StoreError> {
    fingerprint_in(db, "tool_naming")
}

/// `launches` and `tool_renames c` agree on these identifier columns (NULL agreeing with
/// NULL only) and on the stored name. Each condition is an equality, so both databases join
/// by hashing instead of comparing every record with every combination.
fn same(ids: &[&str]) -> String {
    let mut conditions: Vec<String> = ids
        .iter()
        .map(|c| {
            format!(
                "coalesce(launches.{c}, '') = coalesce(c.{c}, '') AND (launches.{c} IS NULL) = (c.{c} IS NULL)"
            )
        })
        .collect();
    conditions.extend(NAME.iter().map(|c| format!("launches.{c} = c.{c}")));
    conditions.join(" AND ")
}
