//! Coding a block's values as byte ranks among each column's split thresholds,
//! so that the trees decide their splits on bytes.

use super::*;

/// The code of a missing value.
pub const MISSING_CODE: u8 = u8::MAX;

/// Most distinct thresholds per column for coded blocks: every rank and
/// [`MISSING_CODE`] fit in a byte. Trees fitted here have at most 254 (255 bins).
pub const MAX_CUTS: usize = MISSING_CODE as usize - 1;

/// A model's trees prepared for TreeSHAP, and each column's distinct split
/// thresholds (its cuts) across them.
///
/// A block of rows is first coded column by column: a value becomes the
/// number of cuts below it, so that `v <= t` exactly when `code(v) <= code(t)`.
/// Every tree then decides its splits on bytes, many rows per instruction,
/// instead of on floats.
#[derive(Debug, Clone)]
pub struct PreparedModel {
    /// None for a tree too deep to prepare (it is walked recursively).
    pub trees: Vec<Option<PreparedTree>>,
    /// Each column's sorted distinct thresholds, padded with +∞ to
    /// [`MAX_CUTS`] + 1 slots for the branch-free search of
    /// [`PreparedModel::code`]; empty when some column has more than
    /// [`MAX_CUTS`] (blocks then compare the values themselves).
    pub(super) slots: Vec<[f64; MAX_CUTS + 1]>,
}

impl PreparedModel {
    /// Prepares every tree and codes its splits against the columns' cuts.
    pub fn new(trees: &[Tree]) -> PreparedModel {
        use rayon::prelude::*;
        let mut trees: Vec<Option<PreparedTree>> = trees.par_iter().map(PreparedTree::new).collect();
        let columns = trees
            .iter()
            .flatten()
            .flat_map(|t| &t.split_features)
            .max()
            .map_or(0, |&f| f as usize + 1);
        let mut cuts = vec![vec![]; columns];
        for t in trees.iter().flatten() {
            for (&f, &v) in t.split_features.iter().zip(&t.thresholds) {
                cuts[f as usize].push(v);
            }
        }
        for c in &mut cuts {
            c.sort_by(f64::total_cmp);
            c.dedup();
        }
        if cuts.iter().any(|c| c.len() > MAX_CUTS) {
            cuts.clear();
        } else {
            for t in trees.iter_mut().flatten() {
                t.codes = t
                    .split_features
                    .iter()
                    .zip(&t.thresholds)
                    .map(|(&f, v)| cuts[f as usize].partition_point(|c| c < v) as u8)
                    .collect();
            }
        }
        let slots = cuts
            .iter()
            .map(|c| {
                let mut slots = [f64::INFINITY; MAX_CUTS + 1];
                slots[..c.len()].copy_from_slice(c);
                slots
            })
            .collect();
        PreparedModel { trees, slots }
    }

    /// Whether blocks are coded (every column has at most [`MAX_CUTS`] cuts).
    pub fn coded(&self) -> bool {
        !self.slots.is_empty()
    }

    /// The code of a value of column `c`: how many of its cuts are below it
    /// ([`MISSING_CODE`] for NaN). Only for a [`PreparedModel::coded`] model.
    pub fn code(&self, c: usize, v: f64) -> u8 {
        match self.slots.get(c) {
            _ if v.is_nan() => MISSING_CODE,
            Some(slots) => rank(slots, v),
            None => 0,
        }
    }

    /// Codes a row-major block of `ncols` columns ([`PreparedModel::code`]
    /// of each value) into `codes`, column-major: column c's codes are
    /// `codes[c * rows..(c + 1) * rows]`. Only for a [`PreparedModel::coded`] model.
    ///
    /// ```
    /// use healthscore::explain::treeshap::{PreparedModel, MISSING_CODE};
    /// use healthscore::model::gbdt::{Node, Tree};
    /// let leaf = |value| Node { feature: 0, threshold: 0.0, missing_left: false, left: 0, right: 0, value, cover: 5.0 };
    /// let split = Node { feature: 1, threshold: 0.5, missing_left: true, left: 1, right: 2, value: 0.0, cover: 10.0 };
    /// let model = PreparedModel::new(&[Tree { nodes: vec![split, leaf(1.0), leaf(-1.0)] }]);
    /// // Two rows of two columns; column 1 has the one cut 0.5.
    /// let mut codes = vec![];
    /// model.code_block(&[7.0, 0.2, 7.0, f64::NAN], 2, &mut codes);
    /// assert_eq!(codes, [0, 0, 0, MISSING_CODE]);
    /// ```
    pub fn code_block(&self, block: &[f64], ncols: usize, codes: &mut Vec<u8>) {
        let rows = block.len() / ncols.max(1);
        codes.clear();
        codes.resize(rows * ncols, 0);
        // Row by row: the block is read in order, and the 64-row stretch of
        // each column being written stays in L1.
        for (r, row) in block.chunks_exact(ncols.max(1)).enumerate() {
            for (c, &v) in row.iter().enumerate() {
                codes[c * rows + r] = self.code(c, v);
            }
        }
    }
}

/// How many of the (sorted, +∞-padded) slots are below `v`, as
/// `partition_point(|t| t < v)` counts them, in eight halvings without
/// branches: a value's rank among the cuts is as likely to be any of them,
/// so a branch on each comparison would be mispredicted half the time.
#[inline]
pub(super) fn rank(slots: &[f64; MAX_CUTS + 1], v: f64) -> u8 {
    let mut base = 0;
    let mut half = (MAX_CUTS + 2) / 2;
    while half > 0 {
        base += usize::from(slots[base + half - 1] < v) * half;
        half /= 2;
    }
    base as u8
}
