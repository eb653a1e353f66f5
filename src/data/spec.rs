//! The model spec: a TOML file in `training/` that names the columns of the
//! account history, maps every feature to one of the eight metric categories,
//! and holds the bands, the hand-built weights, the holdout policy and the seed.
//!
//! Every key is documented in `training/README.md`. Unknown keys are errors, so a
//! typo never silently falls back to a default.
//!
//! One file because it is one document: each type here is a table of the
//! TOML file or a value of one (the categories, bands and actions that the
//! rest of the program speaks in), with its defaults beside it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, Result};

/// A metric category: one of the eight of a customer health score, or one a
/// spec adds with its own weight (see [`Category::named`]).
///
/// Categories group features for the hand-built score (each category's score
/// is the mean of its features' percentiles, weighted by `rules.weights`) and
/// for the roll-ups of the attributions (`risk_<category>` in the scores). The
/// models never see them. The eight come first, in the order of
/// [`Category::ALL`]; a spec's own follow in name order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    Engagement,
    Usage,
    Adoption,
    Journey,
    Payments,
    Relationships,
    Sentiment,
    Advocacy,
    /// A category a spec adds (a checked, lowercase name).
    Custom(CustomCategory),
}

/// The name of a category a spec adds: lowercase letters, digits and `_`,
/// starting with a letter, not one of the eight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CustomCategory(&'static str);

impl Category {
    /// The eight categories, in the order used for output columns.
    pub const ALL: [Category; 8] = [
        Category::Engagement,
        Category::Usage,
        Category::Adoption,
        Category::Journey,
        Category::Payments,
        Category::Relationships,
        Category::Sentiment,
        Category::Advocacy,
    ];

    /// The lowercase name used in specs and column names.
    pub fn name(self) -> &'static str {
        match self {
            Category::Engagement => "engagement",
            Category::Usage => "usage",
            Category::Adoption => "adoption",
            Category::Journey => "journey",
            Category::Payments => "payments",
            Category::Relationships => "relationships",
            Category::Sentiment => "sentiment",
            Category::Advocacy => "advocacy",
            Category::Custom(c) => c.0,
        }
    }

    /// The category of a name: one of the eight, or a category of the spec's
    /// own. A name of one's own must be usable as the end of a column name
    /// (`risk_<name>`) beside the columns the scores file already writes.
    ///
    /// ```
    /// use healthscore::Category;
    /// assert_eq!(Category::named("usage"), Ok(Category::Usage));
    /// let security = Category::named("security").unwrap();
    /// assert_eq!(security.name(), "security");
    /// assert!(security > Category::Advocacy, "the eight come first");
    /// assert!(Category::named("Security").is_err() && Category::named("driver_1").is_err());
    /// ```
    pub fn named(name: &str) -> std::result::Result<Category, String> {
        if let Some(c) = Category::ALL.into_iter().find(|c| c.name() == name) {
            return Ok(c);
        }
        let word = name.len() <= 40
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !word {
            return Err(format!(
                "`{name}` is not a category name: the eight are {}; a category of your own takes lowercase letters, digits and `_`, starting with a letter (at most 40)",
                Category::ALL.map(|c| c.name()).join(", ")
            ));
        }
        // Names the scores file gives other `risk_*`, `upsell_*` and `rules_*` columns.
        if ["base", "model", "health", "band"].contains(&name) || ["driver_", "contrib_", "change"].iter().any(|p| name.starts_with(p)) {
            return Err(format!(
                "`{name}` cannot name a category: `risk_{name}` is a column the scores file already writes"
            ));
        }
        Ok(Category::Custom(CustomCategory(intern(name))))
    }

    /// Whether this is one of the eight.
    pub fn is_standard(self) -> bool {
        !matches!(self, Category::Custom(_))
    }

    /// The categories of a set of features: the eight, then the spec's own
    /// among them in name order. Roll-ups are written in this order.
    ///
    /// ```
    /// use healthscore::Category;
    /// let security = Category::named("security").unwrap();
    /// let cats = Category::all_with([Category::Usage, security, security]);
    /// assert_eq!(cats.len(), 9);
    /// assert_eq!(cats[8], security);
    /// ```
    pub fn all_with(categories: impl IntoIterator<Item = Category>) -> Vec<Category> {
        let mut out: Vec<Category> = Category::ALL.to_vec();
        let mut own: Vec<Category> = categories.into_iter().filter(|c| !c.is_standard()).collect();
        own.sort_unstable();
        own.dedup();
        out.extend(own);
        out
    }
}

/// The one `&'static str` of each category name a spec adds, so that
/// [`Category`] stays `Copy`: a program meets a handful of names, each kept
/// once for the life of the process.
fn intern(name: &str) -> &'static str {
    use std::collections::BTreeSet;
    use std::sync::{Mutex, OnceLock};
    static NAMES: OnceLock<Mutex<BTreeSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = names.get(name) {
        return n;
    }
    let n: &'static str = Box::leak(name.into());
    names.insert(n);
    n
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Category {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Category {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Category, D::Error> {
        let name = std::borrow::Cow::<str>::deserialize(d)?;
        Category::named(&name).map_err(serde::de::Error::custom)
    }
}

/// Turns `""` into `None` so a spec can switch off an optional column.
fn empty_is_none<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    Ok(s.filter(|s| !s.trim().is_empty()))
}

fn some(s: &str) -> Option<String> {
    Some(s.to_string())
}

/// Columns of the scores file besides the drivers, roll-ups and comparisons
/// (`risk_*`, `upsell_*`, `rules_*`, `previous_*`): a kept column may not take
/// one of these names.
const SCORES_COLUMNS: &[&str] = &[
    "account_id",
    "snapshot_date",
    "risk",
    "upsell",
    "health",
    "band",
    "action",
    "expected_arr_loss",
    "zombie",
    "model_version",
    "moved_by",
    "alert",
    "reason",
];

/// Which columns of the table play which role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Columns {
    /// Account id (string). Default `account_id`; `""` for a table without
    /// one: each row is an account, named by its row of the file (1, 2, ...).
    pub id: String,
    /// Snapshot date (ISO `YYYY-MM-DD`); `""` when the table has one row per account.
    #[serde(deserialize_with = "empty_is_none")]
    pub date: Option<String>,
    /// Risk label: 1 churned, 0 renewed, empty unknown. `""` trains no risk model.
    #[serde(deserialize_with = "empty_is_none")]
    pub risk_label: Option<String>,
    /// Upsell label: 1 expanded, 0 not, empty unknown. `""` trains no upsell model.
    #[serde(deserialize_with = "empty_is_none")]
    pub upsell_label: Option<String>,
    /// Annual recurring revenue, for revenue-weighted figures. Optional.
    #[serde(deserialize_with = "empty_is_none")]
    pub revenue: Option<String>,
    /// Segment (edition, lifecycle stage...). Optional.
    #[serde(deserialize_with = "empty_is_none")]
    pub segment: Option<String>,
    /// The risk label's values when they are names, e.g. `positive = ["Churned"]`,
    /// `negative = ["Renewed"]` (case-insensitive). Without it a label is
    /// read as 1/0, true/false, yes/no or y/n.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk_values: Option<LabelValues>,
    /// The upsell label's values when they are names, as `risk_values`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upsell_values: Option<LabelValues>,
    /// Columns passed through as text to the scores and alerts files, e.g.
    /// `["renewal_date", "owner"]`: what a customer-success team routes on.
    /// They are read when scoring (a listed column the live table lacks is an
    /// error) and never used by the models.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keep: Vec<String>,
}

/// The values of a label column that mean 1 (`positive`) and 0 (`negative`),
/// compared without regard to case; an empty cell is unknown, anything else is
/// an error naming the row.
///
/// ```
/// use healthscore::data::spec::LabelValues;
/// let v = LabelValues { positive: vec!["Churned".into()], negative: vec!["Renewed".into()] };
/// assert_eq!(v.read("churned"), Some(Some(1)));
/// assert_eq!(v.read(""), Some(None));
/// assert_eq!(v.read("lost"), None);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelValues {
    pub positive: Vec<String>,
    pub negative: Vec<String>,
}

impl LabelValues {
    /// `Some(Some(1))`, `Some(Some(0))`, `Some(None)` for an empty cell, `None` for a value not listed.
    pub fn read(&self, cell: &str) -> Option<Option<u8>> {
        let v = cell.trim();
        if v.is_empty() {
            return Some(None);
        }
        if self.positive.iter().any(|p| p.trim().eq_ignore_ascii_case(v)) {
            Some(Some(1))
        } else if self.negative.iter().any(|p| p.trim().eq_ignore_ascii_case(v)) {
            Some(Some(0))
        } else {
            None
        }
    }
}

impl Columns {
    /// Whether the table has no id column, its accounts named by their row.
    pub fn numbered_rows(&self) -> bool {
        self.id.trim().is_empty()
    }
}

impl Default for Columns {
    fn default() -> Self {
        Columns {
            id: "account_id".into(),
            date: some("snapshot_date"),
            risk_label: some("churned"),
            upsell_label: some("expanded"),
            revenue: None,
            segment: None,
            risk_values: None,
            upsell_values: None,
            keep: Vec::new(),
        }
    }
}

/// Features per category: `engagement = ["logins_30d", ...]`, under one of
/// the eight or a category the spec adds (given a weight in `[rules.weights]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeatureLists(BTreeMap<Category, Vec<String>>);

impl FeatureLists {
    fn list(&self, c: Category) -> &[String] {
        self.0.get(&c).map_or(&[], Vec::as_slice)
    }

    /// The categories listed, the eight first.
    fn categories(&self) -> impl Iterator<Item = Category> + '_ {
        self.0.keys().copied()
    }
}

impl Serialize for FeatureLists {
    /// The eight always (an empty list for a category without features), then
    /// the spec's own: the same spec always writes the same manifest.
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        for c in Category::all_with(self.categories()) {
            m.serialize_entry(&c, self.list(c))?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for FeatureLists {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<FeatureLists, D::Error> {
        let mut lists = BTreeMap::<Category, Vec<String>>::deserialize(d)?;
        lists.retain(|_, l| !l.is_empty());
        Ok(FeatureLists(lists))
    }
}

/// Band thresholds on the 0–100 health score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bands {
    /// Health at or above this is green. Default 80.
    pub green: f64,
    /// Health at or above this (and below green) is yellow; below is red. Default 60.
    pub yellow: f64,
}

impl Default for Bands {
    fn default() -> Self {
        Bands { green: 80.0, yellow: 60.0 }
    }
}

/// Thresholds that turn the two scores into an action and an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Actions {
    /// Risk at or above this → `protect`. Default 0.4 (the red band at default bands).
    pub protect_risk: f64,
    /// Upsell at or above this, with risk below `protect_risk` → `grow`. Default 0.3.
    pub grow_upsell: f64,
    /// An alert is raised when risk rose by more than this since the previous run. Default 0.15.
    pub alert_risk_rise: f64,
    /// An account outside the red band whose engagement and usage (their
    /// mean score in the hand-built score, a percentile of the training
    /// reference) is at or below this is flagged a zombie: renewing by the
    /// model's reckoning while barely using the product. Default 20.
    pub zombie_percentile: f64,
}

/// What the customer-success team does with an account, from its two scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// High risk: keep the account.
    Protect,
    /// Low risk, high upsell: expand it.
    Grow,
    /// The rest.
    Nurture,
}

impl Action {
    /// Every action, in the order reports list them.
    pub const ALL: [Action; 3] = [Action::Protect, Action::Grow, Action::Nurture];

    /// `protect` when risk ≥ `protect_risk`, else `grow` when upsell ≥
    /// `grow_upsell`, else `nurture`. A missing score counts as below.
    ///
    /// ```
    /// use healthscore::{data::spec::Actions, Action};
    /// let a = Actions::default();
    /// assert_eq!(Action::of(&a, Some(0.5), Some(0.9)), Action::Protect);
    /// assert_eq!(Action::of(&a, Some(0.1), Some(0.9)), Action::Grow);
    /// assert_eq!(Action::of(&a, None, Some(0.1)), Action::Nurture);
    /// ```
    pub fn of(actions: &Actions, risk: Option<f64>, upsell: Option<f64>) -> Action {
        match (risk, upsell) {
            (Some(r), _) if r >= actions.protect_risk => Action::Protect,
            (_, Some(u)) if u >= actions.grow_upsell => Action::Grow,
            _ => Action::Nurture,
        }
    }

    /// `protect`, `grow` or `nurture`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Protect => "protect",
            Action::Grow => "grow",
            Action::Nurture => "nurture",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Default for Actions {
    fn default() -> Self {
        Actions {
            protect_risk: 0.4,
            grow_upsell: 0.3,
            alert_risk_rise: 0.15,
            zombie_percentile: 20.0,
        }
    }
}

/// Direction of a feature in the hand-built score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    HigherIsHealthier,
    HigherIsRiskier,
}

/// The hand-built weighted score (the baseline every model is compared with).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    /// Weight per category; categories without features are left out and the
    /// rest renormalised. A spec's table sets the categories it names; the
    /// eight it leaves out keep their defaults.
    #[serde(deserialize_with = "weights_over_defaults")]
    pub weights: BTreeMap<Category, f64>,
    /// Direction per feature; features not listed are oriented by their relation to churn in training data.
    pub direction: BTreeMap<String, Direction>,
}

impl Default for Rules {
    fn default() -> Self {
        let w = [15.0, 15.0, 15.0, 10.0, 5.0, 15.0, 15.0, 10.0];
        Rules {
            weights: Category::ALL.iter().copied().zip(w).collect(),
            direction: BTreeMap::new(),
        }
    }
}

/// The default weights with those a spec gives on top, so that
/// `weights = { security = 10 }` adds a category without zeroing the eight.
fn weights_over_defaults<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<BTreeMap<Category, f64>, D::Error> {
    let mut weights = Rules::default().weights;
    weights.extend(BTreeMap::<Category, f64>::deserialize(d)?);
    Ok(weights)
}

/// How the evaluation holdout is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldoutPolicy {
    /// Hold out the latest labeled snapshot date (needs a date column); falls back to `accounts`.
    LatestDate,
    /// Hold out a stratified random `fraction` of accounts (all their rows).
    Accounts,
}

/// Holdout settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Holdout {
    /// `latest_date` (default) or `accounts`.
    pub policy: HoldoutPolicy,
    /// Share of accounts held out by the `accounts` policy. Default 0.25.
    pub fraction: f64,
}

impl Default for Holdout {
    fn default() -> Self {
        Holdout {
            policy: HoldoutPolicy::LatestDate,
            fraction: 0.25,
        }
    }
}

/// Which classifier to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// L2-regularised logistic regression.
    Logistic,
    /// Gradient-boosted trees.
    Gbdt,
    /// Fit both with the same cross-validation, keep the lower log-loss.
    Auto,
}

/// Probability calibration applied after the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Calibration {
    None,
    Platt,
    Isotonic,
    /// Platt, isotonic or none, whichever is clearly best out of fold
    /// ([`crate::model::calibration::choose`]).
    Auto,
}

/// Model settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSettings {
    /// `auto` (default), `logistic` or `gbdt`.
    pub kind: ModelKind,
    /// Number of cross-validation folds. Default 5.
    pub cv_folds: usize,
    /// Candidate inverse regularisation strengths C (scikit-learn's convention).
    pub c_grid: Vec<f64>,
    /// A category level with fewer training rows than this goes to the `other` bucket. Default 10.
    pub min_category_rows: usize,
    /// Post-hoc probability calibration: `auto` (default: Platt or isotonic
    /// only when clearly better out of fold), `none`, `platt` or `isotonic`.
    pub calibration: Calibration,
    /// A segment with at least this many labeled rows may get its own model. Default 500.
    pub min_segment_rows: usize,
    /// Whether segments get models of their own: `auto` (default: when the
    /// segment's own model beats the pooled one in cross-validation), `always`
    /// (every segment with enough rows) or `never`.
    pub segment_models: SegmentModels,
    /// Candidate tree depths for gbdt, chosen by cross-validation. Default [2, 4, 6].
    pub depth_grid: Vec<usize>,
    /// Shrinkage of the boosted trees. Default 0.05.
    pub learning_rate: f64,
    /// Most boosting rounds; cross-validation picks the number. Default 1000.
    pub max_rounds: usize,
    /// Numeric features whose effect on risk is constrained to one direction
    /// (`logins_30d = "lowers_risk"`): constrained splits and leaf values in
    /// the trees, a sign-constrained coefficient in the logistic model. The
    /// risk model only; none by default.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub monotone: BTreeMap<String, Monotone>,
}

/// A monotone effect on risk, for trust: the risk model's score never moves
/// against it along the feature (`[model.monotone]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Monotone {
    /// A higher value never lowers the risk.
    RaisesRisk,
    /// A higher value never raises the risk.
    LowersRisk,
}

impl Monotone {
    /// +1 when risk may only rise with the feature, −1 when it may only fall.
    pub fn sign(self) -> i8 {
        match self {
            Monotone::RaisesRisk => 1,
            Monotone::LowersRisk => -1,
        }
    }
}

/// When a segment gets a model of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentModels {
    Auto,
    Always,
    Never,
}

impl Default for ModelSettings {
    fn default() -> Self {
        ModelSettings {
            kind: ModelKind::Auto,
            cv_folds: 5,
            c_grid: vec![0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0],
            min_category_rows: 10,
            calibration: Calibration::Auto,
            min_segment_rows: 500,
            segment_models: SegmentModels::Auto,
            depth_grid: vec![2, 4, 6],
            learning_rate: 0.05,
            max_rounds: 1000,
            monotone: BTreeMap::new(),
        }
    }
}

/// A model spec as written in `training/*.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// A name for humans (shown in reports).
    #[serde(default)]
    pub name: String,
    /// Seed for every random choice (splits, bootstrap, subsampling). Default 42.
    #[serde(default = "default_seed")]
    pub seed: u64,
    #[serde(default)]
    pub columns: Columns,
    /// Feature names per category.
    pub features: FeatureLists,
    /// Features holding categories (strings) rather than numbers.
    #[serde(default)]
    pub categorical: Vec<String>,
    #[serde(default)]
    pub bands: Bands,
    #[serde(default)]
    pub actions: Actions,
    #[serde(default)]
    pub rules: Rules,
    #[serde(default)]
    pub holdout: Holdout,
    #[serde(default)]
    pub model: ModelSettings,
}

fn default_seed() -> u64 {
    42
}

/// One feature: its name, category and kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureDef {
    pub name: String,
    pub category: Category,
    pub categorical: bool,
}

impl Spec {
    /// Reads and checks a spec file.
    ///
    /// ```no_run
    /// let spec = healthscore::data::spec::Spec::load("training/saas.toml".as_ref())?;
    /// println!("{} features", spec.feature_defs().len());
    /// # Ok::<(), healthscore::Error>(())
    /// ```
    pub fn load(path: &Path) -> Result<Spec> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Spec::parse(&text, path)
    }

    /// Parses spec text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Spec> {
        let spec: Spec = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            Error::Spec {
                path: path.to_path_buf(),
                message: match line {
                    Some(l) => format!("line {l}: {}", e.message()),
                    None => e.message().to_string(),
                },
            }
        })?;
        spec.check(path)?;
        Ok(spec)
    }

    fn check(&self, path: &Path) -> Result<()> {
        let bad = |message: String| Error::Spec {
            path: path.to_path_buf(),
            message,
        };
        let defs = self.feature_defs();
        if defs.is_empty() {
            return Err(bad(
                "no features: list them under [features] by category, e.g. usage = [\"logins_30d\"]".into(),
            ));
        }
        for name in self.model.monotone.keys() {
            match defs.iter().find(|d| &d.name == name) {
                None => return Err(bad(format!("[model.monotone] names `{name}`, which is not a feature of the spec"))),
                Some(d) if d.categorical => {
                    return Err(bad(format!(
                        "[model.monotone] names `{name}`, a categorical feature; only numeric features have a direction"
                    )))
                }
                Some(_) => {}
            }
        }
        let mut seen = std::collections::HashSet::new();
        for d in &defs {
            if !seen.insert(d.name.as_str()) {
                return Err(bad(format!("feature `{}` is listed twice; give each feature one category", d.name)));
            }
            if self.role_columns().contains(&d.name.as_str()) {
                return Err(bad(format!(
                    "`{}` is both a feature and a role column (id, date, label or revenue)",
                    d.name
                )));
            }
        }
        let mut kept = std::collections::HashSet::new();
        for k in &self.columns.keep {
            if !kept.insert(k.as_str()) {
                return Err(bad(format!("columns.keep lists `{k}` twice")));
            }
            if self.role_columns().contains(&k.as_str()) || self.columns.segment.as_deref() == Some(k.as_str()) {
                return Err(bad(format!(
                    "columns.keep lists `{k}`, a role column the scores already carry or do not need"
                )));
            }
            if SCORES_COLUMNS.contains(&k.as_str()) || ["risk_", "upsell_", "rules_", "previous_"].iter().any(|p| k.starts_with(p)) {
                return Err(bad(format!(
                    "columns.keep lists `{k}`, the name of a column the scores file writes"
                )));
            }
        }
        for c in &self.categorical {
            if !seen.contains(c.as_str()) {
                return Err(bad(format!("`categorical` names `{c}`, which is not a listed feature")));
            }
        }
        for f in self.rules.direction.keys() {
            if !seen.contains(f.as_str()) {
                return Err(bad(format!("[rules.direction] names `{f}`, which is not a listed feature")));
            }
        }
        for (key, v) in [
            ("risk_values", &self.columns.risk_values),
            ("upsell_values", &self.columns.upsell_values),
        ] {
            if let Some(v) = v {
                if v.positive.is_empty() || v.negative.is_empty() {
                    return Err(bad(format!("columns.{key} needs at least one positive and one negative value")));
                }
                if let Some(both) = v
                    .positive
                    .iter()
                    .find(|p| v.negative.iter().any(|n| n.trim().eq_ignore_ascii_case(p.trim())))
                {
                    return Err(bad(format!("columns.{key} lists `{both}` as both positive and negative")));
                }
            }
        }
        if self.columns.risk_label.is_none() && self.columns.upsell_label.is_none() {
            return Err(bad(
                "neither a risk nor an upsell label column is named; set columns.risk_label or columns.upsell_label".into(),
            ));
        }
        if !(0.0..=100.0).contains(&self.bands.yellow) || !(0.0..=100.0).contains(&self.bands.green) || self.bands.yellow > self.bands.green
        {
            return Err(bad(format!(
                "bands must satisfy 0 <= yellow <= green <= 100, found yellow {} and green {}",
                self.bands.yellow, self.bands.green
            )));
        }
        if !(self.holdout.fraction > 0.0 && self.holdout.fraction < 1.0) {
            return Err(bad(format!(
                "holdout.fraction must lie strictly between 0 and 1, found {}",
                self.holdout.fraction
            )));
        }
        if self.model.cv_folds < 2 {
            return Err(bad(format!("model.cv_folds must be at least 2, found {}", self.model.cv_folds)));
        }
        if self.model.c_grid.is_empty() || self.model.c_grid.iter().any(|c| !(c.is_finite() && *c > 0.0)) {
            return Err(bad("model.c_grid must list positive, finite values".into()));
        }
        if self.model.depth_grid.is_empty() || self.model.depth_grid.iter().any(|d| !(1..=12).contains(d)) {
            return Err(bad("model.depth_grid must list depths from 1 to 12".into()));
        }
        if !(self.model.learning_rate > 0.0 && self.model.learning_rate <= 1.0) {
            return Err(bad(format!(
                "model.learning_rate must be in (0, 1], found {}",
                self.model.learning_rate
            )));
        }
        if !(1..=100_000).contains(&self.model.max_rounds) {
            return Err(bad(format!(
                "model.max_rounds must be from 1 to 100000, found {}",
                self.model.max_rounds
            )));
        }
        if self.model.min_segment_rows < 2 * self.model.cv_folds {
            return Err(bad(format!(
                "model.min_segment_rows must be at least twice model.cv_folds, found {}",
                self.model.min_segment_rows
            )));
        }
        if self.rules.weights.values().any(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(bad("rules.weights must be non-negative numbers".into()));
        }
        // A category of the spec's own is declared by its weight, so that a
        // misspelt category is an error rather than a new category.
        for c in self.features.categories().filter(|c| !c.is_standard()) {
            if !self.rules.weights.contains_key(&c) {
                return Err(bad(format!(
                    "[features] lists `{c}`, which is not one of the eight categories ({}); to add a category of your own, give it a weight in [rules.weights], e.g. weights = {{ ..., {c} = 10 }}",
                    Category::ALL.map(|c| c.name()).join(", ")
                )));
            }
        }
        for c in self.rules.weights.keys().filter(|c| !c.is_standard()) {
            if self.features.list(*c).is_empty() {
                return Err(bad(format!(
                    "[rules.weights] gives a weight to `{c}`, a category of your own with no features; list them under [features], e.g. {c} = [\"a_column\"]"
                )));
            }
        }
        if self.rules.weights.values().sum::<f64>() <= 0.0 {
            return Err(bad(
                "rules.weights sum to 0, so the hand-built score would be 50 for every account; give at least one category a positive weight".into(),
            ));
        }
        for (name, v) in [
            ("protect_risk", self.actions.protect_risk),
            ("grow_upsell", self.actions.grow_upsell),
            ("alert_risk_rise", self.actions.alert_risk_rise),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(bad(format!("actions.{name} must lie between 0 and 1, found {v}")));
            }
        }
        Ok(())
    }

    fn role_columns(&self) -> Vec<&str> {
        let c = &self.columns;
        let mut v = vec![c.id.as_str()];
        for o in [&c.date, &c.risk_label, &c.upsell_label, &c.revenue].into_iter().flatten() {
            v.push(o.as_str());
        }
        v
    }

    /// The columns of `names` that are in no role and no feature, in table order.
    ///
    /// ```
    /// let spec = healthscore::Spec::parse("[features]\nusage = [\"logins\"]\n", "x.toml".as_ref()).unwrap();
    /// let names = ["account_id", "logins", "notes", "churned"].map(String::from);
    /// assert_eq!(spec.unused_columns(&names), ["notes"]);
    /// ```
    pub fn unused_columns(&self, names: &[String]) -> Vec<String> {
        let mut used: Vec<&str> = self.role_columns();
        used.extend(self.columns.segment.as_deref());
        let defs = self.feature_defs();
        used.extend(defs.iter().map(|d| d.name.as_str()));
        names.iter().filter(|n| !used.contains(&n.as_str())).cloned().collect()
    }

    /// Features in a fixed order: by category (the eight, then the spec's
    /// own), then as listed.
    pub fn feature_defs(&self) -> Vec<FeatureDef> {
        self.features
            .0
            .iter()
            .flat_map(|(&c, names)| {
                names.iter().map(move |n| FeatureDef {
                    name: n.clone(),
                    category: c,
                    categorical: self.categorical.contains(n),
                })
            })
            .collect()
    }

    /// The band of a health score.
    pub fn band(&self, health: f64) -> Band {
        if health >= self.bands.green {
            Band::Green
        } else if health >= self.bands.yellow {
            Band::Yellow
        } else {
            Band::Red
        }
    }
}

/// Health band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    Red,
    Yellow,
    Green,
}

impl Band {
    pub fn name(self) -> &'static str {
        match self {
            Band::Red => "red",
            Band::Yellow => "yellow",
            Band::Green => "green",
        }
    }
    pub fn parse(s: &str) -> Option<Band> {
        match s.trim() {
            "red" => Some(Band::Red),
            "yellow" => Some(Band::Yellow),
            "green" => Some(Band::Green),
            _ => None,
        }
    }
}

/// Health from risk: 100 (1 − risk), rounded to one decimal. The one
/// definition the scores, the validation and the reports share.
///
/// ```
/// assert_eq!(healthscore::health_of(0.3), 70.0);
/// assert_eq!(healthscore::health_of(0.12345), 87.7);
/// ```
pub fn health_of(risk: f64) -> f64 {
    (1000.0 * (1.0 - risk)).round() / 10.0
}

/// Which of the two scores a model produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// Churn instead of renewal.
    Risk,
    /// Expansion (ARR grows).
    Upsell,
}

impl Target {
    pub const ALL: [Target; 2] = [Target::Risk, Target::Upsell];

    /// `risk` or `upsell`: the file stem and column prefix.
    pub fn name(self) -> &'static str {
        match self {
            Target::Risk => "risk",
            Target::Upsell => "upsell",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[features]
usage = ["logins_30d"]
sentiment = ["nps"]
"#;

    #[test]
    fn defaults_are_filled_in() {
        let s = Spec::parse(MINIMAL, Path::new("x.toml")).unwrap();
        assert_eq!(s.columns.id, "account_id");
        assert_eq!(s.columns.risk_label.as_deref(), Some("churned"));
        assert_eq!(s.bands.green, 80.0);
        assert_eq!(s.rules.weights[&Category::Payments], 5.0);
        assert_eq!(s.feature_defs()[0].category, Category::Usage);
        assert_eq!(s.seed, 42);
    }

    #[test]
    fn monotone_names_numeric_features_only() {
        let ok = Spec::parse(
            &format!("{MINIMAL}[model.monotone]\nlogins_30d = \"lowers_risk\"\n"),
            Path::new("x.toml"),
        )
        .unwrap();
        assert_eq!(ok.model.monotone["logins_30d"].sign(), -1);
        let e = Spec::parse(
            &format!("{MINIMAL}[model.monotone]\nlogins = \"lowers_risk\"\n"),
            Path::new("x.toml"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("`logins`"), "{e}");
        let cat = format!("categorical = [\"nps\"]\n{MINIMAL}[model.monotone]\nnps = \"raises_risk\"\n");
        assert!(Spec::parse(&cat, Path::new("x.toml"))
            .unwrap_err()
            .to_string()
            .contains("categorical"));
        let word = format!("{MINIMAL}[model.monotone]\nnps = \"up\"\n");
        assert!(Spec::parse(&word, Path::new("x.toml")).is_err());
    }

    #[test]
    fn unknown_key_is_named() {
        let text = format!("{MINIMAL}\n[bands]\ngreem = 70\n");
        let e = Spec::parse(&text, Path::new("training/x.toml")).unwrap_err().to_string();
        assert!(e.contains("greem") && e.contains("training/x.toml"), "{e}");
    }

    #[test]
    fn unknown_category_is_an_error() {
        let text = "[features]\nhappiness = [\"nps\"]\n";
        let e = Spec::parse(text, Path::new("x.toml")).unwrap_err().to_string();
        assert!(e.contains("happiness"), "{e}");
    }

    #[test]
    fn a_category_of_ones_own_is_declared_by_its_weight() {
        let text =
            "[features]\nusage = [\"logins\"]\nsecurity = [\"sso\", \"mfa_share\"]\n[rules]\nweights = { usage = 10, security = 5 }\n";
        let s = Spec::parse(text, Path::new("x.toml")).unwrap();
        let security = Category::named("security").unwrap();
        let defs = s.feature_defs();
        assert_eq!(
            defs.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
            ["logins", "sso", "mfa_share"]
        );
        assert_eq!(defs[1].category, security);
        assert_eq!(s.rules.weights[&security], 5.0);
        assert_eq!(s.rules.weights[&Category::Usage], 10.0);
        assert_eq!(
            s.rules.weights[&Category::Sentiment],
            15.0,
            "the eight not named keep their defaults"
        );
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Spec>(&json).unwrap(), s);
        // Without a weight, a name that is not one of the eight is a misspelling.
        let e = Spec::parse("[features]\nusage = [\"logins\"]\nsecurity = [\"sso\"]\n", Path::new("x.toml")).unwrap_err();
        assert!(
            e.to_string().contains("`security`") && e.to_string().contains("[rules.weights]"),
            "{e}"
        );
        // A weight for a category of one's own that has no features.
        let e = Spec::parse(
            "[features]\nusage = [\"logins\"]\n[rules]\nweights = { usage = 1, security = 5 }\n",
            Path::new("x.toml"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("no features"), "{e}");
        // A name that would clash with a column of the scores file.
        let e = Spec::parse(
            "[features]\ndriver_x = [\"sso\"]\n[rules]\nweights = { driver_x = 5 }\n",
            Path::new("x.toml"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("risk_driver_x"), "{e}");
    }

    #[test]
    fn empty_string_switches_a_column_off() {
        let text = format!("[columns]\ndate = \"\"\nupsell_label = \"\"\n{MINIMAL}");
        let s = Spec::parse(&text, Path::new("x.toml")).unwrap();
        assert_eq!(s.columns.date, None);
        assert_eq!(s.columns.upsell_label, None);
    }

    #[test]
    fn serde_round_trip() {
        let s = Spec::parse(MINIMAL, Path::new("x.toml")).unwrap();
        let json = serde_json::to_string(&s).unwrap();
        let back: Spec = serde_json::from_str(&json).unwrap();
        assert_eq!(s, back);
    }

    #[test]
    fn bands() {
        let s = Spec::parse(MINIMAL, Path::new("x.toml")).unwrap();
        assert_eq!(s.band(80.0), Band::Green);
        assert_eq!(s.band(79.9), Band::Yellow);
        assert_eq!(s.band(59.9), Band::Red);
    }
}
