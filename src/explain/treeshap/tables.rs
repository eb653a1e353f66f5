//! The pattern tables of a tree: for each leaf (or folded small subtree), each
//! feature's contribution for every pattern of agreement with the splits on its
//! path.

use super::*;

/// Deepest tree for which the pattern tables are precomputed (2^d entries per leaf).
pub const MAX_PREPARED_DEPTH: usize = 10;

/// One leaf's precomputed contributions.
#[derive(Debug, Clone)]
pub(super) struct PreparedLeaf {
    /// (node, goes left, index of its feature among the leaf's distinct features)
    pub(super) conditions: Vec<(u32, bool, u8)>,
    /// Distinct features on the path, in order of first appearance.
    pub(super) features: Vec<u32>,
    /// Pattern bits: d for a leaf; for a unit serving a subtree, its upper
    /// features' bits then one bit per split below (set = the row went left).
    pub(super) bits: u8,
    /// For a unit: the node at the top of its subtree and its number of splits,
    /// whose decision bits (contiguous in preorder) end the pattern.
    pub(super) subtree: Option<(u32, u8)>,
    /// For each agreement pattern o (bit j = the row agrees with every split on
    /// feature j), the contribution to each feature: `table[o * d + j]`.
    pub(super) table: Vec<f64>,
}

/// Fills a leaf's table for every agreement pattern whose low `k` bits are
/// `o`: `paths` holds one path per level (`d + 2` elements each), level `k`
/// the root extended by features 0..k with those bits as one fractions.
/// Patterns that share low bits share the extensions that make them, so a
/// leaf of d features takes 2^(d+1) extensions instead of d·2^d — and each
/// pattern's path is made by the same operations in the same order as
/// extending it from the root, so the values are the same to the bit.
pub(super) fn leaf_table(paths: &mut [PathElement], zero: &[f64], k: usize, o: usize, value: f64, table: &mut [f64]) {
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
pub(super) fn subtree(tree: &Tree, node: usize, internal: &mut Vec<u32>) -> usize {
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
pub(super) fn collect_units(
    tree: &Tree,
    node: usize,
    depth: usize,
    leaves: &[PreparedLeaf],
    first_leaf: &mut usize,
    units: &mut Vec<PreparedLeaf>,
) {
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
pub(super) fn unit_of(path: &[(u32, bool, u8)], upper: usize, internal: &[u32], below: &[PreparedLeaf]) -> PreparedLeaf {
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
pub(super) struct LeafHead {
    /// End of its conditions in `conds` (they start where the previous leaf's end).
    pub(super) cond_end: u32,
    pub(super) feat_start: u32,
    pub(super) table_start: u32,
    /// First split (preorder index) of a unit's subtree.
    pub(super) sub_start: u32,
    /// Splits in a unit's subtree (0 for a leaf).
    pub(super) sub_len: u8,
    /// Distinct features on the path.
    pub(super) d: u8,
    /// Pattern bits (see [`PreparedLeaf`]'s `bits`).
    pub(super) bits: u8,
}

/// A tree with its per-leaf pattern tables, laid out in flat arrays that a
/// block of rows passes through in order.
#[derive(Debug, Clone)]
pub struct PreparedTree {
    /// The splits of the tree (its internal nodes, in node order), as three
    /// arrays that a row's decisions are computed from without branches.
    pub(super) thresholds: Vec<f64>,
    pub(super) split_features: Vec<u32>,
    pub(super) missing_left: Vec<u8>,
    /// Each split's threshold as its rank among its column's cuts in the
    /// [`PreparedModel`] (empty until the model sets them).
    pub(super) codes: Vec<u8>,
    pub(super) heads: Vec<LeafHead>,
    /// Conditions packed as `split << 8 | goes_left << 7 | pattern bit`.
    pub(super) conds: Vec<u32>,
    pub(super) feats: Vec<u32>,
    /// Each unit's table, feature by feature: `table[table_start + j * 2^bits + o]`
    /// is feature j's value for pattern o.
    pub(super) table: Vec<f64>,
    /// Leaves whose table was folded into a unit's (leaves − tables).
    pub(super) merged: usize,
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
}
