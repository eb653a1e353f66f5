//! Parquet blocks: row ranges decoded by polars' reader, only the columns the
//! spec names.

use std::path::Path;

use polars::prelude::*;

use crate::error::{Error, Result};

/// A Parquet file, decoded a block at a time.
pub(super) struct ParquetSource {
    pub(super) metadata: polars::io::parquet::metadata::FileMetadataRef,
    /// The file's columns that the spec names (others are never decoded).
    pub(super) columns: Vec<String>,
    pub(super) rows: usize,
    /// First row of each row group, then the row count.
    pub(super) group_starts: Vec<usize>,
    /// Rows decoded ahead of the block asked for: its first row and the frame.
    pub(super) window: Option<(usize, DataFrame)>,
}

impl ParquetSource {
    /// Most blocks decoded at once. A page of a column (about a megabyte) is
    /// decompressed whole for any slice of it: one slice per block of 32,768
    /// rows decompressed each page three to four times. Decoding the 1M-row
    /// bench file took 0.69 CPU-seconds by blocks, 0.48 by pairs of blocks and
    /// 0.39 by four; two keep most of the gain for half the extra memory.
    const WINDOW_BLOCKS: usize = 2;

    /// Rows `start..start + len`, cut from a window of up to
    /// [`ParquetSource::WINDOW_BLOCKS`] × `len` rows that ends within the row
    /// group of `start` (a page never spans row groups).
    pub(super) fn read(&mut self, path: &Path, start: usize, len: usize) -> Result<DataFrame> {
        let in_window = |w: &(usize, DataFrame)| start >= w.0 && start + len <= w.0 + w.1.height();
        if !self.window.as_ref().is_some_and(in_window) {
            let group_end = self.group_starts.iter().copied().find(|&g| g > start).unwrap_or(self.rows);
            let end = (start + len * Self::WINDOW_BLOCKS).min(group_end).max(start + len).min(self.rows);
            // The old window is dropped before the new one is decoded.
            self.window = None;
            self.window = Some((start, self.decode(path, start, end - start)?));
        }
        let (first, frame) = self.window.as_ref().expect("a window holds the block");
        Ok(frame.slice((start - first) as i64, len))
    }

    /// Decodes rows `start..start + len` of the named columns.
    pub(super) fn decode(&self, path: &Path, start: usize, len: usize) -> Result<DataFrame> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut reader = ParquetReader::new(file)
            .with_slice(Some((start, len)))
            .with_columns(Some(self.columns.clone()));
        reader.set_metadata(self.metadata.clone());
        reader.finish().map_err(|e| Error::Table {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }
}
