//! Reading account tables, CSV or Parquet by extension, with polars: a whole
//! frame, or a table read and checked block by block ([`TableBlocks`]) so
//! that memory holds one block rather than the file.
//!
//! This is one of the two modules that import polars' readers. The CSV
//! blocks are cut from the file here (`csv.rs`): polars 0.55 has no batched
//! CSV reader outside its lazy engine (`collect_batches` needs the `lazy` and
//! streaming features, a large part of polars not compiled here), and a
//! block must end on a record boundary and be parsed with the types of the
//! block before, so that a text cell in a numeric column is named by its row
//! of the file. Parquet is decoded by row ranges of polars' own reader
//! (`parquet.rs`). `healthscore bench` times polars' whole-file readers beside
//! these: on 1M rows × 40 they are faster at turning bytes into columns and
//! hold 25–40% more memory at their peak, without the checks
//! (benches/RESULTS.md).

mod csv;
mod parquet;

use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::data::spec::{Columns, FeatureDef};
use crate::data::table::{table_from_block, Labels, Seen, Table};
use crate::error::{Error, Result};
use csv::{parse_csv_columns, CsvSource};
use parquet::ParquetSource;

/// Reads a CSV or Parquet file into a polars frame, by extension.
///
/// CSV is first read with inferred types; if a column does not parse as its
/// inferred type further down, the file is read again as text so that the
/// checks below can name the offending row.
pub fn read_frame(path: &Path) -> Result<DataFrame> {
    read_frame_text(path, &[])
}

/// The columns of a table read as text from CSV whatever they look like: ids
/// such as `007` keep their zeros, and a segment or category named by
/// digits stays a label.
pub fn text_columns<'a>(columns: &'a Columns, defs: &'a [FeatureDef]) -> Vec<&'a str> {
    [Some(&columns.id), columns.date.as_ref(), columns.segment.as_ref()]
        .into_iter()
        .flatten()
        .filter(|c| !c.is_empty())
        .chain(defs.iter().filter(|d| d.categorical).map(|d| &d.name))
        .chain(&columns.keep)
        .map(String::as_str)
        .collect()
}

/// As [`read_frame`], with the CSV columns `text` read as text (see [`text_columns`]).
///
/// ```no_run
/// use healthscore::data::read::read_frame_text;
/// let df = read_frame_text("outcomes.csv".as_ref(), &["account_id"])?;
/// # Ok::<(), healthscore::Error>(())
/// ```
pub fn read_frame_text(path: &Path, text: &[&str]) -> Result<DataFrame> {
    read_frame_projected(path, text, None)
}

/// As [`read_frame_text`], with only the columns whose name `wanted` accepts:
/// a wide file (a scores file has a hundred columns) of which a few are used
/// is read in a fraction of the memory.
///
/// ```no_run
/// use healthscore::data::read::read_frame_columns;
/// let df = read_frame_columns("scores.csv".as_ref(), &["account_id"], |c| c == "account_id" || c == "risk")?;
/// assert_eq!(df.width(), 2);
/// # Ok::<(), healthscore::Error>(())
/// ```
pub fn read_frame_columns(path: &Path, text: &[&str], wanted: impl Fn(&str) -> bool) -> Result<DataFrame> {
    let columns: Vec<String> = column_names(path)?.into_iter().filter(|c| wanted(c)).collect();
    read_frame_projected(path, text, Some(&columns))
}

fn read_frame_projected(path: &Path, text: &[&str], columns: Option<&[String]>) -> Result<DataFrame> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if !path.exists() {
        return Err(Error::io(path, std::io::Error::new(std::io::ErrorKind::NotFound, "no such file")));
    }
    let table_err = |e: PolarsError| Error::Table {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let df = match ext.as_str() {
        "csv" | "txt" => {
            if std::fs::metadata(path).map_err(|e| Error::io(path, e))?.len() == 0 {
                return Err(Error::EmptyTable { path: path.to_path_buf() });
            }
            parse_csv_columns(path, || Ok(std::fs::File::open(path)?), text, columns)?
        }
        "parquet" | "pq" => {
            let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
            ParquetReader::new(file)
                .with_columns(columns.map(<[String]>::to_vec))
                .finish()
                .map_err(table_err)?
        }
        _ => {
            return Err(Error::Table {
                path: path.to_path_buf(),
                message: format!("unknown extension `.{ext}`; use .csv or .parquet"),
            })
        }
    };
    if df.height() == 0 {
        return Err(Error::EmptyTable { path: path.to_path_buf() });
    }
    Ok(df)
}

/// The column names of a CSV or Parquet table, read from its header or schema only.
///
/// ```no_run
/// let names = healthscore::data::read::column_names("notebooks-data/history.csv".as_ref())?;
/// assert!(names.iter().any(|n| n == "account_id"));
/// # Ok::<(), healthscore::Error>(())
/// ```
pub fn column_names(path: &Path) -> Result<Vec<String>> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let table_err = |e: PolarsError| Error::Table {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let names: Vec<String> = if matches!(ext.as_str(), "parquet" | "pq") {
        let schema = ParquetReader::new(file).schema().map_err(table_err)?;
        schema.iter_names().map(|n| n.to_string()).collect()
    } else {
        let dialect = csv::Dialect::sniff(&|| Ok(std::fs::File::open(path)?));
        let df = dialect
            .apply(CsvReadOptions::default())
            .with_has_header(true)
            .with_n_rows(Some(1))
            .with_infer_schema_length(Some(0))
            .into_reader_with_file_handle(file)
            .finish()
            .map_err(table_err)?;
        df.get_column_names().iter().map(|n| n.to_string()).collect()
    };
    Ok(names)
}

/// Reads and checks an account table against the spec's columns and features.
///
/// ```no_run
/// use healthscore::data::{read::read_table, spec::Spec, table::Labels};
/// let spec = Spec::load("training/saas.toml".as_ref())?;
/// let t = read_table("notebooks-data/history.csv".as_ref(), &spec.columns, &spec.feature_defs(), Labels::Required)?;
/// println!("{} rows", t.len());
/// # Ok::<(), healthscore::Error>(())
/// ```
pub fn read_table(path: &Path, columns: &Columns, defs: &[FeatureDef], labels: Labels) -> Result<Table> {
    let blocks = TableBlocks::open(path, columns, defs, labels, READ_BLOCK_ROWS)?;
    if columns.date.is_some() && !blocks.has_dates() {
        // The whole read names the missing date column.
        return table_from_frame(path, read_frame_text(path, &text_columns(columns, defs))?, columns, defs, labels);
    }
    blocks.collect_table()
}

/// Rows per block when a whole table is read ([`read_table`]): the file is
/// decoded a block at a time into the table's columns, so that the decoded
/// file and the table are never both held. Reading 1M rows × 40 features,
/// 32,768-row blocks peaked at 544–560 MiB from CSV (0.95 s) and 486 MiB
/// from Parquet, where 65,536-row blocks peaked at 570–611 and 513 MiB and
/// were no faster; 16,384 saved 10–20 MiB more and was slower from CSV.
pub const READ_BLOCK_ROWS: usize = 32_768;

/// As [`read_table`], but a date column the spec names and the file lacks is
/// skipped instead of being an error: live tables and tables for the hand-built
/// score often hold one snapshot without a date. The file is read once.
pub fn read_table_date_optional(path: &Path, columns: &Columns, defs: &[FeatureDef], labels: Labels) -> Result<Table> {
    TableBlocks::open(path, columns, defs, labels, READ_BLOCK_ROWS)?.collect_table()
}

/// Checks a frame and turns it into a [`Table`]. Feature columns leave the
/// frame as they are converted, so the frame and the table are not both held
/// in full.
pub fn table_from_frame(path: &Path, df: DataFrame, columns: &Columns, defs: &[FeatureDef], labels: Labels) -> Result<Table> {
    // Converted a block at a time, as a file is read: each block's columns stay
    // in cache (a 1M-row frame converts several times faster than whole).
    let n = df.height();
    let mut seen = Seen::with_capacity(n);
    if n <= READ_BLOCK_ROWS {
        return table_from_block(path, df, 0, columns, defs, labels, &mut seen);
    }
    let mut table: Option<Table> = None;
    for start in (0..n).step_by(READ_BLOCK_ROWS) {
        let block = df.slice(start as i64, READ_BLOCK_ROWS);
        let block = table_from_block(path, block, start, columns, defs, labels, &mut seen)?;
        match &mut table {
            Some(t) => t.append(block),
            None => {
                let mut t = block;
                t.reserve_exact(n - t.len());
                table = Some(t);
            }
        }
    }
    Ok(table.expect("at least one block"))
}

/// Where [`TableBlocks`] reads from.
enum Source {
    /// A CSV file, parsed a block of records at a time.
    Csv(CsvSource),
    /// A Parquet file, decoded a block at a time.
    Parquet(ParquetSource),
}

impl Source {
    /// The block of up to `rows` rows that starts at row `next` as a frame, or None after the last.
    fn next_frame(&mut self, path: &Path, rows: usize, next: usize) -> Result<Option<DataFrame>> {
        match self {
            Source::Csv(source) => source.next_block(path, rows),
            Source::Parquet(source) if next < source.rows => {
                let len = rows.min(source.rows - next);
                source.read(path, next, len).map(Some)
            }
            Source::Parquet(_) => Ok(None),
        }
    }
}

/// An account table read and checked block by block, so that memory holds one
/// block of the table rather than the file.
///
/// Parquet blocks are decoded from the file as they are asked for, only the
/// columns the spec names. A CSV file is read a block of records at a time,
/// each block with the column types of the one before, inferred again when a
/// cell does not fit them (a text cell in a numeric column is named by row, as
/// in a whole read). Errors name rows counted from the top
/// of the file, and duplicate ids are found across blocks.
///
/// ```no_run
/// use healthscore::data::{read::TableBlocks, spec::Spec, table::Labels};
/// let spec = Spec::load("training/saas.toml".as_ref())?;
/// let blocks = TableBlocks::open("live.parquet".as_ref(), &spec.columns, &spec.feature_defs(), Labels::IfPresent, 65_536)?;
/// let mut rows = 0;
/// for block in blocks {
///     rows += block?.len();
/// }
/// println!("{rows} rows");
/// # Ok::<(), healthscore::Error>(())
/// ```
pub struct TableBlocks {
    path: PathBuf,
    source: Source,
    columns: Columns,
    defs: Vec<FeatureDef>,
    labels: Labels,
    block_rows: usize,
    /// Row of the file where the next block starts.
    next: usize,
    done: bool,
    seen: Seen,
    /// Rows in the file: exact for Parquet, estimated for CSV.
    rows_hint: usize,
}

impl TableBlocks {
    /// Opens `path` (CSV or Parquet, by extension). A date column the spec
    /// names and the file lacks is skipped, as in [`read_table_date_optional`].
    pub fn open(path: &Path, columns: &Columns, defs: &[FeatureDef], labels: Labels, block_rows: usize) -> Result<TableBlocks> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        let mut columns = columns.clone();
        let (source, rows) = if matches!(ext.as_str(), "parquet" | "pq") && path.exists() {
            let table_err = |e: PolarsError| Error::Table {
                path: path.to_path_buf(),
                message: e.to_string(),
            };
            let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
            let mut reader = ParquetReader::new(file);
            let schema = reader.schema().map_err(table_err)?;
            let metadata = reader.get_metadata().map_err(table_err)?.clone();
            if columns.date.as_ref().is_some_and(|d| !schema.contains(d)) {
                columns.date = None;
            }
            let rows = metadata.num_rows;
            let named = [Some(&columns.id), columns.date.as_ref(), columns.risk_label.as_ref()]
                .into_iter()
                .chain([columns.upsell_label.as_ref(), columns.revenue.as_ref(), columns.segment.as_ref()])
                .flatten()
                .chain(defs.iter().map(|d| &d.name));
            // Only columns the file has: a missing one is named by the checks of each block.
            let mut wanted: Vec<String> = named.filter(|c| schema.contains(c)).cloned().collect();
            wanted.sort();
            wanted.dedup();
            if rows == 0 {
                return Err(Error::EmptyTable { path: path.to_path_buf() });
            }
            let mut group_starts: Vec<usize> = metadata
                .row_groups
                .iter()
                .scan(0, |start, g| {
                    let first = *start;
                    *start += g.num_rows();
                    Some(first)
                })
                .collect();
            group_starts.push(rows);
            let source = ParquetSource {
                metadata,
                columns: wanted,
                rows,
                group_starts,
                window: None,
            };
            (Source::Parquet(source), rows)
        } else if matches!(ext.as_str(), "csv" | "txt") && path.exists() {
            let block_rows = block_rows.max(1);
            let text = text_columns(&columns, defs).into_iter().map(String::from).collect();
            let source = CsvSource::open(path, block_rows, text)?;
            let first = source.first.as_ref().expect("the first block of an open file");
            if columns.date.as_ref().is_some_and(|d| first.column(d).is_err()) {
                columns.date = None;
            }
            // Rows of the whole file, estimated from the bytes of the first block.
            let bytes = std::fs::metadata(path).map_err(|e| Error::io(path, e))?.len() as f64;
            let per_row = (source.consumed - source.header.len()) as f64 / first.height() as f64;
            let rows = (bytes / per_row.max(1.0)) as usize;
            (Source::Csv(source), rows)
        } else {
            // An unknown extension or a missing file: the error of a whole read.
            return Err(read_frame(path).err().unwrap_or_else(|| Error::Table {
                path: path.to_path_buf(),
                message: "cannot be read block by block".into(),
            }));
        };
        Ok(TableBlocks {
            path: path.to_path_buf(),
            source,
            columns,
            defs: defs.to_vec(),
            labels,
            block_rows: block_rows.max(1),
            next: 0,
            done: false,
            // Sized once for the file: growing it block by block rehashes every id again.
            seen: Seen::with_capacity(rows),
            rows_hint: rows,
        })
    }

    /// Rows in the file: known up front for Parquet; for CSV, once every block has been read.
    pub fn rows(&self) -> Option<usize> {
        match &self.source {
            Source::Parquet(p) => Some(p.rows),
            Source::Csv(_) => self.done.then_some(self.next),
        }
    }

    /// Reads every block into one table, its columns sized once from the
    /// file's row count (for CSV, an estimate from the first block's bytes).
    /// A thread decodes the next block while this one converts and checks
    /// the last.
    ///
    /// ```no_run
    /// use healthscore::data::{read::{TableBlocks, READ_BLOCK_ROWS}, spec::Spec, table::Labels};
    /// let spec = Spec::load("training/saas.toml".as_ref())?;
    /// let blocks = TableBlocks::open("history.parquet".as_ref(), &spec.columns, &spec.feature_defs(), Labels::Required, READ_BLOCK_ROWS)?;
    /// let table = blocks.collect_table()?;
    /// println!("{} rows", table.len());
    /// # Ok::<(), healthscore::Error>(())
    /// ```
    pub fn collect_table(self) -> Result<Table> {
        let TableBlocks {
            path,
            mut source,
            columns,
            defs,
            labels,
            block_rows,
            mut next,
            mut seen,
            rows_hint,
            ..
        } = self;
        let hint = match source {
            Source::Parquet(_) => rows_hint,
            // Room for an estimate a little short.
            Source::Csv(_) => rows_hint + rows_hint / 16,
        };
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Result<DataFrame>>(1);
            let path = path.as_path();
            scope.spawn(move || loop {
                match source.next_frame(path, block_rows, next) {
                    Ok(Some(df)) => {
                        next += df.height();
                        // A closed channel: the converter stopped at an error.
                        if tx.send(Ok(df)).is_err() {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        break;
                    }
                }
            });
            let mut table: Option<Table> = None;
            let mut start = 0;
            for frame in rx {
                let frame = frame?;
                let rows = frame.height();
                let block = table_from_block(path, frame, start, &columns, &defs, labels, &mut seen)?;
                start += rows;
                match &mut table {
                    Some(t) => t.append(block),
                    None => {
                        let mut t = block;
                        t.reserve_exact(hint.saturating_sub(t.len()));
                        table = Some(t);
                    }
                }
            }
            table.ok_or_else(|| Error::EmptyTable { path: path.to_path_buf() })
        })
    }

    /// Whether the blocks carry snapshot dates.
    pub fn has_dates(&self) -> bool {
        self.columns.date.is_some()
    }

    /// The next block's rows as a frame, or None after the last.
    fn next_frame(&mut self) -> Result<Option<DataFrame>> {
        self.source.next_frame(&self.path, self.block_rows, self.next)
    }
}

impl Iterator for TableBlocks {
    type Item = Result<Table>;

    fn next(&mut self) -> Option<Result<Table>> {
        if self.done {
            return None;
        }
        let start = self.next;
        let block = match self.next_frame() {
            Ok(None) => {
                self.done = true;
                return None;
            }
            Ok(Some(df)) => {
                self.next += df.height();
                table_from_block(&self.path, df, start, &self.columns, &self.defs, self.labels, &mut self.seen)
            }
            Err(e) => Err(e),
        };
        // Nothing after an error: the caller stops there.
        self.done = block.is_err();
        Some(block)
    }
}
