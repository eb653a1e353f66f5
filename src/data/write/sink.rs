//! An output file written block by block into a temporary file beside it and
//! moved into place when complete.

use super::*;

/// An output file written block by block into a temporary file beside it,
/// renamed into place by [`Sink::finish`]: a failed run leaves nothing behind.
///
/// ```
/// use healthscore::data::write::{OutColumn, OutTable, Sink};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("s.csv");
/// let mut sink = Sink::create(&path)?;
/// for part in [[1.0, 2.0], [3.0, 4.0]] {
///     let mut t = OutTable::default();
///     t.push("x", OutColumn::Num(part.to_vec()));
///     sink.write(t)?;
/// }
/// sink.finish()?;
/// assert_eq!(std::fs::read_to_string(&path)?, "x\n1\n2\n3\n4\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Sink {
    path: std::path::PathBuf,
    format: Format,
    file: std::io::BufWriter<std::fs::File>,
    tmp: tempfile::NamedTempFile,
    parquet: Option<ParquetOut<std::fs::File>>,
    blocks: usize,
}

impl Sink {
    /// Blocks written between syncs of the file's data.
    pub(super) const SYNC_BLOCKS: usize = 8;

    /// Opens a sink for `path`; the format comes from its extension.
    pub fn create(path: &Path) -> Result<Sink> {
        let format = Format::from_path(path)?;
        let tmp = crate::fsio::temp_beside(path)?;
        let file = std::io::BufWriter::new(tmp.reopen().map_err(|e| Error::io(path, e))?);
        Ok(Sink {
            path: path.to_path_buf(),
            format,
            file,
            tmp,
            parquet: None,
            blocks: 0,
        })
    }

    /// Writes a block of rows (every block has the same columns).
    pub fn write(&mut self, t: OutTable) -> Result<()> {
        use std::io::Write;
        let io = |e| Error::io(&self.path, e);
        match self.format {
            Format::Csv => self.file.write_all(&t.to_csv_part(self.blocks == 0)).map_err(io)?,
            Format::JsonLines => self.file.write_all(&t.to_jsonl()).map_err(io)?,
            Format::Parquet => {
                let parquet_err = |source: PolarsError| Error::Write {
                    path: self.path.clone(),
                    source,
                };
                if self.parquet.is_none() {
                    let f = self.tmp.reopen().map_err(|e| Error::io(&self.path, e))?;
                    self.parquet = Some(ParquetOut::new(f, &t).map_err(parquet_err)?);
                }
                self.parquet.as_mut().expect("opened").write(t).map_err(parquet_err)?;
            }
        }
        self.blocks += 1;
        // Written blocks go to disk as the run goes on, while other threads
        // compute, so that the final sync before the rename has little left.
        if self.blocks.is_multiple_of(Self::SYNC_BLOCKS) {
            self.tmp.as_file().sync_data().map_err(io)?;
        }
        Ok(())
    }

    /// Completes the file and renames it into place.
    pub fn finish(mut self) -> Result<()> {
        use std::io::Write;
        if let Some(w) = self.parquet.take() {
            w.finish().map_err(|source| Error::Write {
                path: self.path.clone(),
                source,
            })?;
        }
        self.file.flush().map_err(|e| Error::io(&self.path, e))?;
        drop(self.file);
        crate::fsio::persist(self.tmp, &self.path)
    }
}
