//! Checks of the live data against the version's training data: unknown
//! categories, out-of-range values, missing columns, drift.

use super::*;

/// Drift and schema checks of the scored table against the training data:
/// unseen categories, values far out of range, PSI per feature.
pub fn data_checks(loaded: &Loaded, t: &Table, summary: &mut ScoreSummary) {
    let mut checks = DataChecks::new(loaded);
    checks.add(t);
    checks.finish(summary);
}

/// The data checks of [`data_checks`], gathered block by block.
pub(super) struct DataChecks<'a> {
    loaded: &'a Loaded,
    unseen: BTreeMap<String, usize>,
    out_of_range: BTreeMap<String, usize>,
    /// Live counts per reference feature (None until a column of its kind is seen).
    live: Vec<Option<LiveCounts>>,
}

impl<'a> DataChecks<'a> {
    pub(super) fn new(loaded: &'a Loaded) -> DataChecks<'a> {
        DataChecks {
            loaded,
            unseen: BTreeMap::new(),
            out_of_range: BTreeMap::new(),
            live: vec![None; loaded.manifest.reference.len()],
        }
    }

    pub(super) fn add(&mut self, t: &Table) {
        let pooled = self
            .loaded
            .model(Target::Risk)
            .or(self.loaded.model(Target::Upsell))
            .map(|m| &m.pooled.preprocessor);
        if let Some(pre) = pooled {
            for (f, n) in pre.unseen_levels(t) {
                *self.unseen.entry(f).or_default() += n;
            }
            for (f, n) in pre.out_of_range(t) {
                *self.out_of_range.entry(f).or_default() += n;
            }
        }
        self.loaded
            .manifest
            .reference
            .par_iter()
            .zip(self.live.par_iter_mut())
            .for_each(|(r, live)| {
                let Some(v) = t.feature(&r.name) else { return };
                let mut counts = live.take().unwrap_or_default();
                if r.count(&v.values, &mut counts) {
                    *live = Some(counts);
                }
            });
    }

    pub(super) fn finish(self, summary: &mut ScoreSummary) {
        summary.unseen_categories = self.unseen;
        summary.out_of_range = self.out_of_range;
        let mut drift: Vec<Drift> = self
            .loaded
            .manifest
            .reference
            .iter()
            .zip(&self.live)
            .filter_map(|(r, live)| {
                let psi = r.psi_of(live.as_ref()?);
                Some(Drift {
                    feature: r.name.clone(),
                    psi,
                    level: DriftLevel::of(psi),
                    expected: r.grows_with_time,
                })
            })
            .collect();
        drift.sort_by(|a, b| b.psi.total_cmp(&a.psi));
        summary.drift = drift;
    }
}
