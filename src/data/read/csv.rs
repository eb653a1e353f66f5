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

/// Parses CSV with a header line as the column types `schema`, without
/// inference; fails on a cell that does not parse as its column's type.
pub(super) fn parse_csv_as<R: polars::io::mmap::MmapBytesReader>(
    open: impl Fn() -> PolarsResult<R>,
    schema: SchemaRef,
) -> PolarsResult<DataFrame> {
    CsvReadOptions::default()
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
    let read = |infer: Option<usize>| {
        CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(infer)
            .with_schema_overwrite(text_schema(text))
            .with_columns(columns.clone())
            .into_reader_with_file_handle(open()?)
            .finish()
    };
    // A header without a comma that another separator splits: say so,
    // whether polars read it as one column or failed on the cells after it.
    let separated_otherwise = || -> Option<String> {
        let mut head = vec![0; 64 << 10];
        let n = open().ok()?.read(&mut head).ok()?;
        let line = String::from_utf8_lossy(head[..n].split(|b| *b == b'\n').next()?).into_owned();
        if line.contains(',') {
            return None;
        }
        other_separator(&line)
    };
    let table_err = |message: String| Error::Table {
        path: path.to_path_buf(),
        message,
    };
    match read(Some(10_000)).or_else(|_| read(Some(0))) {
        Ok(df) if df.width() != 1 => Ok(df),
        Ok(df) => separated_otherwise().map_or(Ok(df), |m| Err(table_err(m))),
        Err(e) => Err(table_err(separated_otherwise().unwrap_or_else(|| e.to_string()))),
    }
}

/// What to say of a header read as one column that another separator splits:
/// a spreadsheet's export with `;` (and decimal commas) or tabs.
///
/// ```text
/// account_id;logins;churned  →  "the header holds 2 `;` ..."
/// ```
fn other_separator(header: &str) -> Option<String> {
    let (sep, count) = [(';', "`;`"), ('\t', "tabs"), ('|', "`|`")]
        .into_iter()
        .map(|(c, name)| (name, header.matches(c).count()))
        .max_by_key(|(_, n)| *n)?;
    (count > 0).then(|| {
        format!(
            "the header is one column that holds {count} {sep}: the file seems separated by {sep}, and healthscore reads comma-separated CSV (or Parquet); write it again with commas, e.g. pandas.read_csv(path, sep=\";\", decimal=\",\").to_csv(new_path, index=False)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_semicolon_file_is_named_as_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("export.csv");
        std::fs::write(&p, "account_id;logins;churned\nA1;3,5;0\nA2;1,0;1\n").unwrap();
        let e = parse_csv(&p, || std::fs::File::open(&p).map_err(Into::into), &[] as &[&str])
            .unwrap_err()
            .to_string();
        assert!(e.contains("export.csv") && e.contains("2 `;`") && e.contains("commas"), "{e}");
        // One column of its own is fine.
        std::fs::write(&p, "account_id\nA1\n").unwrap();
        assert!(parse_csv(&p, || std::fs::File::open(&p).map_err(Into::into), &[] as &[&str]).is_ok());
    }
}
