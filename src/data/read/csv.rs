//! CSV blocks: whole records cut from the file and parsed by polars with the
//! column types of the block before.

use std::path::Path;

use polars::prelude::*;

use crate::error::{Error, Result};

/// A CSV file read a block of records at a time: the bytes of whole records
/// are gathered (a line break inside quotes does not end a record) and parsed
/// behind the header line. Each block is parsed with the column types of the
/// block before; when a cell does not fit them, the block infers its types as
/// a whole file would: a text cell in a numeric column makes that block's
/// column text, and the checks then name the cell's row.
pub(super) struct CsvSource {
    pub(super) file: std::fs::File,
    /// The header record, with its line break.
    pub(super) header: Vec<u8>,
    /// Bytes read past the records handed out so far.
    pub(super) pending: Vec<u8>,
    pub(super) eof: bool,
    /// Bytes of the records handed out so far.
    pub(super) consumed: usize,
    /// The first block, parsed when the file is opened.
    pub(super) first: Option<DataFrame>,
    /// Columns read as text whatever they look like ([`text_columns`]).
    pub(super) text: Vec<String>,
    /// The column types of the last block, tried first on the next one: a
    /// block that parses with them needs no type inference.
    pub(super) schema: Option<SchemaRef>,
}

impl CsvSource {
    /// Bytes read from the file at a time.
    const READ_BYTES: usize = 8 << 20;

    /// Opens `path` and parses its first block of up to `rows` records; the
    /// column names come from that block.
    pub(super) fn open(path: &Path, rows: usize, text: Vec<String>) -> Result<CsvSource> {
        if std::fs::metadata(path).map_err(|e| Error::io(path, e))?.len() == 0 {
            return Err(Error::EmptyTable { path: path.to_path_buf() });
        }
        let mut source = CsvSource {
            file: std::fs::File::open(path).map_err(|e| Error::io(path, e))?,
            header: vec![],
            pending: vec![],
            eof: false,
            consumed: 0,
            first: None,
            text,
            schema: None,
        };
        let header = source.records(path, 1)?;
        source.header = header;
        if !source.header.ends_with(b"\n") {
            source.header.push(b'\n');
        }
        source.first = source.next_block(path, rows)?;
        if source.first.is_none() {
            return Err(Error::EmptyTable { path: path.to_path_buf() });
        }
        Ok(source)
    }

    /// The bytes of the next `n` records (fewer at the end of the file).
    pub(super) fn records(&mut self, path: &Path, n: usize) -> Result<Vec<u8>> {
        use std::io::Read;
        let (mut scanned, mut count, mut quoted) = (0, 0, false);
        let cut = loop {
            let mut cut = None;
            for at in memchr::memchr2_iter(b'"', b'\n', &self.pending[scanned..]) {
                let at = scanned + at;
                if self.pending[at] == b'"' {
                    quoted = !quoted;
                } else if !quoted {
                    count += 1;
                    if count == n {
                        cut = Some(at + 1);
                        break;
                    }
                }
            }
            if let Some(cut) = cut {
                break cut;
            }
            scanned = self.pending.len();
            if self.eof {
                break scanned;
            }
            let len = self.pending.len();
            self.pending.resize(len + Self::READ_BYTES, 0);
            let got = self.file.read(&mut self.pending[len..]).map_err(|e| Error::io(path, e))?;
            self.pending.truncate(len + got);
            self.eof = got == 0;
        };
        self.consumed += cut;
        let rest = self.pending.split_off(cut);
        Ok(std::mem::replace(&mut self.pending, rest))
    }

    /// The next block of up to `rows` records, or None at the end of the file.
    pub(super) fn next_block(&mut self, path: &Path, rows: usize) -> Result<Option<DataFrame>> {
        if let Some(first) = self.first.take() {
            return Ok(Some(first));
        }
        loop {
            let body = self.records(path, rows)?;
            if body.iter().all(u8::is_ascii_whitespace) {
                if self.eof && self.pending.is_empty() {
                    return Ok(None);
                }
                continue;
            }
            let mut bytes = self.header.clone();
            bytes.extend_from_slice(&body);
            drop(body);
            let open = || Ok(std::io::Cursor::new(bytes.as_slice()));
            // The last block's types, else inferred as for a whole file
            // (a cell that does not parse as the last block's type).
            let df = match self.schema.take() {
                Some(schema) => parse_csv_as(open, schema).or_else(|_| parse_csv(path, open, &self.text))?,
                None => parse_csv(path, open, &self.text)?,
            };
            self.schema = Some(df.schema().clone());
            if df.height() > 0 {
                return Ok(Some(df));
            }
        }
    }
}

/// How a CSV file separates its fields: commas, or, as spreadsheets export
/// it where the decimal mark is a comma, `;` with decimal commas; or tabs or
/// `|`. polars reads them all once told; this tells it from the first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Dialect {
    pub(super) separator: u8,
    pub(super) decimal_comma: bool,
}

impl Dialect {
    /// Bytes looked at: the header and the first rows.
    const HEAD_BYTES: usize = 1 << 20;

    /// The dialect of a file that starts with `head`: the separator is the
    /// most frequent of `,`, `;`, tab and `|` in the header line outside
    /// quotes (a comma on a tie or when there is none); `;` with a digit,
    /// comma, digit in the rows after it means decimal commas (`3,5`).
    pub(super) fn of(head: &[u8]) -> Dialect {
        let line_end = memchr::memchr(b'\n', head).unwrap_or(head.len());
        let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0), (b'|', 0)];
        let mut quoted = false;
        for &b in &head[..line_end] {
            if b == b'"' {
                quoted = !quoted;
            } else if !quoted {
                if let Some(c) = counts.iter_mut().find(|(s, _)| *s == b) {
                    c.1 += 1;
                }
            }
        }
        let mut separator = b',';
        let mut most = counts[0].1;
        for &(s, n) in &counts[1..] {
            if n > most {
                (separator, most) = (s, n);
            }
        }
        let rows = &head[line_end..];
        let decimal_comma = separator == b';'
            && rows
                .windows(3)
                .any(|w| w[0].is_ascii_digit() && w[1] == b',' && w[2].is_ascii_digit());
        Dialect { separator, decimal_comma }
    }

    /// The dialect of the source `open` gives (comma when it cannot be read).
    pub(super) fn sniff<R: polars::io::mmap::MmapBytesReader>(open: &impl Fn() -> PolarsResult<R>) -> Dialect {
        let mut head = vec![0; Self::HEAD_BYTES];
        let n = open().ok().and_then(|mut r| r.read(&mut head).ok()).unwrap_or(0);
        Dialect::of(&head[..n])
    }

    /// `options` told this dialect. With decimal commas, the cells that mean
    /// missing (a blank among them) are nulls to polars too: a `3,5` column
    /// with a blank cell would otherwise be read as text, which the checks
    /// could not turn back into numbers (a comma-separated file's `3.5` they can).
    pub(super) fn apply(self, options: CsvReadOptions) -> CsvReadOptions {
        let options = options.map_parse_options(|o| o.with_separator(self.separator).with_decimal_comma(self.decimal_comma));
        if !self.decimal_comma {
            return options;
        }
        let missing = ["", " ", "NA", "N/A", "na", "null", "NULL", "None"];
        options.map_parse_options(|o| o.with_null_values(Some(NullValues::AllColumns(missing.map(PlSmallStr::from).to_vec()))))
    }
}

/// Parses CSV with a header line as the column types `schema`, without
/// inference; fails on a cell that does not parse as its column's type.
pub(super) fn parse_csv_as<R: polars::io::mmap::MmapBytesReader>(
    open: impl Fn() -> PolarsResult<R>,
    schema: SchemaRef,
) -> PolarsResult<DataFrame> {
    Dialect::sniff(&open)
        .apply(CsvReadOptions::default())
        .with_has_header(true)
        .with_schema(Some(schema))
        .into_reader_with_file_handle(open()?)
        .finish()
}

/// The CSV schema overwrite that reads the columns `text` as text.
pub(super) fn text_schema(text: &[impl AsRef<str>]) -> Option<SchemaRef> {
    let fields = text.iter().map(|c| Field::new(c.as_ref().into(), DataType::String));
    (!text.is_empty()).then(|| Arc::new(Schema::from_iter(fields)))
}

/// Parses CSV with a header line from the source `open` gives (a file or
/// bytes in memory), inferring column types from the first 10,000 rows; when a
/// later cell does not fit, every column is read as text. The columns `text`
/// are always text. `path` names the file in errors.
pub(super) fn parse_csv<R: polars::io::mmap::MmapBytesReader>(
    path: &Path,
    open: impl Fn() -> PolarsResult<R>,
    text: &[impl AsRef<str>],
) -> Result<DataFrame> {
    parse_csv_columns(path, open, text, None)
}

/// As [`parse_csv`], only the columns named in `columns` when given.
pub(super) fn parse_csv_columns<R: polars::io::mmap::MmapBytesReader>(
    path: &Path,
    open: impl Fn() -> PolarsResult<R>,
    text: &[impl AsRef<str>],
    columns: Option<&[String]>,
) -> Result<DataFrame> {
    let columns: Option<Arc<[PlSmallStr]>> = columns.map(|c| c.iter().map(|n| PlSmallStr::from(n.as_str())).collect());
    let dialect = Dialect::sniff(&open);
    let read = |infer: Option<usize>| {
        dialect
            .apply(CsvReadOptions::default())
            .with_has_header(true)
            .with_infer_schema_length(infer)
            .with_schema_overwrite(text_schema(text))
            .with_columns(columns.clone())
            .into_reader_with_file_handle(open()?)
            .finish()
    };
    read(Some(10_000)).or_else(|_| read(Some(0))).map_err(|e| Error::Table {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> DataFrame {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("export.csv");
        std::fs::write(&p, text).unwrap();
        parse_csv(&p, || std::fs::File::open(&p).map_err(Into::into), &["account_id"]).unwrap()
    }

    #[test]
    fn spreadsheet_exports_are_read_in_their_dialect() {
        // `;` with decimal commas, as a spreadsheet writes where the comma is the decimal mark.
        let df = read("account_id;logins;share;churned\n007;3;0,25;0\n008;12;1,5;1\n009;4; ;0\n");
        assert_eq!(df.width(), 4);
        assert_eq!(df.column("share").unwrap().f64().unwrap().get(1), Some(1.5));
        assert_eq!(df.column("share").unwrap().f64().unwrap().get(2), None, "a blank is missing");
        assert_eq!(df.column("account_id").unwrap().str().unwrap().get(0), Some("007"));
        // Tabs, and `;` with decimal points.
        let df = read("account_id\tshare\nA1\t0.5\n");
        assert_eq!(df.column("share").unwrap().f64().unwrap().get(0), Some(0.5));
        let df = read("account_id;share\nA1;0.5\n");
        assert_eq!(df.column("share").unwrap().f64().unwrap().get(0), Some(0.5));
        // A comma file with `;` inside a quoted cell stays a comma file.
        let df = read("account_id,note\nA1,\"a;b\"\n");
        assert_eq!(df.width(), 2);
        assert_eq!(
            Dialect::of(b"a;b;c\n1;2,5;3\n"),
            Dialect {
                separator: b';',
                decimal_comma: true
            }
        );
        assert_eq!(Dialect::of(b"one_column\n1\n").separator, b',');
    }
}
