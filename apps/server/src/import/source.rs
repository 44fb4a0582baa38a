//! Reading an import file row by row: CSV (UTF-8, with or without a byte
//! order mark, a header row of field names) or JSON lines (`.jsonl`,
//! `.ndjson`: one object per line), each row with its line number.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::ServerError;

/// One row of a file: its line and its cells by column name (an empty CSV
/// cell reads as `null`).
#[derive(Debug, Clone)]
pub struct Row {
    /// The line it starts on (1 is the first line of the file).
    pub line: u64,
    /// Column name → value.
    pub cells: Map<String, Value>,
}

/// A row that cannot be read, with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The line it starts on.
    pub line: u64,
    /// What is wrong, for a person.
    pub message: String,
}

/// The rows of one file, and how much of it has been read.
pub struct Rows {
    inner: Box<dyn Iterator<Item = Result<Row, RowError>> + Send>,
    /// Column names (CSV: the header; JSON lines: none known up front).
    pub columns: Option<Vec<String>>,
    read: Arc<AtomicU64>,
    /// The file's size in bytes.
    pub size: u64,
}

impl Rows {
    /// Bytes of the file read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }
}

impl Iterator for Rows {
    type Item = Result<Row, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next()
    }
}

/// Counts the bytes read through it, for the progress line.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Whether `path` is read as JSON lines (by its extension) rather than CSV.
pub fn is_json_lines(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("jsonl" | "ndjson")
    )
}

/// Opens `path` for reading rows.
pub fn open(path: &Path) -> Result<Rows, ServerError> {
    let context = || format!("reading {}", path.display());
    let file = File::open(path).map_err(|error| ServerError::io(context(), error))?;
    let size = file
        .metadata()
        .map_err(|error| ServerError::io(context(), error))?
        .len();
    let read = Arc::new(AtomicU64::new(0));
    let reader = BufReader::with_capacity(
        1 << 16,
        Counting {
            inner: file,
            read: read.clone(),
        },
    );
    if is_json_lines(path) {
        return Ok(Rows {
            inner: Box::new(json_lines(reader)),
            columns: None,
            read,
            size,
        });
    }
    let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
    let header = csv.headers().map_err(|error| {
        ServerError::User(format!(
            "{}: the header row cannot be read: {error}",
            path.display()
        ))
    })?;
    let columns: Vec<String> = header
        .iter()
        .enumerate()
        .map(|(n, name)| {
            let name = if n == 0 {
                name.trim_start_matches('\u{feff}')
            } else {
                name
            };
            name.trim().to_owned()
        })
        .collect();
    let names = columns.clone();
    let rows = csv.into_records().map(move |record| {
        let record = record.map_err(|error| RowError {
            line: error.position().map_or(0, |p| p.line()),
            message: format!("unreadable: {error}"),
        })?;
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != names.len() {
            return Err(RowError {
                line,
                message: format!(
                    "{} cells where the header names {} columns",
                    record.len(),
                    names.len()
                ),
            });
        }
        let cells = names
            .iter()
            .zip(record.iter())
            .map(|(name, cell)| {
                let value = if cell.is_empty() {
                    Value::Null
                } else {
                    Value::String(cell.to_owned())
                };
                (name.clone(), value)
            })
            .collect();
        Ok(Row { line, cells })
    });
    Ok(Rows {
        inner: Box::new(rows),
        columns: Some(columns),
        read,
        size,
    })
}

fn json_lines(
    reader: impl BufRead + Send + 'static,
) -> impl Iterator<Item = Result<Row, RowError>> + Send {
    reader.lines().enumerate().filter_map(|(n, line)| {
        let line_number = n as u64 + 1;
        let text = match line {
            Ok(text) => text,
            Err(error) => {
                return Some(Err(RowError {
                    line: line_number,
                    message: format!("unreadable: {error}"),
                }))
            }
        };
        let text = if n == 0 {
            text.trim_start_matches('\u{feff}')
        } else {
            &text
        };
        if text.trim().is_empty() {
            return None;
        }
        Some(match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(cells)) => Ok(Row {
                line: line_number,
                cells,
            }),
            Ok(_) => Err(RowError {
                line: line_number,
                message: "not a JSON object".into(),
            }),
            Err(error) => Err(RowError {
                line: line_number,
                message: format!("not JSON: {error}"),
            }),
        })
    })
}
