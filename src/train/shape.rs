//! The shape test behind `log1p`: a one-feature logistic fit whose
//! log-likelihood says whether a skewed count is better taken as it is or as
//! `log1p` ([`crate::features::ShapeTest`]).

use ndarray::Array2;

use crate::features::mean_sd;
use crate::metrics;
use crate::model::logistic::{sigmoid, LogisticParams};

/// The shape test as the preprocessing takes it.
pub fn shape_test(labels: &[Option<u8>]) -> crate::features::ShapeTest<'_> {
    crate::features::ShapeTest {
        labels,
        fit: &log_likelihood,
    }
}

/// Log-likelihood of a one-feature logistic regression (lightly regularised) of `y` on `x`.
pub fn log_likelihood(x: &[f64], y: &[u8]) -> f64 {
    let (mean, sd) = mean_sd(x);
    if x.len() < 10 || sd <= 0.0 || y.iter().all(|&v| v == y[0]) {
        return f64::NEG_INFINITY;
    }
    let z = Array2::from_shape_fn((x.len(), 1), |(i, _)| (x[i] - mean) / sd);
    match (LogisticParams {
        c: 100.0,
        ..Default::default()
    })
    .fit(&z.view(), y)
    {
        Ok(m) => {
            let p: Vec<f64> = m.margins(&z.view()).into_iter().map(sigmoid).collect();
            -metrics::log_loss(y, &p) * y.len() as f64
        }
        Err(_) => f64::NEG_INFINITY,
    }
}
