//! Exact TreeSHAP for tree ensembles: the polynomial-time algorithm of Lundberg,
//! Erion & Lee, "Consistent individualized feature attribution for tree
//! ensembles" (2018), Algorithm 2, in its **path-dependent** form: the value of
//! a feature subset S is E[f(x) | x_S], with the expectation over the training
//! rows that reached each node (the node covers), as in shap's
//! `TreeExplainer(feature_perturbation="tree_path_dependent")`.
//!
//! For every row, base + Σ φ = the model's margin, where the base is the
//! cover-weighted mean leaf value of each tree, summed over trees.

use crate::model::gbdt::{GbdtModel, Tree};

#[derive(Clone, Copy, Debug)]
struct PathElement {
    feature: i64,
    zero: f64,
    one: f64,
    weight: f64,
}

fn extend(path: &mut Vec<PathElement>, zero: f64, one: f64, feature: i64) {
    let l = path.len();
    path.push(PathElement {
        feature,
        zero,
        one,
        weight: if l == 0 { 1.0 } else { 0.0 },
    });
    for i in (0..l).rev() {
        path[i + 1].weight += one * path[i].weight * (i + 1) as f64 / (l + 1) as f64;
        path[i].weight = zero * path[i].weight * (l - i) as f64 / (l + 1) as f64;
    }
}

fn unwind(path: &mut Vec<PathElement>, index: usize) {
    let depth = path.len() - 1;
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
    path.pop();
}

fn unwound_sum(path: &[PathElement], index: usize) -> f64 {
    let depth = path.len() - 1;
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

#[allow(clippy::too_many_arguments)]
fn recurse(tree: &Tree, x: &[f64], phi: &mut [f64], node: usize, mut path: Vec<PathElement>, zero: f64, one: f64, feature: i64) {
    extend(&mut path, zero, one, feature);
    let n = &tree.nodes[node];
    if n.is_leaf() {
        for i in 1..path.len() {
            let w = unwound_sum(&path, i);
            let e = path[i];
            phi[e.feature as usize] += w * (e.one - e.zero) * n.value;
        }
        return;
    }
    let v = x[n.feature as usize];
    let goes_left = if v.is_nan() { n.missing_left } else { v <= n.threshold };
    let (hot, cold) = if goes_left {
        (n.left as usize, n.right as usize)
    } else {
        (n.right as usize, n.left as usize)
    };
    let (mut iz, mut io) = (1.0, 1.0);
    if let Some(k) = path.iter().position(|e| e.feature == n.feature as i64) {
        iz = path[k].zero;
        io = path[k].one;
        unwind(&mut path, k);
    }
    let cover = n.cover;
    recurse(
        tree,
        x,
        phi,
        hot,
        path.clone(),
        iz * tree.nodes[hot].cover / cover,
        io,
        n.feature as i64,
    );
    recurse(tree, x, phi, cold, path, iz * tree.nodes[cold].cover / cover, 0.0, n.feature as i64);
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

/// Adds the SHAP values of one tree for row `x` to `phi` (one entry per column).
pub fn tree_shap(tree: &Tree, x: &[f64], phi: &mut [f64]) {
    recurse(tree, x, phi, 0, Vec::with_capacity(32), 1.0, 1.0, -1);
}

impl GbdtModel {
    /// The SHAP base value of the ensemble: base score + Σ trees' expected values.
    pub fn expected_margin(&self) -> f64 {
        self.base + self.trees.iter().map(expected_value).sum::<f64>()
    }

    /// SHAP values of one row, one per column of the tree matrix.
    pub fn shap_row(&self, x: &[f64]) -> Vec<f64> {
        let mut phi = vec![0.0; x.len()];
        for t in &self.trees {
            tree_shap(t, x, &mut phi);
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
        }
    }
}
