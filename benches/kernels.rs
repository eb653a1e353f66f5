//! Criterion benchmarks of the kernels: AUC, logistic fit, tree prediction,
//! TreeSHAP and top-k attribution. Data is built outside the timed part with
//! fixed seeds. Run with `cargo bench`; end-to-end figures come from
//! `healthscore bench`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use healthscore::explain::top_k;
use healthscore::explain::treeshap::TreeExplainer;
use healthscore::metrics::roc_auc;
use healthscore::model::gbdt::{fit, GbdtParams};
use healthscore::model::logistic::{sigmoid, LogisticParams};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn data(n: usize, p: usize, seed: u64) -> (Array2<f64>, Vec<u8>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = Array2::from_shape_fn((n, p), |_| rng.gen_range(-2.0..2.0));
    let y = (0..n)
        .map(|i| {
            let z = -1.0 + (0..p).map(|j| x[[i, j]] * if j % 2 == 0 { 0.3 } else { -0.2 }).sum::<f64>() + 0.5 * x[[i, 0]] * x[[i, 1]];
            (rng.gen::<f64>() < sigmoid(z)) as u8
        })
        .collect();
    (x, y)
}

fn kernels(c: &mut Criterion) {
    let (x, y) = data(100_000, 40, 1);
    let scores: Vec<f64> = x.column(0).to_vec();
    c.bench_function("auc 100k", |b| b.iter(|| roc_auc(black_box(&y), black_box(&scores))));

    c.bench_function("logistic fit 100k x 40", |b| {
        b.iter(|| LogisticParams::default().fit(&x.view(), &y).unwrap())
    });

    let (xs, ys) = data(20_000, 40, 2);
    let rows: Vec<usize> = (0..xs.nrows()).collect();
    let params = GbdtParams {
        max_depth: 6,
        learning_rate: 0.1,
        subsample: 1.0,
        ..Default::default()
    };
    let model = fit(&xs.view(), &ys, &rows, &[], Some(100), params).unwrap();
    let small = xs.slice(ndarray::s![0..10_000, ..]).to_owned();
    c.bench_function("tree prediction 10k rows, 100 trees depth 6", |b| {
        b.iter(|| model.margins(&small.view()))
    });

    c.bench_function("TreeSHAP tables, 100 trees depth 6", |b| b.iter(|| TreeExplainer::new(&model)));
    let explainer = TreeExplainer::new(&model);
    let block: Vec<f64> = xs.slice(ndarray::s![0..1_000, ..]).iter().copied().collect();
    c.bench_function("TreeSHAP 1k rows, 100 trees depth 6", |b| {
        b.iter(|| explainer.shap_block(black_box(&block), 40))
    });

    let contributions: Vec<Vec<f64>> = (0..10_000)
        .map(|i| (0..40).map(|j| ((i * 31 + j * 17) % 97) as f64 - 48.0).collect())
        .collect();
    c.bench_function("top-5 of 40 contributions, 10k rows", |b| {
        b.iter(|| contributions.iter().map(|r| top_k(black_box(r), 5).len()).sum::<usize>())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = kernels
}
criterion_main!(benches);
