//! Quantile bins of a column and the bin codes of every row, row- and column-
//! major.

use super::*;

/// Quantile bins of one column: `upper[b]` is the largest value of bin b.
pub(super) struct Bins {
    pub(super) upper: Vec<f64>,
}

impl Bins {
    /// Every distinct value when there are at most `max_bins`, else
    /// `max_bins` quantiles; missing values (NaN) are left out.
    pub(super) fn fit(values: impl Iterator<Item = f64>, max_bins: usize) -> Bins {
        // Sized once and sorted in place (values equal under `total_cmp` are
        // the same bits, so the order is the stable sort's): a column's worth
        // of memory per thread while the columns are binned, not twice that.
        let mut all: Vec<f64> = Vec::with_capacity(values.size_hint().1.unwrap_or(0));
        all.extend(values.filter(|x| !x.is_nan()));
        all.sort_unstable_by(f64::total_cmp);
        let mut distinct = 0;
        for (i, x) in all.iter().enumerate() {
            if i == 0 || x.total_cmp(&all[i - 1]).is_ne() {
                distinct += 1;
                if distinct > max_bins {
                    break;
                }
            }
        }
        if distinct <= max_bins {
            all.dedup();
            all.shrink_to_fit();
            return Bins { upper: all };
        }
        let mut upper: Vec<f64> = (1..=max_bins).map(|b| all[(b * (all.len() - 1)) / max_bins]).collect();
        upper.dedup();
        Bins { upper }
    }

    /// Bin of a value; missing is `u8::MAX`.
    pub(super) fn bin(&self, x: f64) -> u8 {
        if x.is_nan() {
            return u8::MAX;
        }
        self.upper.partition_point(|u| *u < x).min(self.upper.len().saturating_sub(1)) as u8
    }
}

/// Bin codes, twice. Row-major: the codes of one row are contiguous, so a
/// histogram of every column is built in one pass over the node's rows.
/// Column-major: splitting a node or counting its rows reads one column of
/// its rows, many to a cache line where the row-major table has one (a
/// node's rows are scattered over the table). The second copy is worth its
/// memory in fit time (benches/RESULTS.md); the in-place row splits leave
/// room for it within twice the design's memory.
pub(super) struct Codes {
    pub(super) ncols: usize,
    pub(super) nrows: usize,
    /// Row-major.
    pub(super) data: Vec<u8>,
    /// Column-major.
    pub(super) columns: Vec<u8>,
}

impl Codes {
    /// Both tables from the column-major one, the row-major filled a block
    /// of rows at a time in parallel.
    pub(super) fn from_columns(ncols: usize, columns: Vec<u8>) -> Codes {
        let nrows = columns.len().checked_div(ncols).unwrap_or(0);
        let mut data = vec![0u8; nrows * ncols];
        const BLOCK: usize = 4096;
        if ncols > 0 {
            data.par_chunks_mut(ncols * BLOCK).enumerate().for_each(|(k, rows)| {
                for (j, column) in columns.chunks_exact(nrows).enumerate() {
                    for (i, row) in rows.chunks_exact_mut(ncols).enumerate() {
                        row[j] = column[k * BLOCK + i];
                    }
                }
            });
        }
        Codes {
            ncols,
            nrows,
            data,
            columns,
        }
    }

    pub(super) fn get(&self, r: usize, f: usize) -> u8 {
        self.data[r * self.ncols + f]
    }

    /// The codes of column `f`, one per row.
    pub(super) fn column(&self, f: usize) -> &[u8] {
        &self.columns[f * self.nrows..(f + 1) * self.nrows]
    }
}
