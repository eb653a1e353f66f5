//! Exact TreeSHAP for tree ensembles: the polynomial-time algorithm of Lundberg,
//! Erion & Lee, "Consistent individualized feature attribution for tree
//! ensembles" (2018), Algorithm 2, in its **path-dependent** form: the value of
//! a feature subset S is E[f(x) | x_S], with the expectation over the training
//! rows that reached each node (the node covers), as in shap's
//! `TreeExplainer(feature_perturbation="tree_path_dependent")`.
//!
//! For every row, base + Σ φ = the model's margin, where the base is the
//! cover-weighted mean leaf value of each tree, summed over trees.
//!
//! Speed: a leaf's contribution to φ depends on the row only through which of
//! the (at most D) distinct features on the leaf's path the row agrees with
//! (the "one fractions"); the cover ratios are fixed. [`PreparedTree`]
//! precomputes, per leaf, the contributions for all 2^d agreement patterns with
//! Algorithm 2's path weights (the idea of Fast TreeSHAP v2, Yang 2021), so
//! explaining a row costs O(L·D) per tree instead of O(L·D²) and no recursion.
//! Small subtrees (up to [`MAX_UNIT_BITS`] pattern bits: upper-path features
//! plus the subtree's splits) share one table holding the sum of their
//! leaves' contributions, which cuts lookups and additions per row further.
//! Trees deeper than [`MAX_PREPARED_DEPTH`] use the recursive algorithm.
//!
//! Rows are explained a block at a time, column by column
//! ([`PreparedTree::shap_columns`]): values are coded as byte ranks among each
//! column's split thresholds ([`PreparedModel`]), each tree's splits are
//! decided for the whole block with byte compares, each table's pattern per
//! row is built from them (in bytes when the tree's tables have at most 8
//! bits, as at depth 6), and the table's values are gathered per row and
//! added into each feature's column. The loops are
//! compiled for AVX-512, AVX2 and the SSE2 baseline and chosen at run time;
//! every variant adds the same values in the same order as a row at a time.

mod block;
mod coding;
mod path;
mod tables;

use crate::model::gbdt::{GbdtModel, Tree};
pub use block::{Columns, ShapScratch};
pub use coding::{PreparedModel, MAX_CUTS, MISSING_CODE};
use path::{buffer_len, depth, extend, tree_shap_with, unwound_sum, PathElement};
pub use path::{expected_value, tree_shap};
pub use tables::{PreparedTree, MAX_PREPARED_DEPTH, MAX_UNIT_BITS};

/// A boosted model with its TreeSHAP tables ([`PreparedModel`]), built once
/// from the model and then used for every block of rows it explains. The
/// model stays plain data; the tables, derived from it, are this type's.
#[derive(Debug)]
pub struct TreeExplainer<'m> {
    /// The model explained.
    pub model: &'m GbdtModel,
    /// Its trees prepared for fast TreeSHAP.
    pub tables: PreparedModel,
}

impl<'m> TreeExplainer<'m> {
    /// Builds the tables of every tree of `model`.
    pub fn new(model: &'m GbdtModel) -> TreeExplainer<'m> {
        TreeExplainer {
            model,
            tables: PreparedModel::new(&model.trees),
        }
    }

    /// SHAP values of a block of rows (row-major, `ncols` each, and so is the
    /// result): [`TreeExplainer::shap_block_columns`], turned back row by row.
    ///
    /// ```
    /// use healthscore::explain::treeshap::{expected_margin, TreeExplainer};
    /// use healthscore::model::gbdt::{fit, GbdtParams};
    /// let x = ndarray::array![[1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [4.0, 1.0], [5.0, 0.0], [6.0, 1.0]];
    /// let y = [0, 0, 0, 1, 1, 1];
    /// let params = GbdtParams { min_samples_leaf: 1, ..Default::default() };
    /// let m = fit(&x.view(), &y, &[0, 1, 2, 3, 4, 5], &[], Some(5), params)?;
    /// let phi = TreeExplainer::new(&m).shap_block(x.as_slice().unwrap(), 2);
    /// // Base + the row's contributions = the row's margin.
    /// let margins = m.margins(&x.view());
    /// for (row, margin) in phi.chunks(2).zip(&margins) {
    ///     assert!((expected_margin(&m) + row[0] + row[1] - margin).abs() < 1e-9);
    /// }
    /// # Ok::<(), healthscore::Error>(())
    /// ```
    pub fn shap_block(&self, block: &[f64], ncols: usize) -> Vec<f64> {
        let nrows = block.len() / ncols.max(1);
        let phi = self.shap_block_columns(block, ncols);
        let mut out = vec![0.0; phi.len()];
        for (r, row) in out.chunks_exact_mut(ncols.max(1)).enumerate() {
            for (c, v) in row.iter_mut().enumerate() {
                *v = phi[c * nrows + r];
            }
        }
        out
    }

    /// SHAP values of a block of rows (row-major, `ncols` each), column-major:
    /// column c's values for the block's rows are `result[c * rows..(c + 1) * rows]`.
    /// Tree by tree, so that each tree's tables stay in cache while the block
    /// passes through; the block is coded column-major
    /// ([`PreparedModel::code_block`]) for [`PreparedTree::shap_columns`].
    ///
    /// ```
    /// use healthscore::explain::treeshap::TreeExplainer;
    /// use healthscore::model::gbdt::{fit, GbdtParams};
    /// let x = ndarray::array![[1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [4.0, 1.0]];
    /// let params = GbdtParams { min_samples_leaf: 1, ..Default::default() };
    /// let m = fit(&x.view(), &[0, 0, 1, 1], &[0, 1, 2, 3], &[], Some(3), params)?;
    /// let explainer = TreeExplainer::new(&m);
    /// let columns = explainer.shap_block_columns(x.as_slice().unwrap(), 2);
    /// let rows = explainer.shap_block(x.as_slice().unwrap(), 2);
    /// // Row r, column c of the row-major result is columns[c * 4 + r].
    /// assert_eq!(rows[2 * 2 + 1], columns[4 + 2]);
    /// # Ok::<(), healthscore::Error>(())
    /// ```
    pub fn shap_block_columns(&self, block: &[f64], ncols: usize) -> Vec<f64> {
        let nrows = block.len() / ncols.max(1);
        // Codes when the model has them; otherwise the values, column-major.
        let (mut codes, mut values) = (vec![], vec![]);
        let prepared = &self.tables;
        let columns = if prepared.coded() {
            prepared.code_block(block, ncols, &mut codes);
            Columns::Coded(&codes)
        } else {
            values.resize(block.len(), 0.0);
            for (r, row) in block.chunks_exact(ncols.max(1)).enumerate() {
                for (c, &v) in row.iter().enumerate() {
                    values[c * nrows + r] = v;
                }
            }
            Columns::Values(&values)
        };
        let mut phi = vec![0.0; block.len()];
        let mut scratch = ShapScratch::default();
        let (mut out, mut buf) = (vec![0.0; ncols], vec![]);
        for (t, p) in self.model.trees.iter().zip(&prepared.trees) {
            match p {
                Some(p) => p.shap_columns(columns, nrows, &mut phi, &mut scratch),
                None => {
                    // Too deep for tables: row by row, recursively.
                    buf.resize(buffer_len(depth(t)), PathElement::default());
                    for (r, row) in block.chunks_exact(ncols.max(1)).enumerate() {
                        for (c, o) in out.iter_mut().enumerate() {
                            *o = phi[c * nrows + r];
                        }
                        tree_shap_with(t, row, &mut out, &mut buf);
                        for (c, o) in out.iter().enumerate() {
                            phi[c * nrows + r] = *o;
                        }
                    }
                }
            }
        }
        phi
    }

    /// SHAP values of one row with the tables.
    pub fn shap_row(&self, x: &[f64]) -> Vec<f64> {
        self.shap_block(x, x.len())
    }
}

/// The SHAP base value of an ensemble: base score + Σ trees' expected values.
pub fn expected_margin(m: &GbdtModel) -> f64 {
    m.base + m.trees.iter().map(expected_value).sum::<f64>()
}

/// SHAP values of one row, one per column of the tree matrix, by the
/// recursive algorithm on each tree (the reference the tables must match).
pub fn shap_row(m: &GbdtModel, x: &[f64]) -> Vec<f64> {
    let mut phi = vec![0.0; x.len()];
    let max_depth = m.trees.iter().map(depth).max().unwrap_or(0);
    let mut buf = vec![PathElement::default(); buffer_len(max_depth)];
    for t in &m.trees {
        tree_shap_with(t, x, &mut phi, &mut buf);
    }
    phi
}

#[cfg(test)]
mod tests {
    use super::coding::rank;
    use super::*;
    use crate::model::gbdt::Node;

    fn leaf(value: f64, cover: f64) -> Node {
        Node {
            feature: 0,
            threshold: 0.0,
            missing_left: false,
            left: 0,
            right: 0,
            value,
            cover,
        }
    }

    fn split(feature: u32, threshold: f64, left: u32, right: u32, cover: f64) -> Node {
        Node {
            feature,
            threshold,
            missing_left: true,
            left,
            right,
            value: 0.0,
            cover,
        }
    }

    /// E[f(x) | x_S] by the path-dependent rule: follow x where the feature is in S,
    /// otherwise average the children by cover.
    fn cond_expectation(t: &Tree, x: &[f64], s: u32, j: usize) -> f64 {
        let n = &t.nodes[j];
        if n.is_leaf() {
            return n.value;
        }
        if s & (1 << n.feature) != 0 {
            let v = x[n.feature as usize];
            let left = if v.is_nan() { n.missing_left } else { v <= n.threshold };
            cond_expectation(t, x, s, if left { n.left } else { n.right } as usize)
        } else {
            let (l, r) = (&t.nodes[n.left as usize], &t.nodes[n.right as usize]);
            (l.cover * cond_expectation(t, x, s, n.left as usize) + r.cover * cond_expectation(t, x, s, n.right as usize)) / n.cover
        }
    }

    fn brute_force(t: &Tree, x: &[f64]) -> Vec<f64> {
        let m = x.len();
        let fact = |k: usize| (1..=k).map(|i| i as f64).product::<f64>();
        (0..m)
            .map(|i| {
                let mut phi = 0.0;
                for s in 0u32..(1 << m) {
                    if s & (1 << i) != 0 {
                        continue;
                    }
                    let k = s.count_ones() as usize;
                    let w = fact(k) * fact(m - k - 1) / fact(m);
                    phi += w * (cond_expectation(t, x, s | (1 << i), 0) - cond_expectation(t, x, s, 0));
                }
                phi
            })
            .collect()
    }

    fn sample_tree() -> Tree {
        // Depth 3, feature 0 used twice on one path, feature 2 with missing values.
        Tree {
            nodes: vec![
                split(0, 0.5, 1, 2, 100.0),
                split(1, 0.0, 3, 4, 60.0),
                split(2, 1.0, 5, 6, 40.0),
                split(0, 0.2, 7, 8, 25.0),
                leaf(0.4, 35.0),
                leaf(-0.7, 10.0),
                leaf(1.3, 30.0),
                leaf(-0.2, 5.0),
                leaf(0.9, 20.0),
            ],
        }
    }

    #[test]
    fn equals_brute_force_shapley_values() {
        let t = sample_tree();
        for x in [
            [0.1, -1.0, 2.0],
            [0.3, -0.5, f64::NAN],
            [0.9, 0.5, 0.5],
            [0.9, 1.0, 3.0],
            [0.0, 0.0, 1.0],
        ] {
            let mut phi = vec![0.0; 3];
            tree_shap(&t, &x, &mut phi);
            let bf = brute_force(&t, &x);
            for (a, b) in phi.iter().zip(&bf) {
                assert!((a - b).abs() < 1e-12, "{phi:?} vs {bf:?} at {x:?}");
            }
            let total = expected_value(&t) + phi.iter().sum::<f64>();
            assert!((total - t.predict(&x)).abs() < 1e-12);
            let mut fast = vec![0.0; 3];
            PreparedTree::new(&t).unwrap().shap(&x, &mut fast);
            for (a, b) in fast.iter().zip(&bf) {
                assert!((a - b).abs() < 1e-12, "prepared {fast:?} vs {bf:?} at {x:?}");
            }
        }
    }

    #[test]
    fn prepared_equals_recursive_on_a_fitted_ensemble() {
        // Depth 6: one word of decision bits; depth 8: several.
        for depth in [6, 8] {
            prepared_equals_recursive(depth);
        }
    }

    fn prepared_equals_recursive(max_depth: usize) {
        use crate::model::gbdt::{fit, GbdtParams};
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let n = 3000;
        let x = ndarray::Array2::from_shape_fn((n, 5), |(_, j)| {
            if j == 4 && rng.gen::<f64>() < 0.1 {
                f64::NAN
            } else {
                rng.gen_range(-1.0..1.0)
            }
        });
        let y: Vec<u8> = (0..n)
            .map(|i| (x[[i, 0]] * x[[i, 1]] + 0.5 * x[[i, 2]] > rng.gen_range(-0.5..0.5)) as u8)
            .collect();
        let rows: Vec<usize> = (0..n).collect();
        let m = fit(
            &x.view(),
            &y,
            &rows,
            &[],
            Some(40),
            GbdtParams {
                max_depth,
                min_samples_leaf: 5,
                ..Default::default()
            },
        )
        .unwrap();
        let prepared = TreeExplainer::new(&m);
        // Subtrees were folded into units somewhere, so the unit tables are exercised too.
        assert!(prepared.tables.trees.iter().flatten().any(|p| p.merged_leaves() > 0));
        assert!(prepared.tables.coded());
        for (t, p) in m.trees.iter().zip(&prepared.tables.trees) {
            let p = p.as_ref().unwrap();
            let leaves = t.nodes.iter().filter(|n| n.is_leaf()).count();
            assert_eq!(p.tables() + p.merged_leaves(), leaves);
            assert_eq!(p.splits(), t.nodes.len() - leaves);
            // Each table adds a value for each feature on its paths: at least one, at most the splits below the root.
            assert!(p.values_per_row() >= p.tables() && p.values_per_row() <= p.tables() * (max_depth + 1));
        }
        // A block of 200 rows, coded, against each row alone and the recursion.
        let block: Vec<f64> = x.slice(ndarray::s![0..200, ..]).iter().copied().collect();
        let phi = prepared.shap_block(&block, 5);
        let mut max_err: f64 = 0.0;
        for r in 0..200 {
            let row: Vec<f64> = x.row(r).to_vec();
            let a = shap_row(&m, &row);
            let b = prepared.shap_row(&row);
            // Row by row or in a block, the same additions in the same order.
            assert_eq!(b, phi[r * 5..(r + 1) * 5], "row {r}");
            for (u, v) in a.iter().zip(&b) {
                max_err = max_err.max((u - v).abs());
            }
            let total = expected_margin(&m) + b.iter().sum::<f64>();
            assert!((total - m.margin_row(&row)).abs() < 1e-9);
        }
        assert!(max_err < 1e-12, "{max_err}");
    }

    /// Trees too deep for tables are walked recursively inside a block, between
    /// prepared ones, and the block still matches each row's recursion.
    #[test]
    fn deep_trees_mix_with_prepared_ones_in_a_block() {
        // A chain of MAX_PREPARED_DEPTH + 2 splits (alternating features, the
        // last two levels on feature 2) between two copies of the sample tree.
        let depth = MAX_PREPARED_DEPTH + 2;
        let mut nodes = vec![];
        let mut cover = 1000.0;
        for k in 0..depth {
            let next = nodes.len() as u32 + 2;
            let f = if k + 2 >= depth { 2 } else { (k % 2) as u32 };
            nodes.push(split(f, -0.9 + 0.15 * k as f64, next - 1, next, cover));
            nodes.push(leaf(0.1 * (k as f64 - 4.0), cover * 0.3));
            cover *= 0.7;
        }
        nodes.push(leaf(0.8, cover));
        let chain = Tree { nodes };
        let m = crate::model::gbdt::GbdtModel {
            base: -0.2,
            trees: vec![sample_tree(), chain, sample_tree()],
            learning_rate: 0.1,
            max_depth: depth,
        };
        let prepared = TreeExplainer::new(&m);
        assert!(prepared.tables.trees[1].is_none(), "the chain is deeper than the tables allow");
        assert!(prepared.tables.trees[0].is_some() && prepared.tables.coded());
        let rows: Vec<[f64; 3]> = (0..90)
            .map(|r| {
                let v = r as f64 / 45.0 - 1.0;
                [v, if r % 11 == 0 { f64::NAN } else { -v }, (r % 7) as f64 / 3.0 - 1.0]
            })
            .collect();
        let block: Vec<f64> = rows.iter().flatten().copied().collect();
        let phi = prepared.shap_block(&block, 3);
        for (r, row) in rows.iter().enumerate() {
            let a = shap_row(&m, row);
            let b = &phi[r * 3..(r + 1) * 3];
            for (u, v) in a.iter().zip(b) {
                assert!((u - v).abs() < 1e-12, "row {r}: {a:?} vs {b:?}");
            }
            assert!((expected_margin(&m) + b.iter().sum::<f64>() - m.margin_row(row)).abs() < 1e-9);
        }
    }

    #[test]
    fn leaves_of_more_than_eight_features_use_wide_patterns() {
        // A chain of MAX_PREPARED_DEPTH splits, each on its own feature: the
        // deepest leaves' tables have 10 pattern bits (16-bit patterns), the
        // shallow ones fewer; a block mixes rows that reach every leaf.
        let depth = MAX_PREPARED_DEPTH;
        let mut nodes = vec![];
        let mut cover = 1000.0;
        for k in 0..depth {
            let next = nodes.len() as u32 + 2;
            nodes.push(split(k as u32, 0.5, next, next - 1, cover));
            nodes.push(leaf(0.1 * (k as f64 - 4.0), cover * 0.4));
            cover *= 0.6;
        }
        nodes.push(leaf(0.8, cover));
        let chain = Tree { nodes };
        let prepared = PreparedTree::new(&chain).expect("not deeper than the tables allow");
        assert!(prepared.heads.iter().any(|h| h.bits > 8), "some table needs 16-bit patterns");
        let m = crate::model::gbdt::GbdtModel {
            base: 0.3,
            trees: vec![chain, sample_tree()],
            learning_rate: 0.1,
            max_depth: depth,
        };
        let model = TreeExplainer::new(&m);
        let ncols = depth;
        // Row r goes left (x <= 0.5, or missing) at the first r % 11 splits,
        // then right: it ends at the leaf under split r % 11, or at the chain's end.
        let rows: Vec<Vec<f64>> = (0..70)
            .map(|r| {
                (0..ncols)
                    .map(|k| {
                        if k >= r % 11 {
                            0.9
                        } else if r % 5 == k {
                            f64::NAN
                        } else {
                            0.1 * (r % 4) as f64
                        }
                    })
                    .collect()
            })
            .collect();
        let block: Vec<f64> = rows.iter().flatten().copied().collect();
        let phi = model.shap_block(&block, ncols);
        for (r, row) in rows.iter().enumerate() {
            let a = shap_row(&m, row);
            let b = &phi[r * ncols..(r + 1) * ncols];
            for (u, v) in a.iter().zip(b) {
                assert!((u - v).abs() < 1e-12, "row {r}: {a:?} vs {b:?}");
            }
        }
    }

    /// Codes order values as the values are ordered against every cut, with
    /// ties, signed zeros, infinities and NaN.
    #[test]
    fn codes_compare_as_the_values_do() {
        let cuts = [-1.5, 0.0, 0.25, 3.0];
        let trees: Vec<Tree> = cuts
            .iter()
            .map(|&t| Tree {
                nodes: vec![split(0, t, 1, 2, 10.0), leaf(1.0, 4.0), leaf(-1.0, 6.0)],
            })
            .collect();
        let model = PreparedModel::new(&trees);
        assert!(model.coded());
        let values = [
            f64::NEG_INFINITY,
            -2.0,
            -1.5,
            -1.0,
            -0.0,
            0.0,
            0.1,
            0.25,
            2.0,
            3.0,
            4.0,
            f64::INFINITY,
        ];
        for v in values {
            for (t, tree) in cuts.iter().zip(&model.trees) {
                let code = tree.as_ref().unwrap().codes[0];
                assert_eq!(model.code(0, v) <= code, v <= *t, "{v} against {t}");
            }
            assert_ne!(model.code(0, v), MISSING_CODE);
        }
        assert_eq!(model.code(0, f64::NAN), MISSING_CODE);
    }

    /// The branch-free rank counts the cuts below a value as a binary search
    /// does, for every number of cuts up to the most, at, between and beyond
    /// them; and a block is coded value by value, column-major.
    #[test]
    fn ranks_and_block_codes_match_the_binary_search() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for n in [0, 1, 2, 3, 7, 100, 127, 128, 200, MAX_CUTS] {
            // n distinct cuts on a grid of eighths, so that values fall on them.
            let mut cuts: Vec<f64> = vec![];
            while cuts.len() < n {
                cuts.push((rng.gen_range(-50.0f64..50.0) * 8.0).round() / 8.0);
                cuts.sort_by(f64::total_cmp);
                cuts.dedup();
            }
            let mut slots = [f64::INFINITY; MAX_CUTS + 1];
            slots[..cuts.len()].copy_from_slice(&cuts);
            let mut values = vec![f64::NEG_INFINITY, f64::INFINITY, -0.0, 0.0, f64::MAX, f64::MIN];
            for &c in &cuts {
                values.extend([c, c.next_down(), c.next_up()]);
            }
            values.extend((0..200).map(|_| rng.gen_range(-60.0..60.0)));
            for v in values {
                assert_eq!(rank(&slots, v) as usize, cuts.partition_point(|t| *t < v), "{n} cuts, {v}");
            }
        }
        let trees: Vec<Tree> = [(0, -1.0), (0, 0.5), (1, 2.0), (2, 0.0)]
            .iter()
            .map(|&(f, t)| Tree {
                nodes: vec![split(f, t, 1, 2, 10.0), leaf(1.0, 4.0), leaf(-1.0, 6.0)],
            })
            .collect();
        let model = PreparedModel::new(&trees);
        let (rows, ncols) = (37, 3);
        let block: Vec<f64> = (0..rows * ncols)
            .map(|i| if i % 11 == 0 { f64::NAN } else { rng.gen_range(-3.0..3.0) })
            .collect();
        let mut codes = vec![9; 5];
        model.code_block(&block, ncols, &mut codes);
        assert_eq!(codes.len(), rows * ncols);
        for r in 0..rows {
            for c in 0..ncols {
                assert_eq!(codes[c * rows + r], model.code(c, block[r * ncols + c]), "row {r} column {c}");
            }
        }
        assert!(codes.contains(&MISSING_CODE) && codes.iter().any(|&c| c > 0 && c != MISSING_CODE));
    }

    /// A column with more distinct thresholds than a byte can rank: blocks
    /// compare the values themselves, with the same results.
    #[test]
    fn many_thresholds_fall_back_to_values() {
        let trees: Vec<Tree> = (0..MAX_CUTS + 1)
            .map(|i| Tree {
                nodes: vec![
                    split(0, i as f64 / 10.0, 1, 2, 10.0),
                    split(1, 0.5, 3, 4, 4.0),
                    leaf(-0.5, 6.0),
                    leaf(1.0, 3.0),
                    leaf(0.2, 1.0),
                ],
            })
            .collect();
        let m = crate::model::gbdt::GbdtModel {
            base: 0.1,
            trees,
            learning_rate: 0.1,
            max_depth: 2,
        };
        let prepared = TreeExplainer::new(&m);
        assert!(!prepared.tables.coded());
        let rows: Vec<[f64; 2]> = (0..60)
            .map(|r| [r as f64 / 2.0 - 1.0, if r % 7 == 0 { f64::NAN } else { (r % 3) as f64 / 2.0 }])
            .collect();
        let block: Vec<f64> = rows.iter().flatten().copied().collect();
        let phi = prepared.shap_block(&block, 2);
        for (r, row) in rows.iter().enumerate() {
            let a = shap_row(&m, row);
            for (u, v) in a.iter().zip(&phi[r * 2..(r + 1) * 2]) {
                assert!((u - v).abs() < 1e-12, "row {r}: {a:?} vs {:?}", &phi[r * 2..(r + 1) * 2]);
            }
        }
    }

    /// The variant compiled for this CPU's vector units adds exactly what the
    /// baseline code does.
    #[test]
    fn vector_variants_match_the_baseline() {
        use crate::model::gbdt::{fit, GbdtParams};
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let (n, p) = (700, 6);
        let x = ndarray::Array2::from_shape_fn((n, p), |_| {
            if rng.gen::<f64>() < 0.05 {
                f64::NAN
            } else {
                rng.gen_range(-1.0..1.0)
            }
        });
        let y: Vec<u8> = (0..n).map(|i| (x[[i, 0]] + x[[i, 1]] * x[[i, 2]] > 0.0) as u8).collect();
        let rows: Vec<usize> = (0..n).collect();
        let params = GbdtParams {
            max_depth: 6,
            min_samples_leaf: 3,
            ..Default::default()
        };
        let m = fit(&x.view(), &y, &rows, &[], Some(20), params).unwrap();
        let prepared = TreeExplainer::new(&m);
        // Column-major values and codes.
        let values: Vec<f64> = x.t().iter().copied().collect();
        let codes: Vec<u8> = (0..p)
            .flat_map(|c| x.column(c).iter().map(|&v| prepared.tables.code(c, v)).collect::<Vec<_>>())
            .collect();
        for columns in [Columns::Values(&values), Columns::Coded(&codes)] {
            let (mut fast, mut base) = (vec![0.0; n * p], vec![0.0; n * p]);
            let mut scratch = ShapScratch::default();
            for t in prepared.tables.trees.iter().flatten() {
                t.shap_columns(columns, n, &mut fast, &mut scratch);
                t.shap_columns_body(columns, n, &mut base, &mut scratch);
            }
            assert_eq!(fast, base);
            assert!(base.iter().any(|v| *v != 0.0));
        }
    }
}
