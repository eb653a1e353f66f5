//! The design matrix as the fitters and explainers read it: rows handed out a
//! chunk at a time, from a matrix in memory or computed from a table chunk by
//! chunk, so that no step has to hold the whole matrix. The ground of the
//! numeric layers: it knows nothing of tables, specs or models.

use ndarray::{ArrayView2, CowArray, Ix2};

/// The rows of a design matrix, handed out a chunk at a time: a matrix held in
/// memory, or rows computed from the table chunk by chunk
/// ([`crate::features::TableDesign`]), so that fitting never holds the whole
/// design matrix. Both give the same bits, so the same model.
pub trait DesignRows: Sync {
    /// Number of rows.
    fn nrows(&self) -> usize;
    /// Number of columns.
    fn ncols(&self) -> usize;
    /// Rows `rows` of the matrix.
    fn rows(&self, rows: std::ops::Range<usize>) -> CowArray<'_, f64, Ix2>;

    /// Column `j` of every row. By default gathered from chunks of rows;
    /// designs that can compute a column directly do so.
    fn column(&self, j: usize) -> Vec<f64> {
        gather_column(self, j)
    }
}

/// Rows per chunk when design rows are computed chunk by chunk.
pub const DESIGN_CHUNK: usize = 4096;

/// `f` of each chunk of [`DESIGN_CHUNK`] rows of `x`, chunks in parallel, the
/// results joined in row order: per-row results such as margins, computed
/// without holding the design whole.
///
/// ```
/// use healthscore::design::map_chunks;
/// let x = ndarray::Array2::from_shape_fn((10_000, 3), |(r, c)| (r * 3 + c) as f64);
/// let sums: Vec<f64> = map_chunks(&x.view(), |chunk| chunk.rows().into_iter().map(|r| r.sum()).collect());
/// assert_eq!(sums.len(), 10_000);
/// assert_eq!(sums[9_999], 29_997.0 + 29_998.0 + 29_999.0);
/// ```
pub fn map_chunks<T: Send>(x: &impl DesignRows, f: impl Fn(ArrayView2<f64>) -> Vec<T> + Sync) -> Vec<T> {
    use rayon::prelude::*;
    let n = x.nrows();
    let parts: Vec<Vec<T>> = (0..n.div_ceil(DESIGN_CHUNK))
        .into_par_iter()
        .map(|c| f(x.rows(c * DESIGN_CHUNK..((c + 1) * DESIGN_CHUNK).min(n)).view()))
        .collect();
    parts.into_iter().flatten().collect()
}

/// Column `j` of a design, gathered from chunks of [`DESIGN_CHUNK`] rows.
pub fn gather_column(x: &(impl DesignRows + ?Sized), j: usize) -> Vec<f64> {
    let n = x.nrows();
    let mut out = Vec::with_capacity(n);
    for start in (0..n).step_by(DESIGN_CHUNK) {
        out.extend(x.rows(start..(start + DESIGN_CHUNK).min(n)).column(j));
    }
    out
}

impl DesignRows for ArrayView2<'_, f64> {
    fn nrows(&self) -> usize {
        ArrayView2::nrows(self)
    }
    fn ncols(&self) -> usize {
        ArrayView2::ncols(self)
    }
    fn rows(&self, rows: std::ops::Range<usize>) -> CowArray<'_, f64, Ix2> {
        CowArray::from(self.slice(ndarray::s![rows, ..]))
    }
    fn column(&self, j: usize) -> Vec<f64> {
        ndarray::ArrayBase::column(self, j).to_vec()
    }
}
