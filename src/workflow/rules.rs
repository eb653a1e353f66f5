//! `rules`: the hand-built weighted health score on its own, for teams that
//! have no labels yet: fitted on a reference table, applied to an input table.

use std::path::Path;

use crate::data::spec::Spec;
use crate::data::write::{OutColumn, OutTable};
use crate::data::{read::read_table_date_optional, table::Labels};
use crate::error::Result;
use crate::features::reference;
use crate::rules::RulesModel;

/// The hand-built score of every row of an input table.
#[derive(Debug, Clone)]
pub struct RulesRun {
    /// The score fitted on the reference rows.
    pub rules: RulesModel,
    /// `account_id`, `snapshot_date` (when the input has dates), `rules_health`,
    /// `rules_band` and one `rules_<category>` column per category with features.
    pub output: OutTable,
}

/// Fits the hand-built score of `spec` on `reference` (default: the input
/// itself) and scores every row of `input`.
///
/// ```no_run
/// use healthscore::{rules_scores, Format, Spec};
/// let spec = Spec::load("training/saas.toml".as_ref())?;
/// let run = rules_scores(&spec, "notebooks-data/live.csv".as_ref(), Some("notebooks-data/history.csv".as_ref()))?;
/// std::fs::write("rules.csv", run.output.render(Format::Csv)?).unwrap();
/// # Ok::<(), healthscore::Error>(())
/// ```
pub fn rules_scores(spec: &Spec, input: &Path, reference: Option<&Path>) -> Result<RulesRun> {
    let table = read_table_date_optional(input, &spec.columns, &spec.feature_defs(), Labels::IfPresent)?;
    let reference_table = match reference {
        Some(p) => read_table_date_optional(p, &spec.columns, &spec.feature_defs(), Labels::IfPresent)?,
        None => table.clone(),
    };
    let rows: Vec<usize> = (0..reference_table.len()).collect();
    let rules = RulesModel::fit(spec, &reference_table, &rows, reference::fit(&reference_table, &rows));
    let health = rules.health(&table);
    let cats = rules.category_scores(&table);
    let mut out = OutTable::default();
    out.push("account_id", OutColumn::Text(table.ids.iter().cloned().map(Some).collect()));
    if let Some(d) = &table.dates {
        out.push("snapshot_date", OutColumn::Text(d.iter().map(|d| Some(d.to_string())).collect()));
    }
    out.push(
        "rules_health",
        OutColumn::Float(health.iter().map(|h| Some((h * 10.0).round() / 10.0)).collect()),
    );
    out.push(
        "rules_band",
        OutColumn::Text(health.iter().map(|h| Some(spec.band(*h).name().to_string())).collect()),
    );
    for &c in &cats.categories {
        let column = cats.column(c).expect("a category of these scores");
        if column.iter().any(Option::is_some) {
            out.push(format!("rules_{}", c.name()), OutColumn::Float(column));
        }
    }
    Ok(RulesRun { rules, output: out })
}
