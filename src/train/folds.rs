//! Cross-validation folds that are group-aware and out-of-time.
//!
//! Accounts are dealt into K groups (stratified by whether the account ever has
//! label 1, shuffled with the seed). Fold k validates the accounts of group k
//! and trains on the other groups, so an account is never on both sides.
//! With snapshot dates, fold k also has a cutoff date: it trains only on rows
//! before the cutoff and validates only on rows at or after it, so every
//! validation row is scored by a model that saw nothing of its future. The
//! cutoffs step through the later half of the dates. Every labeled row is
//! validated at most once, which gives one out-of-fold prediction per row.
//!
//! scikit-learn's `GroupKFold` ignores time and `TimeSeriesSplit` ignores groups;
//! this is the splitter that does both.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// One fold: indices into the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Fold {
    pub train: Vec<usize>,
    pub valid: Vec<usize>,
}

/// Builds up to `k` folds over the labeled `rows`.
///
/// ```
/// use healthscore::train::folds::folds;
/// let ids: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
/// let y = [Some(0), Some(1), Some(0), Some(1)];
/// let f = folds(&ids, None, &[0, 1, 2, 3], &y, 2, 1);
/// assert_eq!(f.len(), 2);
/// ```
pub fn folds(ids: &[String], dates: Option<&[NaiveDate]>, rows: &[usize], labels: &[Option<u8>], k: usize, seed: u64) -> Vec<Fold> {
    // Stratified groups: accounts with a positive label dealt separately.
    let mut positive: BTreeMap<&str, bool> = BTreeMap::new();
    for &r in rows {
        let e = positive.entry(ids[r].as_str()).or_insert(false);
        *e |= labels[r] == Some(1);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut pos, mut neg): (Vec<&str>, Vec<&str>) = (vec![], vec![]);
    for (id, p) in &positive {
        if *p {
            pos.push(id)
        } else {
            neg.push(id)
        }
    }
    pos.shuffle(&mut rng);
    neg.shuffle(&mut rng);
    let k = k.min(positive.len()).max(1);
    let group: BTreeMap<&str, usize> = pos.into_iter().chain(neg).enumerate().map(|(i, id)| (id, i % k)).collect();

    let distinct: Vec<NaiveDate> = match dates {
        Some(d) => rows.iter().map(|&r| d[r]).collect::<BTreeSet<_>>().into_iter().collect(),
        None => vec![],
    };
    let cutoffs: Option<Vec<NaiveDate>> = (distinct.len() >= 2).then(|| {
        // Cutoffs spread over the later half of the dates (never the first).
        let t = distinct.len();
        let first = (2 * t / 3).max(1);
        (0..k)
            .map(|i| {
                let span = t - 1 - first;
                let idx = if k == 1 {
                    first
                } else {
                    first + (i * span + (k - 1) / 2) / (k - 1)
                };
                distinct[idx.min(t - 1)]
            })
            .collect()
    });
    let mut out = Vec::with_capacity(k);
    for g in 0..k {
        let (mut train, mut valid) = (vec![], vec![]);
        for &r in rows {
            let in_group = group[ids[r].as_str()] == g;
            match (&cutoffs, dates) {
                (Some(c), Some(d)) => {
                    if in_group && d[r] >= c[g] {
                        valid.push(r);
                    } else if !in_group && d[r] < c[g] {
                        train.push(r);
                    }
                }
                _ => {
                    if in_group {
                        valid.push(r)
                    } else {
                        train.push(r)
                    }
                }
            }
        }
        if !train.is_empty() && !valid.is_empty() {
            out.push(Fold { train, valid });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn history() -> (Vec<String>, Vec<NaiveDate>, Vec<Option<u8>>) {
        let mut ids = vec![];
        let mut dates = vec![];
        let mut y = vec![];
        for q in 0..6u32 {
            for a in 0..40 {
                ids.push(format!("A{a}"));
                dates.push(NaiveDate::from_ymd_opt(2025, 1 + q * 2, 1).unwrap());
                y.push(Some(((a + q) % 5 == 0) as u8));
            }
        }
        (ids, dates, y)
    }

    #[test]
    fn no_account_on_both_sides_and_no_future_in_training() {
        let (ids, dates, y) = history();
        let rows: Vec<usize> = (0..ids.len()).collect();
        let f = folds(&ids, Some(&dates), &rows, &y, 4, 9);
        assert_eq!(f.len(), 4);
        let mut validated = HashSet::new();
        for fold in &f {
            let train_ids: HashSet<&str> = fold.train.iter().map(|&r| ids[r].as_str()).collect();
            assert!(fold.valid.iter().all(|&r| !train_ids.contains(ids[r].as_str())));
            let last_train = fold.train.iter().map(|&r| dates[r]).max().unwrap();
            let first_valid = fold.valid.iter().map(|&r| dates[r]).min().unwrap();
            assert!(last_train < first_valid);
            for &r in &fold.valid {
                assert!(validated.insert(r), "row {r} validated twice");
            }
        }
    }

    #[test]
    fn without_dates_every_row_is_validated_once() {
        let (ids, _, y) = history();
        let rows: Vec<usize> = (0..ids.len()).collect();
        let f = folds(&ids, None, &rows, &y, 5, 9);
        let n: usize = f.iter().map(|f| f.valid.len()).sum();
        assert_eq!(n, rows.len());
        assert_eq!(f, folds(&ids, None, &rows, &y, 5, 9), "same seed, same folds");
    }
}
