//! Growing one tree depth-first: the best split of a node from its histogram,
//! leaf values within their monotone bounds.

use super::*;

pub(super) struct Split {
    pub(super) gain: f64,
    pub(super) feature: usize,
    pub(super) bin: usize,
    pub(super) missing_left: bool,
    /// The gradient sums of the two sides.
    pub(super) left: Stat,
    pub(super) right: Stat,
}

/// Grows one tree depth-first on the sampled rows, reordering them so that
/// each leaf's rows are a range, leaves in the order of the tree's nodes;
/// returns it with the number of rows of each leaf. `scratch` is as long as
pub(super) fn grow(
    codes: &Codes,
    bins: &[Bins],
    grad: &[(f64, f64)],
    rows: &mut [u32],
    scratch: &mut [u32],
    p: &GbdtParams,
) -> (Tree, Vec<usize>) {
    let hist = histogram(codes, grad, rows);
    let h_root: f64 = hist[..256].iter().map(|s| s.h).sum();
    let g = Grower {
        codes,
        bins,
        grad,
        p,
        h_max: rows.par_iter().map(|&r| grad[r as usize].1).reduce(|| 0.0, f64::max),
        // Any sum of a slot, of slots or their differences, at any depth, is
        // off by less than this (the hessians are all positive).
        slack: 2.0 * (p.max_depth + 4) as f64 * (rows.len() + 256) as f64 * f64::EPSILON * h_root,
    };
    let sub = g.build(rows, scratch, hist, 0, (f64::NEG_INFINITY, f64::INFINITY));
    (Tree { nodes: sub.nodes }, sub.leaf_sizes)
}

/// A subtree's nodes, numbered from 0 in depth-first order, and the number
/// of rows of its leaves in the same order (the order of their rows).
pub(super) struct Subtree {
    pub(super) nodes: Vec<Node>,
    pub(super) leaf_sizes: Vec<usize>,
}

impl Subtree {
    pub(super) fn leaf(node: Node, rows: usize) -> Subtree {
        Subtree {
            nodes: vec![node],
            leaf_sizes: vec![rows],
        }
    }
}

/// What every node of one tree reads.
pub(super) struct Grower<'a> {
    pub(super) codes: &'a Codes,
    pub(super) bins: &'a [Bins],
    pub(super) grad: &'a [(f64, f64)],
    pub(super) p: &'a GbdtParams,
    /// The largest hessian of the tree's rows.
    pub(super) h_max: f64,
    pub(super) slack: f64,
}

impl Grower<'_> {
    /// The subtree of a node, numbered from 0 in depth-first order: the node,
    /// then its left subtree, then its right. The two subtrees grow at the
    /// same time (rayon::join), each numbered on its own, and are then placed
    /// one after the other: the same nodes as growing them in turn.
    pub(super) fn build(&self, rows: &mut [u32], scratch: &mut [u32], hist: Hist, depth: usize, bounds: (f64, f64)) -> Subtree {
        let p = self.p;
        // Totals from the first column's slots (every row lands in exactly one).
        let mut total = Stat::default();
        for s in &hist[..256] {
            total.g += s.g;
            total.h += s.h;
        }
        let mut node = leaf(total.g, total.h, rows.len(), p, bounds);
        if depth >= p.max_depth || rows.len() < 2 * p.min_samples_leaf {
            return Subtree::leaf(node, rows.len());
        }
        let sizes = Sizes {
            codes: self.codes,
            rows,
            h_max: self.h_max,
            slack: self.slack,
        };
        let Some(split) = best_split(&hist, self.bins, total, &sizes, p, bounds) else {
            return Subtree::leaf(node, rows.len());
        };
        let f = split.feature;
        let goes_left = |c: u8| {
            if c == u8::MAX {
                split.missing_left
            } else {
                (c as usize) <= split.bin
            }
        };
        let nl = partition(self.codes, f, rows, scratch, goes_left);
        let (left, right) = rows.split_at_mut(nl);
        let (left_scratch, right_scratch) = scratch.split_at_mut(nl);
        // Histogram subtraction: scan the smaller child, the larger is the parent minus it.
        let (lh, rh) = if depth + 1 >= p.max_depth {
            (vec![], vec![])
        } else if left.len() <= right.len() {
            let lh = histogram(self.codes, self.grad, left);
            let rh: Hist = hist.iter().zip(&lh).map(|(a, b)| a.minus(*b)).collect();
            (lh, rh)
        } else {
            let rh = histogram(self.codes, self.grad, right);
            let lh: Hist = hist.iter().zip(&rh).map(|(a, b)| a.minus(*b)).collect();
            (lh, rh)
        };
        drop(hist);
        // Below a constrained split, each side's values stay on its side of the midpoint.
        let (lb, rb) = match p.monotone.get(f).copied().unwrap_or(0) {
            0 => (bounds, bounds),
            d => {
                let (wl, wr) = (
                    value(split.left.g, split.left.h, p, bounds),
                    value(split.right.g, split.right.h, p, bounds),
                );
                let mid = 0.5 * (wl + wr);
                let (low, high) = ((bounds.0, mid.min(bounds.1)), (mid.max(bounds.0), bounds.1));
                if d > 0 {
                    (low, high)
                } else {
                    (high, low)
                }
            }
        };
        let (l, r) = rayon::join(
            || self.child(left, left_scratch, lh, depth + 1, lb),
            || self.child(right, right_scratch, rh, depth + 1, rb),
        );
        node.feature = f as u32;
        node.threshold = self.bins[f].upper[split.bin];
        node.missing_left = split.missing_left;
        node.left = 1;
        node.right = 1 + l.nodes.len() as u32;
        node.value = 0.0;
        let mut out = Subtree {
            nodes: Vec::with_capacity(1 + l.nodes.len() + r.nodes.len()),
            leaf_sizes: Vec::with_capacity(l.leaf_sizes.len() + r.leaf_sizes.len()),
        };
        let right_at = node.right;
        out.nodes.push(node);
        for (sub, offset) in [(l, 1), (r, right_at)] {
            out.nodes.extend(sub.nodes.into_iter().map(|mut c| {
                if !c.is_leaf() {
                    c.left += offset;
                    c.right += offset;
                }
                c
            }));
            out.leaf_sizes.extend(sub.leaf_sizes);
        }
        out
    }

    /// A child at the depth limit is a leaf: its value comes from its rows directly.
    pub(super) fn child(&self, rows: &mut [u32], scratch: &mut [u32], hist: Hist, depth: usize, bounds: (f64, f64)) -> Subtree {
        if !hist.is_empty() {
            return self.build(rows, scratch, hist, depth, bounds);
        }
        let (mut g, mut h) = (0.0, 0.0);
        for &r in rows.iter() {
            g += self.grad[r as usize].0;
            h += self.grad[r as usize].1;
        }
        Subtree::leaf(leaf(g, h, rows.len(), self.p, bounds), rows.len())
    }
}

/// A leaf with value −η G/(H+λ) (an internal node starts as one and is
/// turned into a split by its builder).
pub(super) fn leaf(g: f64, h: f64, cover: usize, p: &GbdtParams, bounds: (f64, f64)) -> Node {
    Node {
        feature: 0,
        threshold: 0.0,
        missing_left: false,
        left: 0,
        right: 0,
        value: value(g, h, p, bounds),
        cover: cover as f64,
    }
}

/// What a node knows of its rows' counts without counting them: every row's
/// hessian is at most `h_max`, so a side whose hessian sum is `H` holds at
/// least `H / h_max` rows; `slack` bounds the rounding of any slot's sum.
/// Where that does not settle a split, the node's codes of the column are
/// counted exactly (once per node and column, and only for a candidate that
/// would be the best so far).
pub(super) struct Sizes<'a> {
    pub(super) codes: &'a Codes,
    pub(super) rows: &'a [u32],
    pub(super) h_max: f64,
    pub(super) slack: f64,
}

impl Sizes<'_> {
    /// Whether a sum of hessians proves at least `min` rows.
    pub(super) fn proves(&self, h: f64, min: usize) -> bool {
        h - self.slack >= self.h_max * min as f64
    }

    /// The node's rows in column `f`: for each bin, those with a code up
    /// to it; and those missing.
    pub(super) fn count(&self, f: usize) -> (Vec<usize>, usize) {
        let mut c = vec![0usize; 256];
        let column = self.codes.column(f);
        for &r in self.rows {
            c[column[r as usize] as usize] += 1;
        }
        let missing = c[255];
        let mut upto = 0;
        for k in c.iter_mut().take(255) {
            upto += *k;
            *k = upto;
        }
        (c, missing)
    }
}

/// The split of highest gain among those whose sides hold at least
/// `min_samples_leaf` rows and `min_child_weight` hessian (missing values on
/// the left only where the node has some); ties keep the earlier column and
/// bin, then missing on the right.
/// The value −η G/(H+λ) of a leaf, within the `bounds` monotone splits above it set.
pub(super) fn value(g: f64, h: f64, p: &GbdtParams, bounds: (f64, f64)) -> f64 {
    (-p.learning_rate * g / (h + p.lambda)).clamp(bounds.0, bounds.1)
}

pub(super) fn best_split(hist: &Hist, bins: &[Bins], total: Stat, sizes: &Sizes, p: &GbdtParams, bounds: (f64, f64)) -> Option<Split> {
    let parent = total.score(p.lambda);
    let n = sizes.rows.len();
    let min = p.min_samples_leaf;
    let mut best: Option<Split> = None;
    for (f, b) in bins.iter().enumerate() {
        let nb = b.upper.len();
        if nb < 2 {
            continue;
        }
        let direction = p.monotone.get(f).copied().unwrap_or(0) as f64;
        let h = &hist[f * STRIDE..(f + 1) * STRIDE];
        let missing = h[255];
        // Counted when a candidate needs it: rows up to each bin, and missing.
        let mut counts: Option<(Vec<usize>, usize)> = None;
        let mut left = Stat::default();
        for (bin, s) in h.iter().enumerate().take(nb - 1) {
            left = left.plus(*s);
            for missing_left in [false, true] {
                // A missing slot all zero: missing on the left is the same split.
                if missing_left && missing.g == 0.0 && missing.h == 0.0 {
                    continue;
                }
                let l = if missing_left { left.plus(missing) } else { left };
                let r = total.minus(l);
                if l.h < p.min_child_weight || r.h < p.min_child_weight {
                    continue;
                }
                // A constrained column's children must be ordered its way.
                if direction != 0.0 && direction * (value(r.g, r.h, p, bounds) - value(l.g, l.h, p, bounds)) < 0.0 {
                    continue;
                }
                let gain = l.score(p.lambda) + r.score(p.lambda) - parent;
                // Highest gain; ties keep the earlier column and bin (deterministic).
                if gain <= 1e-12 || best.as_ref().is_some_and(|s| gain <= s.gain) {
                    continue;
                }
                let proven = (!missing_left || sizes.proves(missing.h, 1)) && sizes.proves(l.h, min) && sizes.proves(r.h, min);
                if !proven {
                    let (upto, nmissing) = counts.get_or_insert_with(|| sizes.count(f));
                    let nl = upto[bin] + if missing_left { *nmissing } else { 0 };
                    if (missing_left && *nmissing == 0) || nl < min || n - nl < min {
                        continue;
                    }
                }
                best = Some(Split {
                    gain,
                    feature: f,
                    bin,
                    missing_left,
                    left: l,
                    right: r,
                });
            }
        }
    }
    best
}
