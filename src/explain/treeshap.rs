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
    /// Leading conditions it shares with the previous unit, whose partial
    /// patterns are reused.
    shared: u8,
    /// Distinct features on the path.
    d: u8,
    /// Pattern bits (see [`PreparedLeaf`]'s `bits`).
    bits: u8,
}

/// A tree with its per-leaf pattern tables, laid out in flat arrays so that a
/// row's pass over the tree reads memory in order.
#[derive(Debug, Clone)]
pub struct PreparedTree {
    /// The splits of the tree (its internal nodes, in node order), as three
    /// arrays that a row's decisions are computed from without branches.
    thresholds: Vec<f64>,
    split_features: Vec<u32>,
    missing_left: Vec<u8>,
    heads: Vec<LeafHead>,
    /// Conditions packed as `split << 8 | goes_left << 7 | pattern bit`.
    conds: Vec<u32>,
    feats: Vec<u32>,
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
            let mut path = vec![PathElement::default(); d + 2];
            for o in 0..(1usize << d) {
                extend(&mut path, 0, 1.0, 1.0, -1);
                for (k, z) in zero.iter().enumerate() {
                    extend(&mut path, k + 1, *z, ((o >> k) & 1) as f64, k as i64);
                }
                for i in 1..=d {
                    let w = unwound_sum(&path, d, i);
                    let e = path[i];
                    table[o * d + e.feature as usize] = w * (e.one - e.zero) * n.value;
                }
            }
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
        let mut previous: &[(u32, bool, u8)] = &[];
        for u in &units {
            let shared = previous.iter().zip(&u.conditions).take_while(|(a, b)| a == b).count();
            previous = &u.conditions;
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
                shared: shared as u8,
                d: u.features.len() as u8,
                bits: u.bits,
            });
            p.feats.extend(&u.features);
            p.table.extend(&u.table);
        }
        Some(p)
    }

    /// Leaves that share a table with others (leaves − tables).
    pub fn merged_leaves(&self) -> usize {
        self.merged
    }

    /// Number of splits (internal nodes).
    pub fn splits(&self) -> usize {
        self.thresholds.len()
    }

    /// Decision flags [`PreparedTree::shap_with`] needs as scratch (the splits
    /// plus 8, so that a run of 8 flags can be read as one word).
    pub fn scratch_len(&self) -> usize {
        self.splits() + 8
    }

    /// Adds the SHAP values of the tree for row `x` to `phi`.
    pub fn shap(&self, x: &[f64], phi: &mut [f64]) {
        let mut decisions = vec![0; self.scratch_len()];
        self.shap_with(x, phi, &mut decisions);
    }

    /// As [`PreparedTree::shap`], with a scratch buffer of at least
    /// [`PreparedTree::scratch_len`] flags.
    pub fn shap_with(&self, x: &[f64], phi: &mut [f64], decisions: &mut [u8]) {
        // Each split is decided once per row (1 = the row goes left), then read
        // by every unit below it. NaN compares false, so a missing value goes
        // where `missing_left` says.
        let splits = self.thresholds.iter().zip(&self.split_features).zip(&self.missing_left);
        for (d, ((t, f), ml)) in decisions.iter_mut().zip(splits) {
            let v = x[*f as usize];
            *d = (v <= *t) as u8 | (v.is_nan() as u8 & ml);
        }
        // partial[i]: the pattern after the first i conditions of the current
        // unit's path. Units come in depth-first order, so a unit starts from
        // the prefix it shares with the previous one: one step per tree edge.
        let mut partial = [usize::MAX; MAX_PREPARED_DEPTH + 2];
        let mut start = 0;
        for h in &self.heads {
            let upper = (h.bits - h.sub_len) as usize;
            let shared = h.shared as usize;
            let mut o = partial[shared];
            for (i, &c) in self.conds[start..h.cond_end as usize].iter().enumerate().skip(shared) {
                // Clear the condition's bit when the row goes the other way (no branch).
                let disagrees = (decisions[(c >> 8) as usize] as u32 ^ (c >> 7) & 1) as usize;
                o &= !(disagrees << (c & 0x7f));
                partial[i + 1] = o;
            }
            o &= (1usize << upper) - 1;
            start = h.cond_end as usize;
            // A unit's subtree splits are a run of flags (preorder): read 8 as one
            // word and gather their low bits into one byte with a multiplication.
            let s0 = h.sub_start as usize;
            let run = u64::from_le_bytes(decisions[s0..s0 + 8].try_into().expect("8 flags"));
            let packed = (run.wrapping_mul(0x0102_0408_1020_4080) >> 56) as usize;
            o |= (packed & ((1 << h.sub_len) - 1)) << upper;
            let d = h.d as usize;
            let values = &self.table[h.table_start as usize + o * d..][..d];
            let feats = &self.feats[h.feat_start as usize..][..d];
            for (f, c) in feats.iter().zip(values) {
                phi[*f as usize] += c;
            }
        }
    }
}

impl GbdtModel {
    /// Every tree prepared for fast TreeSHAP (None for trees too deep to prepare).
    pub fn prepare(&self) -> Vec<Option<PreparedTree>> {
        use rayon::prelude::*;
        self.trees.par_iter().map(PreparedTree::new).collect()
    }

    /// [`GbdtModel::prepare`]'s tables, built once per model and then reused.
    pub fn prepared(&self) -> &[Option<PreparedTree>] {
        self.shap_tables.get_or_init(|| self.prepare())
    }

    /// SHAP values of a block of rows (row-major, `ncols` each), tree by tree so
    /// that each tree's tables stay in cache while the block passes through.
    pub fn shap_block(&self, prepared: &[Option<PreparedTree>], block: &[f64], ncols: usize) -> Vec<f64> {
        let nrows = block.len() / ncols.max(1);
        let mut phi = vec![0.0; block.len()];
        let mut decisions = vec![0u8; prepared.iter().flatten().map(PreparedTree::scratch_len).max().unwrap_or(0)];
        let mut buf = vec![];
        for (t, p) in self.trees.iter().zip(prepared) {
            for r in 0..nrows {
                let x = &block[r * ncols..(r + 1) * ncols];
                let out = &mut phi[r * ncols..(r + 1) * ncols];
                match p {
                    Some(p) => p.shap_with(x, out, &mut decisions),
                    None => {
                        if buf.is_empty() {
                            buf = vec![PathElement::default(); buffer_len(16)];
                        }
                        tree_shap_with(t, x, out, &mut buf)
                    }
                }
            }
        }
        phi
    }

    /// SHAP values of one row with prepared trees.
    pub fn shap_row_prepared(&self, prepared: &[Option<PreparedTree>], x: &[f64]) -> Vec<f64> {
        let mut phi = vec![0.0; x.len()];
        let mut buf = vec![];
        for (t, p) in self.trees.iter().zip(prepared) {
            match p {
                Some(p) => p.shap(x, &mut phi),
                None => {
                    if buf.is_empty() {
                        buf = vec![PathElement::default(); buffer_len(16)];
                    }
                    tree_shap_with(t, x, &mut phi, &mut buf)
                }
            }
        }
        phi
    }

    /// The SHAP base value of the ensemble: base score + Σ trees' expected values.
    pub fn expected_margin(&self) -> f64 {
        self.base + self.trees.iter().map(expected_value).sum::<f64>()
    }

    /// SHAP values of one row, one per column of the tree matrix.
    pub fn shap_row(&self, x: &[f64]) -> Vec<f64> {
        let mut phi = vec![0.0; x.len()];
        let max_depth = self.trees.iter().map(depth).max().unwrap_or(0);
        let mut buf = vec![PathElement::default(); buffer_len(max_depth)];
        for t in &self.trees {
            tree_shap_with(t, x, &mut phi, &mut buf);
        }
        phi
    }
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
        let prepared = m.prepare();
        // Subtrees were folded into units somewhere, so the unit tables are exercised too.
        assert!(prepared.iter().flatten().any(|p| p.merged_leaves() > 0));
        let mut max_err: f64 = 0.0;
        for r in 0..200 {
            let row: Vec<f64> = x.row(r).to_vec();
            let a = m.shap_row(&row);
            let b = m.shap_row_prepared(&prepared, &row);
            for (u, v) in a.iter().zip(&b) {
                max_err = max_err.max((u - v).abs());
            }
            let total = m.expected_margin() + b.iter().sum::<f64>();
            assert!((total - m.margin_row(&row)).abs() < 1e-9);
        }
        assert!(max_err < 1e-12, "{max_err}");
    }
}
