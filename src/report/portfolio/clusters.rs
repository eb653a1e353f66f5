//! Usage clusters: accounts grouped by how they use the product. k-means
//! (smartcore, seeded) on the engagement, usage and adoption features,
//! standardised as the version's preprocessing standardises them; k chosen
//! by the silhouette in 3..=8; a 2-D map of the clusters by PCA (smartcore).
//!
//! The fit and the silhouette run on a seeded sample of at most
//! [`FIT_ROWS`] accounts (the silhouette is quadratic in the rows), and every
//! account is then assigned to its nearest centre.

use std::collections::HashMap;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use smartcore::cluster::kmeans::{KMeans, KMeansParameters};
use smartcore::decomposition::pca::{PCAParameters, PCA};
use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;

use crate::data::spec::Category;
use crate::data::table::Table;
use crate::data::values::FeatureValues;
use crate::features::{FeatureTransform, Preprocessor};

/// Accounts the clusters are fitted on, at most (a seeded sample beyond).
pub const FIT_ROWS: usize = 4_000;

/// The categories whose features say how an account uses the product.
pub const USAGE_CATEGORIES: [Category; 3] = [Category::Engagement, Category::Usage, Category::Adoption];

/// Each account's standardised usage features, by account id.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageFeatures {
    pub names: Vec<String>,
    pub by_id: HashMap<String, Vec<f64>>,
}

impl UsageFeatures {
    /// The numeric engagement, usage and adoption features of `table`, each
    /// imputed, transformed and standardised as `pre` (a version's fitted
    /// preprocessing) does it; None with fewer than two such features. A
    /// table with several snapshots of an account keeps its latest.
    pub fn from_table(pre: &Preprocessor, table: &Table) -> Option<UsageFeatures> {
        let mut names = vec![];
        let mut columns: Vec<Vec<f64>> = vec![];
        for t in &pre.features {
            let FeatureTransform::Numeric { name, category, sd, .. } = t else {
                continue;
            };
            let Some(FeatureValues::Numeric(v)) = table.feature(name).map(|f| &f.values) else {
                continue;
            };
            if !USAGE_CATEGORIES.contains(category) || *sd <= 0.0 {
                continue;
            }
            names.push(name.clone());
            columns.push(v.iter().filter_map(|&x| t.standardised(x)).collect());
        }
        if names.len() < 2 {
            return None;
        }
        let by_id = table
            .latest_rows()
            .into_iter()
            .map(|(id, r)| (id.to_string(), columns.iter().map(|c| c[r]).collect()))
            .collect();
        Some(UsageFeatures { names, by_id })
    }
}

/// The clusters of a portfolio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageClusters {
    /// The standardised features clustered on.
    pub features: Vec<String>,
    /// Accounts clustered (those of the scores found in the feature table).
    pub accounts: usize,
    pub k: usize,
    /// Mean silhouette of the chosen k on the fitting sample.
    pub silhouette: f64,
    /// (k, mean silhouette) of every k tried.
    pub tried: Vec<(usize, f64)>,
    /// Largest first.
    pub clusters: Vec<UsageCluster>,
    /// The fitting sample on the first two principal components: x, y, the
    /// cluster (index into `clusters`) and the band (0 red, 1 yellow, 2
    /// green), for the page's map; not in the JSON.
    #[serde(skip)]
    pub map: Vec<(f64, f64, usize, Option<usize>)>,
}

/// One cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageCluster {
    /// `1`, `2`, ... by size.
    pub name: String,
    /// What sets it apart, in words: its two features furthest from the
    /// portfolio's mean, e.g. `high logins_30d, low license_utilization`.
    pub label: String,
    pub accounts: usize,
    pub arr: f64,
    pub expected_arr_at_risk: f64,
    pub mean_risk: f64,
    pub mean_upsell: Option<f64>,
    /// Accounts in the red, yellow and green bands.
    pub bands: [usize; 3],
    /// Every feature's mean (standardised) in the cluster, furthest from 0 first.
    pub distinct: Vec<(String, f64)>,
}

/// What [`clusters`] needs of each scored account.
pub struct Accounts<'a> {
    pub ids: &'a [String],
    pub risk: &'a dyn Fn(usize) -> f64,
    pub upsell: Option<&'a dyn Fn(usize) -> f64>,
    pub band: &'a dyn Fn(usize) -> Option<usize>,
    pub arr: &'a [f64],
}

/// Silhouette of a clustering: mean over rows of (b − a) / max(a, b), with a
/// the mean distance to the row's own cluster and b to the nearest other.
fn silhouette(x: &[Vec<f64>], labels: &[usize], k: usize) -> f64 {
    let n = x.len();
    let dist = |i: usize, j: usize| x[i].iter().zip(&x[j]).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
    let mut total = 0.0;
    for i in 0..n {
        let mut sum = vec![0.0; k];
        let mut count = vec![0usize; k];
        for j in 0..n {
            if j != i {
                sum[labels[j]] += dist(i, j);
                count[labels[j]] += 1;
            }
        }
        let own = labels[i];
        if count[own] == 0 {
            continue;
        }
        let a = sum[own] / count[own] as f64;
        let b = (0..k)
            .filter(|&c| c != own && count[c] > 0)
            .map(|c| sum[c] / count[c] as f64)
            .fold(f64::INFINITY, f64::min);
        if b.is_finite() && a.max(b) > 0.0 {
            total += (b - a) / a.max(b);
        }
    }
    total / n as f64
}

fn matrix(rows: &[Vec<f64>]) -> Option<DenseMatrix<f64>> {
    DenseMatrix::from_2d_vec(&rows.to_vec()).ok()
}

/// Nearest centre of each row.
fn assign(rows: &[Vec<f64>], centres: &[Vec<f64>]) -> Vec<usize> {
    rows.iter()
        .map(|r| {
            (0..centres.len())
                .min_by(|&a, &b| {
                    let d = |c: &Vec<f64>| r.iter().zip(c).map(|(x, y)| (x - y) * (x - y)).sum::<f64>();
                    d(&centres[a]).total_cmp(&d(&centres[b]))
                })
                .expect("k ≥ 2")
        })
        .collect()
}

/// Mean of the rows of each cluster.
fn centres(rows: &[Vec<f64>], labels: &[usize], k: usize) -> Vec<Vec<f64>> {
    let d = rows.first().map_or(0, Vec::len);
    let mut c = vec![vec![0.0; d]; k];
    let mut n = vec![0usize; k];
    for (r, &l) in rows.iter().zip(labels) {
        n[l] += 1;
        for (s, v) in c[l].iter_mut().zip(r) {
            *s += v;
        }
    }
    for (c, n) in c.iter_mut().zip(n) {
        c.iter_mut().for_each(|v| *v /= n.max(1) as f64);
    }
    c
}

/// The usage clusters of the scored accounts found in `features`; None when
/// fewer than 50 accounts are found or no k gives two non-empty clusters.
pub fn clusters(accounts: &Accounts<'_>, features: &UsageFeatures, seed: u64) -> Option<UsageClusters> {
    let found: Vec<usize> = (0..accounts.ids.len())
        .filter(|&i| features.by_id.contains_key(&accounts.ids[i]))
        .collect();
    if found.len() < 50 {
        return None;
    }
    let rows: Vec<Vec<f64>> = found.iter().map(|&i| features.by_id[&accounts.ids[i]].clone()).collect();
    let mut sample: Vec<usize> = (0..rows.len()).collect();
    if sample.len() > FIT_ROWS {
        sample.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        sample.truncate(FIT_ROWS);
        sample.sort_unstable();
    }
    let fit_rows: Vec<Vec<f64>> = sample.iter().map(|&i| rows[i].clone()).collect();
    let x = matrix(&fit_rows)?;
    let mut tried = vec![];
    let mut best: Option<(usize, f64, Vec<usize>)> = None;
    for k in 3..=8.min(fit_rows.len() / 10) {
        let params = KMeansParameters {
            k,
            max_iter: 100,
            seed: Some(seed),
        };
        let Ok(model) = KMeans::<f64, u32, DenseMatrix<f64>, Vec<u32>>::fit(&x, params) else {
            continue;
        };
        let Ok(labels) = model.predict(&x) else { continue };
        let labels: Vec<usize> = labels.iter().map(|&l| l as usize).collect();
        let s = silhouette(&fit_rows, &labels, k);
        tried.push((k, s));
        if best.as_ref().is_none_or(|(_, b, _)| s > *b) {
            best = Some((k, s, labels));
        }
    }
    let (k, silhouette, fit_labels) = best?;
    // Every account to its nearest centre; clusters numbered by size.
    let centre = centres(&fit_rows, &fit_labels, k);
    let labels = assign(&rows, &centre);
    let mut size = vec![0usize; k];
    labels.iter().for_each(|&l| size[l] += 1);
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| size[b].cmp(&size[a]).then(a.cmp(&b)));
    let rank: Vec<usize> = {
        let mut r = vec![0; k];
        order.iter().enumerate().for_each(|(i, &c)| r[c] = i);
        r
    };
    let labels: Vec<usize> = labels.iter().map(|&l| rank[l]).collect();
    let centre = centres(&rows, &labels, k);
    let clusters = (0..k)
        .map(|c| {
            let members: Vec<usize> = (0..rows.len()).filter(|&r| labels[r] == c).map(|r| found[r]).collect();
            let mut distinct: Vec<(String, f64)> = features.names.iter().cloned().zip(centre[c].iter().copied()).collect();
            distinct.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
            let label = distinct
                .iter()
                .take(2)
                .map(|(f, z)| format!("{} {f}", if *z >= 0.0 { "high" } else { "low" }))
                .collect::<Vec<_>>()
                .join(", ");
            let mut bands = [0usize; 3];
            members.iter().filter_map(|&i| (accounts.band)(i)).for_each(|b| bands[b] += 1);
            let n = members.len().max(1) as f64;
            UsageCluster {
                name: (c + 1).to_string(),
                label,
                accounts: members.len(),
                arr: members.iter().map(|&i| accounts.arr[i]).sum(),
                expected_arr_at_risk: members.iter().map(|&i| (accounts.risk)(i) * accounts.arr[i]).sum(),
                mean_risk: members.iter().map(|&i| (accounts.risk)(i)).sum::<f64>() / n,
                mean_upsell: accounts.upsell.map(|u| members.iter().map(|&i| u(i)).sum::<f64>() / n),
                bands,
                distinct,
            }
        })
        .collect();
    // The map: the fitting sample on its first two principal components.
    let pca = PCA::fit(&x, PCAParameters::default().with_n_components(2)).ok()?;
    let xy = pca.transform(&x).ok()?;
    let map = (0..fit_rows.len())
        .map(|s| {
            let i = sample[s];
            (*xy.get((s, 0)), *xy.get((s, 1)), labels[i], (accounts.band)(found[i]))
        })
        .collect();
    Some(UsageClusters {
        features: features.names.clone(),
        accounts: rows.len(),
        k,
        silhouette,
        tried,
        clusters,
        map,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, Normal};

    /// Four groups of accounts around well-apart centres in three features.
    fn grouped(n: usize, seed: u64) -> (Vec<String>, UsageFeatures) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let noise = Normal::new(0.0, 0.3).unwrap();
        let centres = [[2.0, 0.0, 0.0], [-2.0, 0.0, 0.0], [0.0, 2.0, -1.0], [0.0, -2.0, 1.0]];
        let ids: Vec<String> = (0..n).map(|i| format!("A{i}")).collect();
        let by_id = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), centres[i % 4].iter().map(|c| c + noise.sample(&mut rng)).collect()))
            .collect();
        let names = vec!["logins".into(), "seats".into(), "api".into()];
        (ids, UsageFeatures { names, by_id })
    }

    fn run(ids: &[String], f: &UsageFeatures, seed: u64) -> UsageClusters {
        let arr = vec![1.0; ids.len()];
        let risk = |i: usize| (i % 10) as f64 / 10.0;
        let band = |i: usize| Some(i % 3);
        let a = Accounts {
            ids,
            risk: &risk,
            upsell: None,
            band: &band,
            arr: &arr,
        };
        clusters(&a, f, seed).expect("clusters")
    }

    #[test]
    fn the_same_seed_gives_the_same_clusters_and_well_apart_groups_are_found() {
        let (ids, f) = grouped(6_000, 3);
        let a = run(&ids, &f, 42);
        assert_eq!(a, run(&ids, &f, 42));
        assert_eq!(a.k, 4, "silhouettes {:?}", a.tried);
        assert_eq!(a.clusters.iter().map(|c| c.accounts).sum::<usize>(), 6_000);
        assert!(
            a.clusters.iter().all(|c| c.accounts == 1_500),
            "{:?}",
            a.clusters.iter().map(|c| c.accounts).collect::<Vec<_>>()
        );
        assert_eq!(a.map.len(), FIT_ROWS);
        // The group around (2, 0, 0) is labelled by its high logins.
        assert!(
            a.clusters.iter().any(|c| c.label.starts_with("high logins")),
            "{:?}",
            a.clusters.iter().map(|c| &c.label).collect::<Vec<_>>()
        );
    }

    #[test]
    fn too_few_accounts_give_no_clusters() {
        let (ids, f) = grouped(40, 1);
        let arr = vec![1.0; ids.len()];
        let a = Accounts {
            ids: &ids,
            risk: &|_| 0.1,
            upsell: None,
            band: &|_| Some(2),
            arr: &arr,
        };
        assert!(clusters(&a, &f, 1).is_none());
    }
}
