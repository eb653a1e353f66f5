//! L2-regularised logistic regression, fitted with linfa-logistic.
//!
//! Minimises Σᵢ log(1 + exp(−ỹᵢ (b + xᵢᵀw))) + (1 / 2C) ‖w‖², ỹ ∈ {−1, 1}: the
//! objective of scikit-learn's `LogisticRegression(C=C)` (linfa's `alpha` is 1/C).
//!
//! linfa-logistic 0.8.1 calls "positive" the more frequent label, not `true`
//! (rust-ml/linfa#393): with a churn rate under 50% its probabilities are
//! P(renewed). [`LogisticParams::fit`] reads which class linfa chose and flips
//! the coefficients so that [`LogisticModel`] always gives the log-odds of label 1.
//!
//! Two solvers minimise the same objective: [`Solver::Newton`] (the default), a
//! damped Newton method on the small (p+1)×(p+1) Hessian with one fused,
//! row-parallel pass over the data per iteration for loss, gradient and
//! Hessian; and [`Solver::Linfa`], linfa-logistic's L-BFGS, kept as the
//! reference the Newton solver is tested against. Newton converges in about ten
//! passes where L-BFGS needs hundreds, which is what makes cross-validating a
//! grid of C values cheap. The intercept is not penalised (as in scikit-learn).

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

use crate::design::DesignRows;
pub use crate::metrics::{logit, sigmoid};

/// Which optimiser fits the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Solver {
    /// Damped Newton on the exact Hessian (default).
    Newton,
    /// linfa-logistic's L-BFGS (reference).
    Linfa,
}

/// Unchecked hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogisticParams {
    /// Inverse regularisation strength (scikit-learn's C).
    pub c: f64,
    pub max_iterations: u64,
    pub gradient_tolerance: f64,
    pub solver: Solver,
}

impl Default for LogisticParams {
    fn default() -> Self {
        LogisticParams {
            c: 1.0,
            max_iterations: 100,
            gradient_tolerance: 1e-6,
            solver: Solver::Newton,
        }
    }
}

/// Hyperparameters that passed [`LogisticParams::check`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValidLogisticParams(LogisticParams);

impl LogisticParams {
    /// Checks the hyperparameters.
    pub fn check(self) -> Result<ValidLogisticParams> {
        if !(self.c.is_finite() && self.c > 0.0) {
            return Err(Error::Param(format!("C must be positive and finite, found {}", self.c)));
        }
        if self.max_iterations == 0 || self.gradient_tolerance.is_nan() || self.gradient_tolerance <= 0.0 {
            return Err(Error::Param("max_iterations and gradient_tolerance must be positive".into()));
        }
        Ok(ValidLogisticParams(self))
    }

    /// Checks, then fits on a design matrix and 0/1 labels.
    ///
    /// ```
    /// use healthscore::model::logistic::LogisticParams;
    /// use ndarray::array;
    /// let x = array![[0.0], [1.0], [2.0], [3.0], [0.5], [2.5]];
    /// let y = [0, 0, 1, 1, 1, 0];
    /// let m = LogisticParams::default().fit(&x.view(), &y)?;
    /// assert_eq!(m.coef.len(), 1);
    /// # Ok::<(), healthscore::Error>(())
    /// ```
    pub fn fit(self, x: &ArrayView2<f64>, y: &[u8]) -> Result<LogisticModel> {
        self.check()?.fit(x, y)
    }

    /// As [`LogisticParams::fit`], on design rows handed out chunk by chunk:
    /// the same model, without the whole matrix in memory.
    ///
    /// ```
    /// use healthscore::model::logistic::LogisticParams;
    /// use ndarray::array;
    /// let x = array![[0.0], [1.0], [2.0], [3.0], [0.5], [2.5]];
    /// let y = [0, 0, 1, 1, 1, 0];
    /// let a = LogisticParams::default().fit(&x.view(), &y)?;
    /// let b = LogisticParams::default().fit_rows(&x.view(), &y)?;
    /// assert_eq!(a, b);
    /// # Ok::<(), healthscore::Error>(())
    /// ```
    pub fn fit_rows(self, x: &impl DesignRows, y: &[u8]) -> Result<LogisticModel> {
        self.check()?.fit_rows(x, y)
    }
}

impl ValidLogisticParams {
    /// Fits the model.
    pub fn fit(&self, x: &ArrayView2<f64>, y: &[u8]) -> Result<LogisticModel> {
        self.fit_rows(x, y)
    }

    /// Fits the model on design rows handed out chunk by chunk.
    pub fn fit_rows(&self, x: &impl DesignRows, y: &[u8]) -> Result<LogisticModel> {
        let p = self.0;
        if x.nrows() != y.len() || y.is_empty() {
            return Err(Error::Fit(format!("{} rows of features but {} labels", x.nrows(), y.len())));
        }
        let targets: Array1<bool> = y.iter().map(|&v| v == 1).collect();
        if targets.iter().all(|&t| t) || targets.iter().all(|&t| !t) {
            return Err(Error::Fit("the labels hold a single class".into()));
        }
        if p.solver == Solver::Newton {
            return newton(x, y, p);
        }
        let data = Dataset::new(x.rows(0..x.nrows()).into_owned(), targets);
        let fitted = LogisticRegression::default()
            .alpha(1.0 / p.c)
            .max_iterations(p.max_iterations)
            .gradient_tolerance(p.gradient_tolerance)
            .fit(&data)
            .map_err(|e| Error::Fit(e.to_string()))?;
        // linfa's probabilities refer to `labels().pos.class`; make them P(label 1).
        let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
        Ok(LogisticModel {
            intercept: sign * fitted.intercept(),
            coef: fitted.params().iter().map(|w| sign * w).collect(),
            c: p.c,
        })
    }
}

/// Loss, gradient and Hessian of the objective at (b, w), in one pass over the rows.
/// Index 0 of the gradient and Hessian is the intercept.
///
/// Rows go in fixed chunks; each chunk's Hessian is the Gram matrix of its rows
/// scaled by √(p(1 − p)) (a blocked, vectorised matrix product), and the chunks
/// are summed in order, so the result does not depend on threading.
fn loss_grad_hess(x: &impl DesignRows, y: &[u8], theta: &[f64], lambda: f64) -> (f64, Vec<f64>, Vec<f64>) {
    use ndarray::{linalg::general_mat_mul, Array2};
    use rayon::prelude::*;
    let k = theta.len();
    let chunk = crate::design::DESIGN_CHUNK;
    let w_coef = ndarray::ArrayView1::from(&theta[1..]);
    let parts: Vec<(f64, Vec<f64>, Array2<f64>)> = (0..x.nrows().div_ceil(chunk))
        .into_par_iter()
        .map(|c| {
            let rows = c * chunk..((c + 1) * chunk).min(x.nrows());
            let xc = x.rows(rows.clone());
            let z = xc.dot(&w_coef);
            let mut loss = 0.0;
            let mut r = vec![0.0; xc.nrows()];
            // Rows scaled by √w, with the intercept's column in front.
            let mut a = Array2::<f64>::zeros((xc.nrows(), k));
            for (i, ((zi, ri), mut arow)) in z.iter().zip(r.iter_mut()).zip(a.rows_mut()).enumerate() {
                let zi = zi + theta[0];
                let yi = y[rows.start + i] as f64;
                // log(1 + e^z) - y z, computed stably.
                loss += if zi > 0.0 { zi + (-zi).exp().ln_1p() } else { zi.exp().ln_1p() } - yi * zi;
                let p = sigmoid(zi);
                *ri = p - yi;
                let sw = (p * (1.0 - p)).sqrt();
                arow[0] = sw;
                for (d, v) in arow.iter_mut().skip(1).zip(xc.row(i)) {
                    *d = sw * v;
                }
            }
            let mut g = vec![r.iter().sum::<f64>()];
            g.extend(xc.t().dot(&ndarray::ArrayView1::from(&r)));
            let mut h = Array2::<f64>::zeros((k, k));
            general_mat_mul(1.0, &a.t(), &a, 0.0, &mut h);
            (loss, g, h)
        })
        .collect();
    let (mut loss, mut g, mut h) = (0.0, vec![0.0; k], vec![0.0; k * k]);
    for (l, pg, ph) in parts {
        loss += l;
        g.iter_mut().zip(&pg).for_each(|(a, b)| *a += b);
        h.iter_mut().zip(ph.iter()).for_each(|(a, b)| *a += b);
    }
    for a in 1..k {
        loss += 0.5 * lambda * theta[a] * theta[a];
        g[a] += lambda * theta[a];
        h[a * k + a] += lambda;
    }
    (loss, g, h)
}

/// Solves H d = g for symmetric positive definite H (Cholesky), with a small ridge
/// added when H is numerically singular.
fn cholesky_solve(h: &[f64], g: &[f64]) -> Option<Vec<f64>> {
    let k = g.len();
    for ridge in [0.0, 1e-10, 1e-6, 1e-3] {
        let mut l = vec![0.0; k * k];
        let mut ok = true;
        'outer: for i in 0..k {
            for j in 0..=i {
                let mut s = h[i * k + j] + if i == j { ridge * (1.0 + h[i * k + i].abs()) } else { 0.0 };
                for m in 0..j {
                    s -= l[i * k + m] * l[j * k + m];
                }
                if i == j {
                    if s <= 0.0 {
                        ok = false;
                        break 'outer;
                    }
                    l[i * k + i] = s.sqrt();
                } else {
                    l[i * k + j] = s / l[j * k + j];
                }
            }
        }
        if !ok {
            continue;
        }
        let mut z = vec![0.0; k];
        for i in 0..k {
            let s: f64 = (0..i).map(|m| l[i * k + m] * z[m]).sum();
            z[i] = (g[i] - s) / l[i * k + i];
        }
        let mut d = vec![0.0; k];
        for i in (0..k).rev() {
            let s: f64 = (i + 1..k).map(|m| l[m * k + i] * d[m]).sum();
            d[i] = (z[i] - s) / l[i * k + i];
        }
        return Some(d);
    }
    None
}

/// Damped Newton: full steps, halved until the objective decreases; stops when
/// the largest gradient component falls below the tolerance (scaled by n).
fn newton(x: &impl DesignRows, y: &[u8], p: LogisticParams) -> Result<LogisticModel> {
    let k = x.ncols() + 1;
    let lambda = 1.0 / p.c;
    let mean = y.iter().map(|&v| v as f64).sum::<f64>() / y.len() as f64;
    let mut theta = vec![0.0; k];
    theta[0] = (mean / (1.0 - mean)).ln();
    let (mut loss, mut g, mut h) = loss_grad_hess(x, y, &theta, lambda);
    let tol = p.gradient_tolerance * (y.len() as f64).max(1.0);
    for _ in 0..p.max_iterations {
        if g.iter().all(|v| v.abs() <= tol) {
            break;
        }
        let d = cholesky_solve(&h, &g).ok_or_else(|| Error::Fit("the Hessian is singular".into()))?;
        let mut step = 1.0;
        let mut accepted = false;
        for _ in 0..40 {
            let cand: Vec<f64> = theta.iter().zip(&d).map(|(t, d)| t - step * d).collect();
            let (l2, g2, h2) = loss_grad_hess(x, y, &cand, lambda);
            if l2.is_finite() && l2 <= loss + 1e-12 * loss.abs() {
                theta = cand;
                (loss, g, h) = (l2, g2, h2);
                accepted = true;
                break;
            }
            step *= 0.5;
        }
        if !accepted {
            break;
        }
    }
    if theta.iter().any(|v| !v.is_finite()) {
        return Err(Error::Fit("the coefficients diverged".into()));
    }
    Ok(LogisticModel {
        intercept: theta[0],
        coef: theta[1..].to_vec(),
        c: p.c,
    })
}

/// A fitted logistic model: log-odds of label 1 = intercept + coef · x.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticModel {
    pub intercept: f64,
    /// One coefficient per design column.
    pub coef: Vec<f64>,
    /// The C it was fitted with.
    pub c: f64,
}

impl LogisticModel {
    /// Log-odds of one design row.
    pub fn margin_row(&self, x: ArrayView1<f64>) -> f64 {
        self.intercept + x.iter().zip(&self.coef).map(|(a, b)| a * b).sum::<f64>()
    }

    /// Log-odds of every row.
    pub fn margins(&self, x: &ArrayView2<f64>) -> Vec<f64> {
        x.rows().into_iter().map(|r| self.margin_row(r)).collect()
    }

    /// Log-odds of every row of design rows handed out chunk by chunk (the
    /// same values as [`LogisticModel::margins`] on the whole matrix).
    pub fn margins_rows(&self, x: &impl DesignRows) -> Vec<f64> {
        crate::design::map_chunks(x, |chunk| self.margins(&chunk))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn probabilities_refer_to_label_one_whatever_the_majority() {
        // Churn is the minority here; linfa's "positive" class is the majority.
        let x = array![[0.0], [0.2], [0.4], [0.6], [0.8], [1.0], [1.2], [1.4], [3.0], [3.2]];
        let y = [0, 0, 0, 0, 0, 0, 0, 1, 1, 1];
        let m = LogisticParams {
            c: 100.0,
            ..Default::default()
        }
        .fit(&x.view(), &y)
        .unwrap();
        assert!(m.coef[0] > 0.0, "higher x means more churn: {m:?}");
        let p: Vec<f64> = m.margins(&x.view()).into_iter().map(sigmoid).collect();
        assert!(crate::metrics::roc_auc(&y, &p) > 0.9);
        // And with the labels swapped the sign flips.
        let y2: Vec<u8> = y.iter().map(|v| 1 - v).collect();
        let m2 = LogisticParams {
            c: 100.0,
            ..Default::default()
        }
        .fit(&x.view(), &y2)
        .unwrap();
        assert!(m2.coef[0] < 0.0);
    }

    #[test]
    fn newton_agrees_with_linfa() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let n = 2000;
        let x = ndarray::Array2::from_shape_fn((n, 4), |_| rng.gen_range(-2.0..2.0));
        let y: Vec<u8> = (0..n)
            .map(|i| (rng.gen::<f64>() < sigmoid(-1.0 + 0.8 * x[[i, 0]] - 0.5 * x[[i, 1]] + 0.1 * x[[i, 2]])) as u8)
            .collect();
        for c in [0.01, 1.0] {
            let a = LogisticParams {
                c,
                gradient_tolerance: 1e-10,
                ..Default::default()
            }
            .fit(&x.view(), &y)
            .unwrap();
            let b = LogisticParams {
                c,
                solver: Solver::Linfa,
                max_iterations: 5000,
                gradient_tolerance: 1e-8,
            }
            .fit(&x.view(), &y)
            .unwrap();
            for (u, v) in a.coef.iter().zip(&b.coef) {
                assert!((u - v).abs() < 1e-3, "C={c}: {a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn matches_scikit_learn() {
        // sklearn.linear_model.LogisticRegression(C=1.0, tol=1e-10).fit(X, y) on this data gives
        // coef_ = [[1.31722884, -0.18533232]], intercept_ = [-2.13305155].
        let x = array![
            [0.0, 1.0],
            [1.0, 0.0],
            [2.0, 1.0],
            [3.0, 0.0],
            [0.5, 2.0],
            [2.5, 0.5],
            [1.5, 1.5],
            [3.5, 2.0]
        ];
        let y = [0, 0, 1, 1, 0, 1, 0, 1];
        let m = LogisticParams {
            c: 1.0,
            max_iterations: 1000,
            gradient_tolerance: 1e-10,
            ..Default::default()
        }
        .fit(&x.view(), &y)
        .unwrap();
        assert!((m.coef[0] - 1.31722884).abs() < 1e-6, "{m:?}");
        assert!((m.coef[1] + 0.18533232).abs() < 1e-6, "{m:?}");
        assert!((m.intercept + 2.13305155).abs() < 1e-6, "{m:?}");
    }
}
