//! Explaining a block of rows column by column with the tables: the splits
//! decided on bytes, each table's pattern per row, its values added per
//! feature; compiled for AVX-512, AVX2 and SSE2 and chosen at run time.

use super::*;

impl PreparedTree {
    /// Adds the SHAP values of the tree for row `x` to `phi`.
    pub fn shap(&self, x: &[f64], phi: &mut [f64]) {
        // One row is its own column-major block.
        self.shap_columns(Columns::Values(x), 1, phi, &mut ShapScratch::default());
    }

    /// Adds the SHAP values of the tree for a block of `rows` rows to `phi`.
    /// `x` and `phi` are column-major: column c of the block is
    /// `x[c * rows..(c + 1) * rows]`.
    ///
    /// # Panics
    ///
    /// With [`Columns::Coded`] on a tree whose splits no coded
    /// [`PreparedModel`] has ranked (one made by [`PreparedTree::new`] alone).
    ///
    /// Work goes column by column over the block, so that each step is one
    /// simple pass over contiguous memory: the split decisions of all rows,
    /// then for each table its pattern per row and its values added to each
    /// feature's column. The sums per row are added in the same order as one
    /// row at a time would (tree by tree, table by table).
    pub fn shap_columns(&self, x: Columns, rows: usize, phi: &mut [f64], scratch: &mut ShapScratch) {
        // The same code compiled for wider vectors where the CPU has them
        // (gathers of table values, byte compares); every variant adds the
        // same values in the same order.
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx512f") && has!("avx512bw") && has!("avx512vl") {
                // SAFETY: the CPU has these features, checked just above.
                return unsafe { self.shap_columns_avx512(x, rows, phi, scratch) };
            }
            if has!("avx2") {
                // SAFETY: as above.
                return unsafe { self.shap_columns_avx2(x, rows, phi, scratch) };
            }
        }
        self.shap_columns_body(x, rows, phi, scratch)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2")]
    pub(super) unsafe fn shap_columns_avx512(&self, x: Columns, rows: usize, phi: &mut [f64], scratch: &mut ShapScratch) {
        self.shap_columns_body(x, rows, phi, scratch)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn shap_columns_avx2(&self, x: Columns, rows: usize, phi: &mut [f64], scratch: &mut ShapScratch) {
        self.shap_columns_body(x, rows, phi, scratch)
    }

    /// The body of [`PreparedTree::shap_columns`], inlined into each variant.
    #[inline(always)]
    pub(super) fn shap_columns_body(&self, x: Columns, rows: usize, phi: &mut [f64], scratch: &mut ShapScratch) {
        let ShapScratch {
            decisions,
            patterns,
            patterns8,
        } = scratch;
        // decisions[s * rows + r] = 1 when row r goes left at split s.
        // Every flag is written below, so the buffer only grows, never cleared.
        let flags_len = self.thresholds.len() * rows;
        if decisions.len() < flags_len {
            decisions.resize(flags_len, 0);
        }
        let decisions = &mut decisions[..flags_len];
        let splits = self.split_features.iter().zip(&self.missing_left);
        let per_split = decisions.chunks_exact_mut(rows.max(1)).zip(splits);
        match x {
            Columns::Coded(codes) if self.codes.len() == self.thresholds.len() => {
                // Ranks compare as the values do; a missing value is coded
                // MISSING_CODE, above every split's code.
                for ((flags, (&f, &ml)), &t) in per_split.zip(&self.codes) {
                    let column = &codes[f as usize * rows..][..rows];
                    for (d, &c) in flags.iter_mut().zip(column) {
                        *d = (c <= t) as u8 | ((c == MISSING_CODE) as u8 & ml);
                    }
                }
            }
            Columns::Coded(_) => panic!("the tree's splits are not coded for this model"),
            Columns::Values(x) => {
                // NaN compares false, so a missing value goes where `missing_left` says.
                for ((flags, (&f, &ml)), &t) in per_split.zip(&self.thresholds) {
                    let column = &x[f as usize * rows..][..rows];
                    for (d, &v) in flags.iter_mut().zip(column) {
                        *d = (v <= t) as u8 | (v.is_nan() as u8 & ml);
                    }
                }
            }
        }
        // Patterns of at most 8 bits (every table of a tree of depth 8 or
        // less, and of units) are built in bytes: twice the rows per instruction.
        if self.heads.iter().all(|h| h.bits <= 8) {
            patterns8.resize(rows, 0);
            self.add_tables(decisions, &mut patterns8[..rows], rows, phi);
        } else {
            patterns.resize(rows, 0);
            self.add_tables(decisions, &mut patterns[..rows], rows, phi);
        }
    }

    /// Adds each table's values into `phi` (see [`PreparedTree::shap_columns`]),
    /// with the block's split decisions already made.
    #[inline(always)]
    pub(super) fn add_tables<P: Pattern>(&self, decisions: &[u8], pattern: &mut [P], rows: usize, phi: &mut [f64]) {
        let mut start = 0;
        for h in &self.heads {
            // The unit's pattern per row: one agreement bit per upper feature
            // (cleared where the row goes the other way at one of its splits),
            // then one bit per split of its subtree (set = the row went left).
            let upper = h.bits - h.sub_len;
            pattern.fill(P::low_bits(upper));
            for &c in &self.conds[start..h.cond_end as usize] {
                let flags = &decisions[(c >> 8) as usize * rows..][..rows];
                let (left, bit) = (((c >> 7) & 1) as u8, c & 0x7f);
                for (o, &d) in pattern.iter_mut().zip(flags) {
                    *o &= !(P::from(d ^ left) << bit);
                }
            }
            start = h.cond_end as usize;
            for i in 0..h.sub_len {
                let flags = &decisions[(h.sub_start as usize + i as usize) * rows..][..rows];
                let bit = u32::from(upper + i);
                for (o, &d) in pattern.iter_mut().zip(flags) {
                    *o |= P::from(d) << bit;
                }
            }
            // Each feature's values, one table column per feature: `n` patterns.
            let n = 1usize << h.bits;
            let d = h.d as usize;
            let table = &self.table[h.table_start as usize..][..n * d];
            let feats = &self.feats[h.feat_start as usize..][..d];
            debug_assert!(pattern.iter().all(|&o| o.into() < n));
            // Two features per pass over the rows: each pattern is read once
            // for both (on AVX2 without fast gathers, 8–9% less CPU per run).
            let pairs = d / 2 * 2;
            add_columns::<2, P>(&table[..pairs * n], &feats[..pairs], pattern, n, rows, phi);
            add_columns::<1, P>(&table[pairs * n..], &feats[pairs..], pattern, n, rows, phi);
        }
    }
}

/// Adds table columns `table` (one of `n` values per feature in `feats`,
/// `K` features per pass over the rows) into `phi` at each row's pattern.
#[inline(always)]
pub(super) fn add_columns<const K: usize, P: Pattern>(table: &[f64], feats: &[u32], pattern: &[P], n: usize, rows: usize, phi: &mut [f64]) {
    assert_eq!(pattern.len(), rows);
    for (values, f) in table.chunks_exact(K * n).zip(feats.chunks_exact(K)) {
        let cols: [usize; K] = std::array::from_fn(|k| f[k] as usize);
        // A table's features are distinct, so are their columns of `phi`.
        for (k, &c) in cols.iter().enumerate() {
            assert!(c < phi.len() / rows.max(1) && !cols[..k].contains(&c));
        }
        let base = phi.as_mut_ptr();
        for (r, &o) in pattern.iter().enumerate() {
            let o = o.into();
            for (k, &c) in cols.iter().enumerate() {
                // SAFETY: the columns are distinct columns of `phi` (asserted
                // above) and r < rows, so each write is in bounds and its own;
                // a pattern has `bits` bits, so o < 2^bits = n.
                unsafe { *base.add(c * rows + r) += *values.get_unchecked(k * n + o) };
            }
        }
    }
}

/// The integer a table's pattern per row is built in: `u8` for tables of at
/// most 8 bits, `u16` for the deeper leaves.
pub(super) trait Pattern:
    Copy
    + From<u8>
    + Into<usize>
    + std::ops::BitAndAssign
    + std::ops::BitOrAssign
    + std::ops::Not<Output = Self>
    + std::ops::Shl<u32, Output = Self>
{
    /// The pattern with its low `n` bits set.
    fn low_bits(n: u8) -> Self;
}

impl Pattern for u8 {
    fn low_bits(n: u8) -> u8 {
        ((1u16 << n) - 1) as u8
    }
}

impl Pattern for u16 {
    fn low_bits(n: u8) -> u16 {
        (1u16 << n) - 1
    }
}

/// A column-major block of rows as [`PreparedTree::shap_columns`] reads it.
#[derive(Debug, Clone, Copy)]
pub enum Columns<'a> {
    /// The values themselves.
    Values(&'a [f64]),
    /// Each value's rank among its column's cuts ([`PreparedModel::code`]).
    Coded(&'a [u8]),
}

/// Reusable buffers for [`PreparedTree::shap_columns`].
#[derive(Debug, Clone, Default)]
pub struct ShapScratch {
    pub(super) decisions: Vec<u8>,
    pub(super) patterns: Vec<u16>,
    pub(super) patterns8: Vec<u8>,
}
