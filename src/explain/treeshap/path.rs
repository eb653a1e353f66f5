//! Algorithm 2 itself: the recursive walk of one tree with the path of feature
//! fractions, extended and unwound at each split.

use super::*;

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct PathElement {
    pub(super) feature: i64,
    pub(super) zero: f64,
    pub(super) one: f64,
    pub(super) weight: f64,
}

// The path operations work in place on `path[0..=depth]` (depth = index of the
// element being added or the last element), as in shap's C++ implementation, so
// one preallocated buffer serves a whole tree.

pub(super) fn extend(path: &mut [PathElement], depth: usize, zero: f64, one: f64, feature: i64) {
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

pub(super) fn unwind(path: &mut [PathElement], depth: usize, index: usize) {
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

pub(super) fn unwound_sum(path: &[PathElement], depth: usize, index: usize) -> f64 {
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
pub(super) struct Walk<'a> {
    pub(super) tree: &'a Tree,
    pub(super) x: &'a [f64],
    pub(super) phi: &'a mut [f64],
    pub(super) buf: &'a mut [PathElement],
}

impl Walk<'_> {
    /// `parent` is where the parent's path starts in the buffer; this node's path
    /// starts right after it (`parent + depth + 1`), a copy extended by one element.
    pub(super) fn recurse(&mut self, node: usize, mut depth: usize, parent: usize, zero: f64, one: f64, feature: i64) {
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
    pub(super) fn go(t: &Tree, j: usize) -> f64 {
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
pub(super) fn buffer_len(max_depth: usize) -> usize {
    (max_depth + 2) * (max_depth + 3) / 2 + max_depth + 4
}

/// Depth of a tree (edges on the longest path).
pub(super) fn depth(tree: &Tree) -> usize {
    pub(super) fn go(t: &Tree, j: usize) -> usize {
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

pub(super) fn tree_shap_with(tree: &Tree, x: &[f64], phi: &mut [f64], buf: &mut [PathElement]) {
    // The root's "parent path" is the empty prefix at buf[0..1].
    Walk { tree, x, phi, buf }.recurse(0, 0, 0, 1.0, 1.0, -1);
}
