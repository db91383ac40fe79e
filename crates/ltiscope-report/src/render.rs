//! Tables of typed cells and their three renderings.

use crate::Report;
use chrono::SecondsFormat;
use ltiscope_model::report::{Cell, Column, Table};
use serde_json::{Value, json};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned text for people.
    Table,
    /// JSON for programs (one array of objects per table).
    Json,
    /// CSV with a header row (RFC 4180 quoting).
    Csv,
}

impl Format {
    /// Parses `table`, `json` or `csv`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "table" => Some(Format::Table),
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }
}

/// Text, JSON and CSV renderings of a table.
pub trait Render {
    /// Renders in `format`.
    fn render(&self, format: Format) -> String;
    /// An array of objects keyed by column.
    fn to_json(&self) -> Value;
    /// CSV with a header row.
    fn to_csv(&self) -> String;
}

/// Text for people.
fn text(c: &Cell) -> String {
    match c {
        Cell::Text(s) => s.clone(),
        Cell::Int(n) => n.to_string(),
        Cell::Float(x) => format!("{x:.1}"),
        Cell::Ratio(r) => format!("{:.0}%", r * 100.0),
        Cell::Time(t) => t.to_rfc3339_opts(SecondsFormat::Secs, true),
        Cell::Day(d) => d.format("%Y-%m-%d").to_string(),
        Cell::Suppressed(k) => format!("<{k}"),
        Cell::Empty => String::new(),
    }
}

/// Text for programs (CSV): full precision.
fn machine_text(c: &Cell) -> String {
    match c {
        Cell::Ratio(r) => format!("{r:.4}"),
        Cell::Float(x) => format!("{}", tidy(*x)),
        other => text(other),
    }
}

/// A float for programs without the noise of the arithmetic that made it: a median
/// interpolated between two launches' milliseconds is 3041.0550000000026 s, which a
/// spreadsheet shows as it is, not 3041.055. Twelve significant digits: more than any measure
/// here carries (time in tool comes in milliseconds), fewer than the last bits of a double.
fn tidy(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{x:.11e}").parse().unwrap_or(x)
}

/// A JSON value: numbers stay numbers; a suppressed count is the string `"<k"`.
pub(crate) fn json_cell(c: &Cell) -> Value {
    match c {
        Cell::Text(s) => json!(s),
        Cell::Int(n) => json!(n),
        Cell::Float(x) | Cell::Ratio(x) => json!(tidy(*x)),
        Cell::Time(t) => json!(t.to_rfc3339_opts(SecondsFormat::Millis, true)),
        Cell::Day(d) => json!(d.format("%Y-%m-%d").to_string()),
        Cell::Suppressed(k) => json!(format!("<{k}")),
        Cell::Empty => Value::Null,
    }
}

fn is_numeric(c: &Cell) -> bool {
    matches!(
        c,
        Cell::Int(_) | Cell::Float(_) | Cell::Ratio(_) | Cell::Suppressed(_)
    )
}

/// One row as a JSON object keyed by column.
pub(crate) fn json_row(columns: &[Column], row: &[Cell]) -> Value {
    Value::Object(
        columns
            .iter()
            .zip(row)
            .map(|(c, v)| (c.name.to_owned(), json_cell(v)))
            .collect(),
    )
}

impl Render for Table {
    fn render(&self, format: Format) -> String {
        match format {
            Format::Table => to_text(self),
            Format::Json => format!("{}\n", self.to_json()),
            Format::Csv => self.to_csv(),
        }
    }

    fn to_json(&self) -> Value {
        Value::Array(
            self.rows
                .iter()
                .map(|row| json_row(&self.columns, row))
                .collect(),
        )
    }

    fn to_csv(&self) -> String {
        fn field(s: &str) -> String {
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_owned()
            }
        }
        let header: Vec<&str> = self.columns.iter().map(|c| c.name).collect();
        let mut out = header.join(",");
        out.push('\n');
        for row in &self.rows {
            let line: Vec<String> = row.iter().map(|c| field(&machine_text(c))).collect();
            out.push_str(&line.join(","));
            out.push('\n');
        }
        out
    }
}

fn to_text(t: &Table) -> String {
    let cells: Vec<Vec<String>> = t
        .rows
        .iter()
        .map(|r| r.iter().map(text).collect())
        .collect();
    let widths: Vec<usize> = t
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.name.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!("{} ({} rows)\n", t.title, t.rows.len());
    // Headers of numeric columns are right-aligned like their numbers.
    let numeric: Vec<bool> = (0..t.columns.len())
        .map(|i| t.rows.iter().any(|r| is_numeric(&r[i])))
        .collect();
    let header: Vec<String> = t
        .columns
        .iter()
        .zip(&widths)
        .zip(&numeric)
        .map(|((c, w), num)| {
            let c = c.name;
            if *num {
                format!("{c:>w$}")
            } else {
                format!("{c:<w$}")
            }
        })
        .collect();
    out.push_str(header.join("  ").trim_end());
    out.push('\n');
    for (row, texts) in t.rows.iter().zip(&cells) {
        let line: Vec<String> = row
            .iter()
            .zip(texts)
            .zip(&widths)
            .map(|((cell, s), w)| {
                if is_numeric(cell) {
                    format!("{s:>w$}")
                } else {
                    format!("{s:<w$}")
                }
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

impl Report {
    /// Renders the whole report: text shows every section; JSON is one object with a key per
    /// section; CSV is one section (`section`, or the first), because a CSV file holds one table.
    pub fn render(&self, format: Format, section: Option<&str>) -> Result<String, String> {
        match format {
            Format::Table => Ok(self
                .sections
                .iter()
                .map(|t| t.render(Format::Table))
                .collect::<Vec<_>>()
                .join("\n")),
            Format::Json => {
                let mut map = serde_json::Map::new();
                for t in &self.sections {
                    map.insert(t.title.clone(), t.to_json());
                }
                Ok(format!("{}\n", Value::Object(map)))
            }
            Format::Csv => self.csv_section(section).map(Render::to_csv),
        }
    }

    /// The section a CSV rendering shows.
    pub fn csv_section(&self, section: Option<&str>) -> Result<&Table, String> {
        match section {
            None => self
                .sections
                .first()
                .ok_or_else(|| "the report is empty".to_owned()),
            Some(name) => self.section(name).ok_or_else(|| {
                let names: Vec<&str> = self.sections.iter().map(|t| t.title.as_str()).collect();
                format!(
                    "the {} report has no section {name:?}: choose one of {}",
                    self.kind.name(),
                    names.join(", ")
                )
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ltiscope_model::report::ColumnKind;

    fn table() -> Table {
        let c = |name, kind| Column {
            name,
            kind,
            doc: "",
        };
        Table {
            title: "t".into(),
            columns: vec![
                c("name", ColumnKind::Text),
                c("n", ColumnKind::Count),
                c("share", ColumnKind::Ratio),
            ],
            rows: vec![
                vec![
                    Cell::Text("a, \"quoted\"".into()),
                    Cell::Int(12),
                    Cell::Ratio(0.5),
                ],
                vec![Cell::Text("b".into()), Cell::Int(3), Cell::Empty],
            ],
        }
    }

    #[test]
    fn csv_quotes_and_keeps_precision() {
        assert_eq!(
            table().render(Format::Csv),
            "name,n,share\n\"a, \"\"quoted\"\"\",12,0.5000\nb,3,\n"
        );
    }

    /// Regression: the CSV and JSON of time in tool showed the arithmetic's last bits
    /// (`3041.0550000000026`, `1092.2649999999999`).
    #[test]
    fn floats_for_programs_keep_their_digits_but_not_their_noise() {
        let t = Table {
            title: "t".into(),
            columns: vec![Column {
                name: "x",
                kind: ColumnKind::Float,
                doc: "",
            }],
            rows: [
                3041.0550000000026,
                1092.2649999999999,
                0.1 + 0.2,
                1.0e-7,
                123_456.789_012,
                7.0,
            ]
            .map(|x| vec![Cell::Float(x)])
            .into(),
        };
        assert_eq!(
            t.render(Format::Csv),
            "x\n3041.055\n1092.265\n0.3\n0.0000001\n123456.789012\n7\n"
        );
        let v = t.to_json();
        assert_eq!(v[0]["x"], json!(3041.055));
        assert_eq!(v[2]["x"], json!(0.3));
        assert_eq!(v[4]["x"], json!(123_456.789_012));
    }

    #[test]
    fn json_is_typed() {
        let v = table().to_json();
        assert_eq!(v[0]["n"], json!(12));
        assert_eq!(v[1]["share"], Value::Null);
    }

    #[test]
    fn text_aligns_numbers_right() {
        let text = table().render(Format::Table);
        assert_eq!(
            text,
            "t (2 rows)\nname          n  share\na, \"quoted\"  12    50%\nb             3\n"
        );
    }
}
