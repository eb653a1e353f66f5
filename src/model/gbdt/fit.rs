//! The boosting loop: bins, gradients, row subsampling, one tree per round,
//! early stopping.

use super::*;

pub(super) fn fit_impl(
    x: &impl DesignRows,
    y: &[u8],
    train: &[usize],
    valid: &[usize],
    rounds: Option<usize>,
    p: GbdtParams,
    truncate: bool,
) -> Result<GbdtModel> {
    let p = p.check()?;
    if train.is_empty() {
        return Err(Error::Fit("no training rows".into()));
    }
    let ncols = x.ncols();
    let n = x.nrows();
    if u32::try_from(n).is_err() {
        return Err(Error::Fit(format!("{n} rows: the trees take at most {} rows", u32::MAX)));
    }
    // Bin codes of every row (train and valid share them), column-major and
    // row-major. Columns are binned on their training rows in parallel, each
    // written straight into the column-major table (the design is never held
    // whole as numbers; a column and its sorted training values are held per
    // thread), which is then copied into the row-major one a block of rows
    // at a time.
    let mut columns = vec![0u8; n * ncols];
    let bins: Vec<Bins> = columns
        .par_chunks_mut(n)
        .take(ncols)
        .enumerate()
        .map(|(j, out)| {
            let col = x.column(j);
            let b = Bins::fit(train.iter().map(|&r| col[r]), p.max_bins);
            for (o, &v) in out.iter_mut().zip(&col) {
                *o = b.bin(v);
            }
            b
        })
        .collect();
    let codes = Codes::from_columns(ncols, columns);
    let rate = train.iter().map(|&r| y[r] as f64).sum::<f64>() / train.len() as f64;
    if rate <= 0.0 || rate >= 1.0 {
        return Err(Error::Fit("the labels hold a single class".into()));
    }
    let base = (rate / (1.0 - rate)).ln();
    let mut margin = vec![base; n];
    let mut grad = vec![(0.0, 0.0); n];
    let mut placed = vec![false; n];
    // A round's sampled rows, and as many for splitting them: allocated once
    // for the fit, each node's rows a range of them.
    let mut rows: Vec<u32> = Vec::with_capacity(train.len());
    let mut scratch = vec![0u32; train.len()];
    let mut trees = Vec::new();
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let max_rounds = rounds.unwrap_or(p.max_rounds);
    let (mut best_loss, mut best_round) = (f64::INFINITY, 0usize);
    for round in 0..max_rounds {
        // Row numbers as u32: half the memory of the node's row lists.
        rows.clear();
        if p.subsample < 1.0 {
            rows.extend(train.iter().filter(|_| rng.gen::<f64>() < p.subsample).map(|&r| r as u32));
        } else {
            rows.extend(train.iter().map(|&r| r as u32));
        }
        // One buffer for every round: fresh pages each round are faulted in
        // (zeroed) again.
        grad.par_iter_mut().zip(&margin).zip(y).for_each(|((gr, &m), &y)| {
            let q = sigmoid(m);
            *gr = (q - y as f64, (q * (1.0 - q)).max(1e-16));
        });
        let sampled = rows.len();
        let (tree, leaf_sizes) = grow(&codes, &bins, &grad, &mut rows, &mut scratch[..sampled], &p);
        // The sampled rows' leaves are known from growing the tree (each
        // leaf's rows are the next range of `rows`); the other rows go down
        // it by their bin codes, consistent with the thresholds.
        placed.fill(false);
        let mut at = 0;
        for (node, size) in tree.nodes.iter().filter(|nd| nd.is_leaf()).zip(leaf_sizes) {
            for &r in &rows[at..at + size] {
                margin[r as usize] += node.value;
                placed[r as usize] = true;
            }
            at += size;
        }
        margin.par_iter_mut().zip(&placed).enumerate().for_each(|(r, (m, &done))| {
            if !done {
                *m += tree.nodes[leaf_by_codes(&tree, &codes, &bins, r)].value;
            }
        });
        trees.push(tree);
        if !valid.is_empty() && rounds.is_none() {
            let loss: f64 = valid
                .iter()
                .map(|&r| {
                    let q = sigmoid(margin[r]).clamp(1e-15, 1.0 - 1e-15);
                    if y[r] == 1 {
                        -q.ln()
                    } else {
                        -(1.0 - q).ln()
                    }
                })
                .sum::<f64>()
                / valid.len() as f64;
            if loss < best_loss - 1e-12 {
                best_loss = loss;
                best_round = round + 1;
            } else if round + 1 - best_round >= p.patience {
                break;
            }
        } else {
            best_round = round + 1;
        }
    }
    if truncate {
        trees.truncate(best_round.max(1));
    }
    Ok(GbdtModel {
        base,
        trees,
        learning_rate: p.learning_rate,
        max_depth: p.max_depth,
    })
}

pub(super) fn leaf_by_codes(tree: &Tree, codes: &Codes, bins: &[Bins], r: usize) -> usize {
    let mut j = 0;
    loop {
        let nd = &tree.nodes[j];
        if nd.is_leaf() {
            return j;
        }
        let f = nd.feature as usize;
        let c = codes.get(r, f);
        let left = if c == u8::MAX {
            nd.missing_left
        } else {
            bins[f].upper[c as usize] <= nd.threshold
        };
        j = if left { nd.left } else { nd.right } as usize;
    }
}
