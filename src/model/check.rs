//! Consistency of a model artifact read from disk: every index points inside
//! what it indexes, every tree is a tree, every feature is one the version
//! reads. A checksum proves a file unchanged since training, not that it was
//! ever right; this check is what stands between an edited file and a panic
//! (or a tree walk that never ends) at scoring time.

use crate::data::spec::FeatureDef;
use crate::features::{FeatureTransform, Preprocessor};
use crate::model::calibration::Calibrator;
use crate::model::{FittedModel, SubModel, TargetModel};

impl TargetModel {
    /// The first inconsistency of the artifact, in words, against the features
    /// the version reads (`features`, from its manifest).
    ///
    /// ```no_run
    /// # let reg = healthscore::Registry::new("models");
    /// # let v = reg.load("v1")?;
    /// if let Some(m) = &v.risk {
    ///     assert!(m.check(&v.manifest.features).is_ok());
    /// }
    /// # Ok::<(), healthscore::Error>(())
    /// ```
    pub fn check(&self, features: &[FeatureDef]) -> std::result::Result<(), String> {
        check_sub(&self.pooled, features).map_err(|e| format!("pooled model: {e}"))?;
        for (segment, m) in &self.segments {
            check_sub(m, features).map_err(|e| format!("model of segment `{segment}`: {e}"))?;
        }
        if !self.selection.candidates.is_empty() && self.selection.chosen >= self.selection.candidates.len() {
            return Err(format!(
                "selection.chosen is {} but there are {} candidates",
                self.selection.chosen,
                self.selection.candidates.len()
            ));
        }
        match &self.calibration {
            Some(Calibrator::Isotonic { x, y }) => {
                if x.len() != y.len() {
                    return Err(format!("isotonic calibration has {} points and {} values", x.len(), y.len()));
                }
                if x.windows(2).any(|w| w[0] > w[1]) || y.windows(2).any(|w| w[0] > w[1]) {
                    return Err("isotonic calibration is not non-decreasing".into());
                }
                if y.iter().any(|v| !(0.0..=1.0).contains(v)) {
                    return Err("isotonic calibration has a value outside [0, 1]".into());
                }
            }
            Some(Calibrator::Platt { .. }) | None => {}
        }
        Ok(())
    }
}

fn check_sub(m: &SubModel, features: &[FeatureDef]) -> std::result::Result<(), String> {
    check_preprocessor(&m.preprocessor, features)?;
    match &m.model {
        FittedModel::Logistic(l) => {
            if l.coef.len() != m.preprocessor.columns.len() {
                return Err(format!(
                    "{} coefficients for {} design columns",
                    l.coef.len(),
                    m.preprocessor.columns.len()
                ));
            }
        }
        FittedModel::Gbdt(g) => {
            let width = m.preprocessor.tree_columns().len();
            for (t, tree) in g.trees.iter().enumerate() {
                if tree.nodes.is_empty() {
                    return Err(format!("tree {t} has no nodes"));
                }
                let n = tree.nodes.len();
                for (j, node) in tree.nodes.iter().enumerate() {
                    if node.is_leaf() {
                        continue;
                    }
                    // Children come after their parent: no cycle, every walk ends at a leaf.
                    let (l, r) = (node.left as usize, node.right as usize);
                    if l <= j || r <= j || l >= n || r >= n {
                        return Err(format!("tree {t}, node {j}: children {l} and {r} are not nodes after it (of {n})"));
                    }
                    if node.feature as usize >= width {
                        return Err(format!("tree {t}, node {j}: feature column {} of {width}", node.feature));
                    }
                }
            }
        }
    }
    Ok(())
}

fn check_preprocessor(p: &Preprocessor, features: &[FeatureDef]) -> std::result::Result<(), String> {
    for f in &p.features {
        let def = features
            .iter()
            .find(|d| d.name == f.name())
            .ok_or_else(|| format!("feature `{}` is not among the version's features", f.name()))?;
        let categorical = matches!(f, FeatureTransform::Categorical { .. });
        if def.categorical != categorical {
            return Err(format!(
                "feature `{}` is {} in the model and {} in the manifest",
                f.name(),
                if categorical { "categorical" } else { "numeric" },
                if def.categorical { "categorical" } else { "numeric" }
            ));
        }
        if let FeatureTransform::Numeric { sd, .. } = f {
            if *sd <= 0.0 {
                return Err(format!("feature `{}` has standard deviation {sd}", f.name()));
            }
        }
    }
    let width: usize = p.features.iter().map(|f| f.design_width()).sum();
    if p.columns.len() != width {
        return Err(format!("{} design columns where the features make {width}", p.columns.len()));
    }
    if let Some(c) = p.columns.iter().find(|c| c.feature >= p.features.len()) {
        return Err(format!(
            "design column `{}` points at feature {} of {}",
            c.name,
            c.feature,
            p.features.len()
        ));
    }
    Ok(())
}
