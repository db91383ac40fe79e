//! Tables of typed cells and their three renderings.

use chrono::SecondsFormat;
use ltiscope_model::Timestamp;
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

/// One value of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text.
    Text(String),
    /// A count.
    Int(u64),
    /// A measure.
    Float(f64),
    /// A share between 0 and 1 (shown as a percentage in tables).
    Ratio(f64),
    /// A time.
    Time(Timestamp),
    /// Nothing known.
    Empty,
}

impl Cell {
    /// Text or empty.
    pub fn opt(v: Option<String>) -> Cell {
        v.map_or(Cell::Empty, Cell::Text)
    }

    /// Time or empty.
    pub fn time(v: Option<Timestamp>) -> Cell {
        v.map_or(Cell::Empty, Cell::Time)
    }

    fn text(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Int(n) => n.to_string(),
            Cell::Float(x) => format!("{x:.1}"),
            Cell::Ratio(r) => format!("{:.0}%", r * 100.0),
            Cell::Time(t) => t.to_rfc3339_opts(SecondsFormat::Secs, true),
            Cell::Empty => String::new(),
        }
    }

    fn machine_text(&self) -> String {
        match self {
            Cell::Ratio(r) => format!("{r:.4}"),
            Cell::Float(x) => format!("{x}"),
            other => other.text(),
        }
    }

    fn json(&self) -> Value {
        match self {
            Cell::Text(s) => json!(s),
            Cell::Int(n) => json!(n),
            Cell::Float(x) | Cell::Ratio(x) => json!(x),
            Cell::Time(t) => json!(t.to_rfc3339_opts(SecondsFormat::Millis, true)),
            Cell::Empty => Value::Null,
        }
    }

    fn is_numeric(&self) -> bool {
        matches!(self, Cell::Int(_) | Cell::Float(_) | Cell::Ratio(_))
    }
}

/// A titled table.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// What it shows.
    pub title: String,
    /// Column names (also the JSON keys and CSV header).
    pub columns: Vec<&'static str>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// Renders in `format`.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Table => self.to_text(),
            Format::Json => format!("{}\n", self.to_json()),
            Format::Csv => self.to_csv(),
        }
    }

    /// An array of objects keyed by column.
    pub fn to_json(&self) -> Value {
        Value::Array(
            self.rows
                .iter()
                .map(|row| {
                    Value::Object(
                        self.columns
                            .iter()
                            .zip(row)
                            .map(|(c, v)| ((*c).to_owned(), v.json()))
                            .collect(),
                    )
                })
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
        let mut out = self.columns.join(",");
        out.push('\n');
        for row in &self.rows {
            let line: Vec<String> = row.iter().map(|c| field(&c.machine_text())).collect();
            out.push_str(&line.join(","));
            out.push('\n');
        }
        out
    }

    fn to_text(&self) -> String {
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(Cell::text).collect())
            .collect();
        let widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                cells
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain([c.len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = format!("{} ({} rows)\n", self.title, self.rows.len());
        // Headers of numeric columns are right-aligned like their numbers.
        let numeric: Vec<bool> = (0..self.columns.len())
            .map(|i| self.rows.iter().any(|r| r[i].is_numeric()))
            .collect();
        let header: Vec<String> = self
            .columns
            .iter()
            .zip(&widths)
            .zip(&numeric)
            .map(|((c, w), num)| {
                if *num {
                    format!("{c:>w$}")
                } else {
                    format!("{c:<w$}")
                }
            })
            .collect();
        out.push_str(header.join("  ").trim_end());
        out.push('\n');
        for (row, texts) in self.rows.iter().zip(&cells) {
            let line: Vec<String> = row
                .iter()
                .zip(texts)
                .zip(&widths)
                .map(|((cell, t), w)| {
                    if cell.is_numeric() {
                        format!("{t:>w$}")
                    } else {
                        format!("{t:<w$}")
                    }
                })
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table {
            title: "t".into(),
            columns: vec!["name", "n", "share"],
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
