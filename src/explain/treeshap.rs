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

use crate::model::gbdt::{GbdtModel, Tree};

#[derive(Clone, Copy, Debug, Default)]
struct PathElement {
    feature: i64,
    zero: f64,
    one: f64,
    weight: f64,
}

// The path operations work in place on `path[0..=depth]` (depth = index of the
// element being added or the last element), as in shap's C++ implementation, so
// one preallocated buffer serves a whole tree.

fn extend(path: &mut [PathElement], depth: usize, zero: f64, one: f64, feature: i64) {
    path[depth] = PathElement {
        feature,
        zero,
        one,
        weight: if depth == 0 { 1.0 } else { 0.0 },
    };
    for i in (0..depth).rev() {
        path[i + 1].weight += one * path[i].weight * (i + 1) as f64 / (depth + 1) as f64;
        path[i].weight = zero * path[i].weight * (depth - i) as f64 / (depth + 1) as f64;
    }
}

fn unwind(path: &mut [PathElement], depth: usize, index: usize) {
    let (one, zero) = (path[index].one, path[index].zero);
    let mut next = path[depth].weight;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let tmp = path[i].weight;
            path[i].weight = next * (depth + 1) as f64 / ((i + 1) as f64 * one);
            next = tmp - path[i].weight * zero * (depth - i) as f64 / (depth + 1) as f64;
        } else {
            path[i].weight = path[i].weight * (depth + 1) as f64 / (zero * (depth - i) as f64);
        }
    }
    for i in index..depth {
        path[i].feature = path[i + 1].feature;
        path[i].zero = path[i + 1].zero;
        path[i].one = path[i + 1].one;
    }
}

fn unwound_sum(path: &[PathElement], depth: usize, index: usize) -> f64 {
    let (one, zero) = (path[index].one, path[index].zero);
    let mut total = 0.0;
    if one != 0.0 {
        let mut next = path[depth].weight;
        for i in (0..depth).rev() {
            let tmp = next / ((i + 1) as f64 * one);
            total += tmp;
            next = path[i].weight - tmp * zero * (depth - i) as f64;
        }
    } else if zero != 0.0 {
        for i in (0..depth).rev() {
            total += path[i].weight / (zero * (depth - i) as f64);
        }
    }
    total * (depth + 1) as f64
}

/// One row's traversal state: the tree, the row, the output and the path buffer.
struct Walk<'a> {
    tree: &'a Tree,
    x: &'a [f64],
    phi: &'a mut [f64],
    buf: &'a mut [PathElement],
}

impl Walk<'_> {
    /// `parent` is where the parent's path starts in the buffer; this node's path
    /// starts right after it (`parent + depth + 1`), a copy extended by one element.
    fn recurse(&mut self, node: usize, mut depth: usize, parent: usize, zero: f64, one: f64, feature: i64) {
        let start = parent + depth + 1;
        self.buf.copy_within(parent..parent + depth + 1, start);
        let path = &mut self.buf[start..];
        extend(path, depth, zero, one, feature);
        let n = &self.tree.nodes[node];
        if n.is_leaf() {
            for i in 1..=depth {
                let w = unwound_sum(path, depth, i);
                let e = path[i];
                self.phi[e.feature as usize] += w * (e.one - e.zero) * n.value;
            }
            return;
        }
        let v = self.x[n.feature as usize];
        let goes_left = if v.is_nan() { n.missing_left } else { v <= n.threshold };
        let (hot, cold) = if goes_left {
            (n.left as usize, n.right as usize)
        } else {
            (n.right as usize, n.left as usize)
        };
        let (mut iz, mut io) = (1.0, 1.0);
        if let Some(k) = path[..=depth].iter().position(|e| e.feature == n.feature as i64) {
            iz = path[k].zero;
            io = path[k].one;
            unwind(path, depth, k);
            depth -= 1;
        }
        let cover = n.cover;
        let (hc, cc) = (self.tree.nodes[hot].cover, self.tree.nodes[cold].cover);
        self.recurse(hot, depth + 1, start, iz * hc / cover, io, n.feature as i64);
        self.recurse(cold, depth + 1, start, iz * cc / cover, 0.0, n.feature as i64);
    }
}

/// The cover-weighted mean output of a tree (its SHAP base value).
pub fn expected_value(tree: &Tree) -> f64 {
    fn go(t: &Tree, j: usize) -> f64 {
        let n = &t.nodes[j];
        if n.is_leaf() {
            n.value
        } else {
            let (l, r) = (&t.nodes[n.left as usize], &t.nodes[n.right as usize]);
            (l.cover * go(t, n.left as usize) + r.cover * go(t, n.right as usize)) / n.cover
        }
    }
    go(tree, 0)
}

/// Path buffer length for trees up to `max_depth` deep.
fn buffer_len(max_depth: usize) -> usize {
    (max_depth + 2) * (max_depth + 3) / 2 + max_depth + 4
}

/// Depth of a tree (edges on the longest path).
fn depth(tree: &Tree) -> usize {
    fn go(t: &Tree, j: usize) -> usize {
        let n = &t.nodes[j];
        if n.is_leaf() {
            0
        } else {
            1 + go(t, n.left as usize).max(go(t, n.right as usize))
        }
    }
    go(tree, 0)
}

/// Adds the SHAP values of one tree for row `x` to `phi` (one entry per column).
pub fn tree_shap(tree: &Tree, x: &[f64], phi: &mut [f64]) {
    let mut buf = vec![PathElement::default(); buffer_len(depth(tree))];
    tree_shap_with(tree, x, phi, &mut buf);
}

fn tree_shap_with(tree: &Tree, x: &[f64], phi: &mut [f64], buf: &mut [PathElement]) {
    // The root's "parent path" is the empty prefix at buf[0..1].
    Walk { tree, x, phi, buf }.recurse(0, 0, 0, 1.0, 1.0, -1);
}

/// Deepest tree for which the pattern tables are precomputed (2^d entries per leaf).
pub const MAX_PREPARED_DEPTH: usize = 10;

/// One leaf's precomputed contributions.
#[derive(Debug, Clone)]
struct PreparedLeaf {
    /// (node, goes left, index of its feature among the leaf's distinct features)
    conditions: Vec<(u32, bool, u8)>,
    /// Distinct features on the path, in order of first appearance.
    features: Vec<u32>,
    /// Pattern bits: d for a leaf; for a unit serving a subtree, its upper
    /// features' bits then one bit per split below (set = the row went left).
    bits: u8,
    /// For a unit: the node at the top of its subtree and its number of splits,
    /// whose decision bits (contiguous in preorder) end the pattern.
    subtree: Option<(u32, u8)>,
    /// For each agreement pattern o (bit j = the row agrees with every split on
    /// feature j), the contribution to each feature: `table[o * d + j]`.
    table: Vec<f64>,
}

/// Fills a leaf's table for every agreement pattern whose low `k` bits are
/// `o`: `paths` holds one path per level (`d + 2` elements each), level `k`
/// the root extended by features 0..k with those bits as one fractions.
/// Patterns that share low bits share the extensions that make them, so a
/// leaf of d features takes 2^(d+1) extensions instead of d·2^d — and each
/// pattern's path is made by the same operations in the same order as
/// extending it from the root, so the values are the same to the bit.
fn leaf_table(paths: &mut [PathElement], zero: &[f64], k: usize, o: usize, value: f64, table: &mut [f64]) {
    let d = zero.len();
    let len = d + 2;
    if k == d {
        let path = &paths[d * len..][..len];
        for i in 1..=d {
            let w = unwound_sum(path, d, i);
            let e = path[i];
            table[o * d + e.feature as usize] = w * (e.one - e.zero) * value;
        }
        return;
    }
    for bit in 0..2 {
        let (done, next) = paths.split_at_mut((k + 1) * len);
        next[..=k].copy_from_slice(&done[k * len..][..=k]);
        extend(&mut next[..len], k + 1, zero[k], bit as f64, k as i64);
        leaf_table(paths, zero, k + 1, o | bit << k, value, table);
    }
}

/// Most pattern bits of a table that serves a whole subtree: upper-path
/// features plus the subtree's splits (2^8 patterns × at most 8 features).
pub const MAX_UNIT_BITS: usize = 8;

/// Splits and leaves below `node`: (internal nodes in preorder, number of leaves).
fn subtree(tree: &Tree, node: usize, internal: &mut Vec<u32>) -> usize {
    let n = &tree.nodes[node];
    if n.is_leaf() {
        return 1;
    }
    internal.push(node as u32);
    subtree(tree, n.left as usize, internal) + subtree(tree, n.right as usize, internal)
}

/// Covers the tree with units top-down: a subtree becomes one unit as soon as
/// its upper-path features plus its own splits fit in [`MAX_UNIT_BITS`]
/// pattern bits (a leaf always does). `first_leaf` walks the depth-first leaf list.
fn collect_units(tree: &Tree, node: usize, depth: usize, leaves: &[PreparedLeaf], first_leaf: &mut usize, units: &mut Vec<PreparedLeaf>) {
    let mut internal = vec![];
    let count = subtree(tree, node, &mut internal);
    let leaf = &leaves[*first_leaf];
    // Distinct features on the path above `node`: a prefix of every leaf's list below it.
    let upper = leaf.conditions[..depth].iter().map(|c| c.2 as usize + 1).max().unwrap_or(0);
    let n = &tree.nodes[node];
    if !n.is_leaf() && upper + internal.len() > MAX_UNIT_BITS {
        collect_units(tree, n.left as usize, depth + 1, leaves, first_leaf, units);
        collect_units(tree, n.right as usize, depth + 1, leaves, first_leaf, units);
        return;
    }
    let below = &leaves[*first_leaf..*first_leaf + count];
    *first_leaf += count;
    if count == 1 {
        units.push(leaf.clone());
        return;
    }
    units.push(unit_of(&leaf.conditions[..depth], upper, &internal, below));
}

/// One table for the leaves below a node: indexed by the agreement bits of the
/// `upper` features on the path above it, then one bit per split of the
/// subtree (set when the row goes left there), and holding the sum of the
/// leaves' contributions — one lookup where there were `below.len()`.
fn unit_of(path: &[(u32, bool, u8)], upper: usize, internal: &[u32], below: &[PreparedLeaf]) -> PreparedLeaf {
    let mut features: Vec<u32> = below[0].features[..upper].to_vec();
    let maps: Vec<Vec<usize>> = below
        .iter()
        .map(|l| {
            l.features
                .iter()
                .map(|f| match features.iter().position(|g| g == f) {
                    Some(k) => k,
                    None => {
                        features.push(*f);
                        features.len() - 1
                    }
                })
                .collect()
        })
        .collect();
    let bits = upper + internal.len();
    let d = features.len();
    let mut table = vec![0.0; (1 << bits) * d];
    for o in 0..(1usize << bits) {
        for (l, map) in below.iter().zip(&maps) {
            let dl = l.features.len();
            // The leaf's own pattern: upper bits as given, others agree unless a split below disagrees.
            let mut ol = (1usize << dl) - 1;
            ol &= (o & ((1 << upper) - 1)) | !((1usize << upper) - 1);
            for &(node, left, k) in &l.conditions[path.len()..] {
                let i = internal.iter().position(|m| *m == node).expect("a split of the subtree");
                let goes_left = (o >> (upper + i)) & 1 == 1;
                if goes_left != left {
                    ol &= !(1 << k);
                }
            }
            for (j, &u) in map.iter().enumerate() {
                table[o * d + u] += l.table[ol * dl + j];
            }
        }
    }
    PreparedLeaf {
        conditions: path.to_vec(),
        features,
        bits: bits as u8,
        subtree: Some((internal[0], internal.len() as u8)),
        table,
    }
}

/// Where one leaf's or unit's data sits in a [`PreparedTree`]'s flat arrays.
#[derive(Debug, Clone, Copy)]
struct LeafHead {
    /// End of its conditions in `conds` (they start where the previous leaf's end).
    cond_end: u32,
    feat_start: u32,
    table_start: u32,
    /// First split (preorder index) of a unit's subtree.
    sub_start: u32,
    /// Splits in a unit's subtree (0 for a leaf).
    sub_len: u8,
    /// Distinct features on the path.
    d: u8,
    /// Pattern bits (see [`PreparedLeaf`]'s `bits`).
    bits: u8,
}

/// A tree with its per-leaf pattern tables, laid out in flat arrays that a
/// block of rows passes through in order.
#[derive(Debug, Clone)]
pub struct PreparedTree {
    /// The splits of the tree (its internal nodes, in node order), as three
    /// arrays that a row's decisions are computed from without branches.
    thresholds: Vec<f64>,
    split_features: Vec<u32>,
    missing_left: Vec<u8>,
    /// Each split's threshold as its rank among its column's cuts in the
    /// [`PreparedModel`] (empty until the model sets them).
    codes: Vec<u8>,
    heads: Vec<LeafHead>,
    /// Conditions packed as `split << 8 | goes_left << 7 | pattern bit`.
    conds: Vec<u32>,
    feats: Vec<u32>,
    /// Each unit's table, feature by feature: `table[table_start + j * 2^bits + o]`
    /// is feature j's value for pattern o.
    table: Vec<f64>,
    /// Leaves whose table was folded into a unit's (leaves − tables).
    merged: usize,
}

impl PreparedTree {
    /// Precomputes the tables of a tree (None when it is deeper than [`MAX_PREPARED_DEPTH`]).
    pub fn new(tree: &Tree) -> Option<PreparedTree> {
        if depth(tree) > MAX_PREPARED_DEPTH {
            return None;
        }
        let mut leaves = vec![];
        let mut stack: Vec<(usize, Vec<(u32, bool)>)> = vec![(0, vec![])];
        while let Some((j, conds)) = stack.pop() {
            let n = &tree.nodes[j];
            if !n.is_leaf() {
                let mut l = conds.clone();
                l.push((j as u32, true));
                let mut r = conds;
                r.push((j as u32, false));
                stack.push((n.right as usize, r));
                stack.push((n.left as usize, l));
                continue;
            }
            let mut features: Vec<u32> = vec![];
            let mut zero: Vec<f64> = vec![];
            let mut conditions = vec![];
            for &(node, left) in &conds {
                let nd = &tree.nodes[node as usize];
                let child = if left { nd.left } else { nd.right } as usize;
                let ratio = tree.nodes[child].cover / nd.cover;
                let k = match features.iter().position(|f| *f == nd.feature) {
                    Some(k) => k,
                    None => {
                        features.push(nd.feature);
                        zero.push(1.0);
                        features.len() - 1
                    }
                };
                zero[k] *= ratio;
                conditions.push((node, left, k as u8));
            }
            let d = features.len();
            let mut table = vec![0.0; (1 << d) * d];
            let mut paths = vec![PathElement::default(); (d + 1) * (d + 2)];
            extend(&mut paths, 0, 1.0, 1.0, -1);
            leaf_table(&mut paths, &zero, 0, 0, n.value, &mut table);
            leaves.push(PreparedLeaf {
                conditions,
                features,
                bits: d as u8,
                subtree: None,
                table,
            });
        }
        // Leaves come in depth-first order, so a subtree's leaves are a run of them.
        let mut units = vec![];
        let mut first_leaf = 0;
        collect_units(tree, 0, 0, &leaves, &mut first_leaf, &mut units);
        // Splits numbered in preorder, so that every subtree's splits are a run.
        let mut split_of = vec![u32::MAX; tree.nodes.len()];
        let mut preorder = vec![];
        subtree(tree, 0, &mut preorder);
        for (i, &j) in preorder.iter().enumerate() {
            split_of[j as usize] = i as u32;
        }
        let mut p = PreparedTree {
            thresholds: vec![],
            split_features: vec![],
            missing_left: vec![],
            codes: vec![],
            heads: Vec::with_capacity(units.len()),
            conds: vec![],
            feats: vec![],
            table: vec![],
            merged: leaves.len() - units.len(),
        };
        for &j in &preorder {
            let n = &tree.nodes[j as usize];
            p.thresholds.push(n.threshold);
            p.split_features.push(n.feature);
            p.missing_left.push(n.missing_left as u8);
        }
        for u in &units {
            p.conds.extend(
                u.conditions
                    .iter()
                    .map(|&(node, left, k)| split_of[node as usize] << 8 | (left as u32) << 7 | k as u32),
            );
            let (top, sub_len) = u.subtree.unwrap_or((0, 0));
            p.heads.push(LeafHead {
                cond_end: p.conds.len() as u32,
                feat_start: p.feats.len() as u32,
                table_start: p.table.len() as u32,
                sub_start: split_of[top as usize],
                sub_len,
                d: u.features.len() as u8,
                bits: u.bits,
            });
            p.feats.extend(&u.features);
            // Stored feature by feature: one column of 2^bits values each.
            let d = u.features.len();
            let n = 1usize << u.bits;
            p.table.reserve(n * d);
            for j in 0..d {
                p.table.extend((0..n).map(|o| u.table[o * d + j]));
            }
        }
        Some(p)
    }

    /// Leaves that share a table with others (leaves − tables).
    pub fn merged_leaves(&self) -> usize {
        self.merged
    }

    /// Table values added per row (each table's number of features, summed).
    pub fn values_per_row(&self) -> usize {
        self.heads.iter().map(|h| h.d as usize).sum()
    }

    /// Number of tables (one per leaf or folded subtree).
    pub fn tables(&self) -> usize {
        self.heads.len()
    }

    /// Number of splits (internal nodes).
    pub fn splits(&self) -> usize {
        self.thresholds.len()
    }

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
        // (gathers of table values, byte compares): about 1.6× faster with
        // AVX-512 and 1.25× with AVX2 than with the baseline SSE2.
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
    unsafe fn shap_columns_avx512(&self, x: Columns, rows: usize, phi: &mut [f64], scratch: &mut ShapScratch) {
        self.shap_columns_body(x, rows, phi, scratch)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn shap_columns_avx2(&self, x: Columns, rows: usize, phi: &mut [f64], scratch: &mut ShapScratch) {
        self.shap_columns_body(x, rows, phi, scratch)
    }

    /// The body of [`PreparedTree::shap_columns`], inlined into each variant.
    #[inline(always)]
    fn shap_columns_body(&self, x: Columns, rows: usize, phi: &mut [f64], scratch: &mut ShapScratch) {
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
    fn add_tables<P: Pattern>(&self, decisions: &[u8], pattern: &mut [P], rows: usize, phi: &mut [f64]) {
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
fn add_columns<const K: usize, P: Pattern>(table: &[f64], feats: &[u32], pattern: &[P], n: usize, rows: usize, phi: &mut [f64]) {
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
trait Pattern:
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
    slots: Vec<[f64; MAX_CUTS + 1]>,
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
fn rank(slots: &[f64; MAX_CUTS + 1], v: f64) -> u8 {
    let mut base = 0;
    let mut half = (MAX_CUTS + 2) / 2;
    while half > 0 {
        base += usize::from(slots[base + half - 1] < v) * half;
        half /= 2;
    }
    base as u8
}

/// Reusable buffers for [`PreparedTree::shap_columns`].
#[derive(Debug, Clone, Default)]
pub struct ShapScratch {
    decisions: Vec<u8>,
    patterns: Vec<u16>,
    patterns8: Vec<u8>,
}

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
