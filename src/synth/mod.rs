//! The synthetic account-history generator: a SaaS business with known ground
//! truth, for demos, tests and the quarterly recipe.
//!
//! Accounts join over time on annual contracts, in three editions (`plan`:
//! bronze, silver, gold) with ARR drawn per edition. Each quarter every live
//! account exports 18 metrics covering the eight categories; each metric is
//! driven by a shared account health factor plus a persistent account-specific
//! AR(1) component, so accounts look alike from one quarter to the next.
//!
//! When a renewal falls in the quarter after a snapshot, the account churns with
//! the probability of a documented logistic function of its metrics (see
//! [`risk_terms`]): mostly linear effects, a hinge on days since the last
//! meeting and a cliff under 30% license utilization (nonlinear), support tickets that only hurt detractors (an
//! interaction), zombies (accounts that hardly use the product but renew
//! anyway) and 3% label noise. Expansion follows its own function
//! ([`upsell_terms`]). `truth.json` records the functions and each row's true
//! probabilities. The same seed gives the same bytes.
//!
//! One algorithm in one file: the accounts, their quarterly metrics and the
//! outcomes are drawn from one random stream, in an order that the bytes of
//! the output depend on.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution, Exp, LogNormal, Normal, Poisson};
use serde::{Deserialize, Serialize};

use crate::data::write::{OutColumn, OutTable};
use crate::metrics::sigmoid;

/// Settings of a generated history.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthParams {
    /// Accounts that ever exist (some join after the last snapshot and are never seen).
    pub accounts: usize,
    /// Quarterly snapshot dates in the history (the live snapshot comes after them).
    pub quarters: usize,
    pub seed: u64,
    /// Cut the history after this many quarters (default: all); the live snapshot is the next one.
    pub cut: Option<usize>,
    /// The date of the last simulated snapshot (a quarter end).
    pub last_date: NaiveDate,
}

impl Default for SynthParams {
    fn default() -> Self {
        SynthParams {
            accounts: 5000,
            quarters: 8,
            seed: 42,
            cut: None,
            last_date: NaiveDate::from_ymd_opt(2026, 9, 30).expect("valid date"),
        }
    }
}

/// One term of a true log-odds function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Term {
    /// `coef * (x - center) / scale`
    Linear {
        feature: String,
        coef: f64,
        center: f64,
        scale: f64,
    },
    /// `coef * (ln(1 + x) - center) / scale`
    Log1p {
        feature: String,
        coef: f64,
        center: f64,
        scale: f64,
    },
    /// `coef * max(0, x - knot) / scale` (nonlinear)
    Hinge { feature: String, coef: f64, knot: f64, scale: f64 },
    /// `coef * min(x, cap)`
    Capped { feature: String, coef: f64, cap: f64 },
    /// `coef * x / scale * [other <= at_most]` (an interaction; `other` is the true, unmasked value)
    Interaction {
        feature: String,
        other: String,
        at_most: f64,
        coef: f64,
        scale: f64,
    },
    /// `coef` when the categorical feature equals `level`
    Level { feature: String, level: String, coef: f64 },
    /// `coef` when the feature is below `threshold` (a step: nonlinear)
    Below { feature: String, threshold: f64, coef: f64 },
}

impl Term {
    /// The features this term reads.
    pub fn features(&self) -> Vec<&str> {
        match self {
            Term::Interaction { feature, other, .. } => vec![feature, other],
            Term::Linear { feature, .. }
            | Term::Log1p { feature, .. }
            | Term::Hinge { feature, .. }
            | Term::Capped { feature, .. }
            | Term::Below { feature, .. }
            | Term::Level { feature, .. } => vec![feature],
        }
    }

    /// The term's value; a missing input (NaN, e.g. an unanswered survey) contributes 0.
    fn eval(&self, m: &Metrics) -> f64 {
        let v = self.eval_raw(m);
        if v.is_finite() {
            v
        } else {
            0.0
        }
    }

    fn eval_raw(&self, m: &Metrics) -> f64 {
        let x = |f: &str| m.get(f);
        match self {
            Term::Linear {
                feature,
                coef,
                center,
                scale,
            } => coef * (x(feature) - center) / scale,
            Term::Log1p {
                feature,
                coef,
                center,
                scale,
            } => coef * ((x(feature)).ln_1p() - center) / scale,
            Term::Hinge {
                feature,
                coef,
                knot,
                scale,
            } => coef * (x(feature) - knot).max(0.0) / scale,
            Term::Capped { feature, coef, cap } => coef * x(feature).min(*cap),
            Term::Interaction {
                feature,
                other,
                at_most,
                coef,
                scale,
            } => {
                if x(other) <= *at_most {
                    coef * x(feature) / scale
                } else {
                    0.0
                }
            }
            Term::Below { feature, threshold, coef } => {
                if x(feature) < *threshold {
                    *coef
                } else {
                    0.0
                }
            }
            Term::Level { feature, level, coef } => {
                if m.cat(feature) == level {
                    *coef
                } else {
                    0.0
                }
            }
        }
    }
}

/// A true log-odds function: intercept plus terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrueFunction {
    pub intercept: f64,
    pub terms: Vec<Term>,
}

impl TrueFunction {
    fn logit(&self, m: &Metrics) -> f64 {
        self.intercept + self.terms.iter().map(|t| t.eval(m)).sum::<f64>()
    }
}

/// The churn log-odds at a renewal, as a function of the snapshot's metrics.
pub fn risk_terms() -> TrueFunction {
    use Term::*;
    let s = |x: &str| x.to_string();
    TrueFunction {
        intercept: -2.25,
        terms: vec![
            Linear {
                feature: s("license_utilization"),
                coef: -0.75,
                center: 0.6,
                scale: 0.2,
            },
            Below {
                feature: s("license_utilization"),
                threshold: 0.3,
                coef: 0.9,
            },
            Log1p {
                feature: s("logins_30d"),
                coef: -0.45,
                center: 3.2,
                scale: 1.0,
            },
            Linear {
                feature: s("features_adopted"),
                coef: -0.3,
                center: 8.0,
                scale: 4.0,
            },
            Capped {
                feature: s("overdue_invoices"),
                coef: 0.45,
                cap: 4.0,
            },
            Hinge {
                feature: s("days_since_last_meeting"),
                coef: 0.6,
                knot: 60.0,
                scale: 60.0,
            },
            Capped {
                feature: s("executive_contacts_90d"),
                coef: -0.3,
                cap: 3.0,
            },
            Linear {
                feature: s("nps"),
                coef: -0.2,
                center: 7.0,
                scale: 2.0,
            },
            Interaction {
                feature: s("support_tickets_90d"),
                other: s("nps"),
                at_most: 6.0,
                coef: 0.9,
                scale: 5.0,
            },
            Capped {
                feature: s("referrals_12m"),
                coef: -0.35,
                cap: 2.0,
            },
            Hinge {
                feature: s("tenure_months"),
                coef: -0.45,
                knot: 0.0,
                scale: 24.0,
            },
            Level {
                feature: s("plan"),
                level: s("bronze"),
                coef: 0.3,
            },
            Level {
                feature: s("plan"),
                level: s("gold"),
                coef: -0.3,
            },
        ],
    }
}

/// The log-odds of expanding within a quarter.
pub fn upsell_terms() -> TrueFunction {
    use Term::*;
    let s = |x: &str| x.to_string();
    TrueFunction {
        intercept: -2.45,
        terms: vec![
            Linear {
                feature: s("license_utilization"),
                coef: 0.6,
                center: 0.6,
                scale: 0.2,
            },
            Hinge {
                feature: s("license_utilization"),
                coef: 1.0,
                knot: 0.85,
                scale: 0.1,
            },
            Linear {
                feature: s("active_user_share"),
                coef: 0.35,
                center: 0.6,
                scale: 0.15,
            },
            Linear {
                feature: s("features_adopted"),
                coef: 0.35,
                center: 8.0,
                scale: 4.0,
            },
            Log1p {
                feature: s("api_calls_30d"),
                coef: 0.12,
                center: 4.0,
                scale: 2.0,
            },
            Interaction {
                feature: s("executive_contacts_90d"),
                other: s("plan_is_gold"),
                at_most: 0.0,
                coef: 0.35,
                scale: 1.0,
            },
            Capped {
                feature: s("overdue_invoices"),
                coef: -0.4,
                cap: 3.0,
            },
            Linear {
                feature: s("nps"),
                coef: 0.2,
                center: 7.0,
                scale: 2.0,
            },
        ],
    }
}

/// Share of accounts that are zombies, and how much their churn odds are cut.
pub const ZOMBIE_SHARE: f64 = 0.04;
/// A zombie's churn probability is this times the function's.
pub const ZOMBIE_FACTOR: f64 = 0.4;
/// Label noise: the probability used is `noise + (1 - 2 noise) p`.
pub const LABEL_NOISE: f64 = 0.03;

/// The numeric features, in output order, with their categories.
pub const NUMERIC: [(&str, &str); 18] = [
    ("logins_30d", "engagement"),
    ("active_user_share", "engagement"),
    ("license_utilization", "usage"),
    ("api_calls_30d", "usage"),
    ("features_adopted", "adoption"),
    ("integrations", "adoption"),
    ("tenure_months", "journey"),
    ("onboarding_completed", "journey"),
    ("overdue_invoices", "payments"),
    ("days_to_pay", "payments"),
    ("days_since_last_meeting", "relationships"),
    ("executive_contacts_90d", "relationships"),
    ("champion_left", "relationships"),
    ("nps", "sentiment"),
    ("support_tickets_90d", "sentiment"),
    ("csat", "sentiment"),
    ("referrals_12m", "advocacy"),
    ("community_posts_90d", "advocacy"),
];

/// The categorical features.
pub const CATEGORICAL: [(&str, &str); 3] = [("plan", "adoption"), ("region", "journey"), ("industry", "journey")];

const PLANS: [&str; 3] = ["bronze", "silver", "gold"];
const REGIONS: [&str; 4] = ["north_america", "emea", "apac", "latam"];
const INDUSTRIES: [&str; 5] = ["software", "retail", "finance", "healthcare", "education"];

/// One snapshot's metric values (true values; `nps_observed` may be missing).
#[derive(Debug, Clone)]
struct Metrics {
    num: BTreeMap<&'static str, f64>,
    plan: &'static str,
    region: &'static str,
    industry: &'static str,
}

impl Metrics {
    fn get(&self, f: &str) -> f64 {
        if f == "plan_is_gold" {
            return (self.plan == "gold") as u8 as f64;
        }
        *self.num.get(f).unwrap_or_else(|| panic!("the truth reads an unknown metric `{f}`"))
    }
    fn cat(&self, f: &str) -> &str {
        match f {
            "plan" => self.plan,
            "region" => self.region,
            "industry" => self.industry,
            _ => panic!("the truth reads an unknown category `{f}`"),
        }
    }
}

/// One generated row.
#[derive(Debug, Clone)]
struct Row {
    account: usize,
    quarter: usize,
    date: NaiveDate,
    metrics: Metrics,
    nps_observed: Option<f64>,
    arr: f64,
    stage: &'static str,
    renewal_date: NaiveDate,
    churned: Option<u8>,
    expanded: Option<u8>,
    p_risk: Option<f64>,
    p_upsell: f64,
}

/// What `truth.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    pub seed: u64,
    pub accounts: usize,
    pub quarters: usize,
    pub risk: TrueFunction,
    pub upsell: TrueFunction,
    pub zombie_share: f64,
    pub zombie_factor: f64,
    pub label_noise: f64,
    pub notes: Vec<String>,
    /// Standard deviation of each feature's true log-odds terms over the labeled rows.
    pub risk_effect_size: BTreeMap<String, f64>,
    pub upsell_effect_size: BTreeMap<String, f64>,
    /// Signs of the clearly linear (monotone) true effects on risk.
    pub risk_sign: BTreeMap<String, i8>,
    /// Per row of history and live: the probabilities the labels were drawn from.
    pub rows: TruthRows,
}

/// Parallel arrays, one entry per history and live row.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TruthRows {
    pub account_id: Vec<String>,
    pub snapshot_date: Vec<String>,
    /// True churn probability (null when no renewal falls in the next quarter).
    pub risk: Vec<Option<f64>>,
    pub upsell: Vec<f64>,
    pub zombie: Vec<bool>,
}

/// The generated tables.
#[derive(Debug, Clone)]
pub struct Generated {
    pub history: OutTable,
    pub live: OutTable,
    pub outcomes: OutTable,
    pub truth: Truth,
}

fn quarter_end(d: NaiveDate, back: i32) -> NaiveDate {
    let q = (d.year() * 4 + (d.month0() as i32) / 3) - back;
    let (y, qi) = (q.div_euclid(4), q.rem_euclid(4));
    let first_next = if qi == 3 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, (qi as u32 + 1) * 3 + 1, 1)
    };
    first_next.expect("valid date").pred_opt().expect("valid date")
}

fn add_months(d: NaiveDate, months: i32) -> NaiveDate {
    let m = d.year() * 12 + d.month0() as i32 + months;
    let (y, mo) = (m.div_euclid(12), m.rem_euclid(12) as u32 + 1);
    let last = (28..=31)
        .rev()
        .find(|&day| NaiveDate::from_ymd_opt(y, mo, day).is_some())
        .unwrap_or(28);
    NaiveDate::from_ymd_opt(y, mo, d.day().min(last)).expect("valid date")
}

/// Per-account state that persists from quarter to quarter.
struct Account {
    join_month: i32,
    plan: &'static str,
    region: &'static str,
    industry: &'static str,
    seats: f64,
    arr: f64,
    zombie: bool,
    onboarding_completed: f64,
    health: f64,
    /// One persistent AR(1) component per numeric metric.
    unique: [f64; 18],
    champion_left_quarters: u32,
    nps_responds: bool,
}

const RHO: f64 = 0.85;

fn metric_driver(a: &Account, i: usize, loading: f64) -> f64 {
    loading * a.health + (1.0 - loading * loading).sqrt() * a.unique[i]
}

fn observe(a: &Account, tenure: f64, rng: &mut ChaCha8Rng) -> Metrics {
    let n01 = Normal::new(0.0, 1.0).expect("valid");
    let d = |i: usize| metric_driver(a, i, 0.45);
    let pois = |rng: &mut ChaCha8Rng, mean: f64| Poisson::new(mean.clamp(1e-6, 1e6)).expect("valid").sample(rng);
    let mut num = BTreeMap::new();
    let zombie_usage = if a.zombie { 0.25 } else { 1.0 };
    let logins = pois(rng, zombie_usage * a.seats.powf(0.3) * (2.2 + 0.6 * d(0)).exp());
    num.insert("logins_30d", logins);
    num.insert(
        "active_user_share",
        (zombie_usage * sigmoid(0.45 + 0.75 * d(1) + 0.15 * n01.sample(rng))).clamp(0.0, 1.0),
    );
    let util = if a.zombie {
        0.05 + 0.1 * rng.gen::<f64>()
    } else {
        (0.62 + 0.2 * d(2) + 0.05 * n01.sample(rng)).clamp(0.02, 1.15)
    };
    num.insert("license_utilization", (util * 1000.0).round() / 1000.0);
    let api = if d(3) < -0.8 {
        0.0
    } else {
        (LogNormal::new(4.0 + 1.2 * d(3), 0.5).expect("valid").sample(rng) * a.seats.sqrt()).round()
    };
    num.insert("api_calls_30d", api);
    let adopt_p = sigmoid(-0.5 + 0.6 * d(4) + 0.03 * tenure.min(36.0));
    num.insert("features_adopted", Binomial::new(20, adopt_p).expect("valid").sample(rng) as f64);
    num.insert("integrations", pois(rng, 0.4 + 2.0 * sigmoid(d(5))));
    num.insert("tenure_months", tenure);
    num.insert("onboarding_completed", a.onboarding_completed);
    num.insert("overdue_invoices", pois(rng, 0.35 * (-0.8 * d(8)).exp()));
    num.insert("days_to_pay", (30.0 - 8.0 * d(9) + 4.0 * n01.sample(rng)).max(0.0).round());
    let meet_mean = 35.0 * (-0.5 * d(10)).exp();
    num.insert(
        "days_since_last_meeting",
        Exp::new(1.0 / meet_mean).expect("valid").sample(rng).min(365.0).round(),
    );
    let exec_mean = (-0.6 + 0.5 * d(11)).exp() * if a.plan == "gold" { 1.8 } else { 1.0 };
    num.insert("executive_contacts_90d", pois(rng, exec_mean));
    num.insert("champion_left", (a.champion_left_quarters > 0) as u8 as f64);
    let nps = (7.0 + 1.8 * d(13) + 0.8 * n01.sample(rng)).round().clamp(0.0, 10.0);
    num.insert("nps", nps);
    num.insert("support_tickets_90d", pois(rng, a.seats.sqrt() * (0.2 - 0.35 * d(14)).exp()));
    num.insert(
        "csat",
        (4.0 + 0.5 * d(15) + 0.3 * n01.sample(rng))
            .clamp(1.0, 5.0)
            .mul_add(10.0, 0.0)
            .round()
            / 10.0,
    );
    num.insert("referrals_12m", pois(rng, (-1.3 + 0.7 * d(16)).exp()));
    num.insert("community_posts_90d", pois(rng, (0.3 + 0.8 * d(17)).exp()));
    Metrics {
        num,
        plan: a.plan,
        region: a.region,
        industry: a.industry,
    }
}

fn new_account(join_month: i32, rng: &mut ChaCha8Rng) -> Account {
    let n01 = Normal::new(0.0, 1.0).expect("valid");
    let u: f64 = rng.gen();
    let plan = PLANS[if u < 0.5 {
        0
    } else if u < 0.85 {
        1
    } else {
        2
    }];
    let (arr_median, seats): (f64, f64) = match plan {
        "bronze" => (6_000.0, 5.0),
        "silver" => (24_000.0, 20.0),
        _ => (90_000.0, 60.0),
    };
    let health = n01.sample(rng);
    let mut unique = [0.0; 18];
    for x in unique.iter_mut() {
        *x = n01.sample(rng);
    }
    Account {
        join_month,
        plan,
        region: REGIONS[rng.gen_range(0..REGIONS.len())],
        industry: INDUSTRIES[rng.gen_range(0..INDUSTRIES.len())],
        seats: (seats * LogNormal::new(0.0, 0.3).expect("valid").sample(rng)).round().max(1.0),
        arr: (arr_median * LogNormal::new(0.0, 0.35).expect("valid").sample(rng)).round(),
        zombie: rng.gen::<f64>() < ZOMBIE_SHARE,
        onboarding_completed: (rng.gen::<f64>() < sigmoid(1.4 + 0.8 * health)) as u8 as f64,
        health,
        unique,
        champion_left_quarters: 0,
        nps_responds: rng.gen::<f64>() < 0.6,
    }
}

fn evolve(a: &mut Account, rng: &mut ChaCha8Rng) {
    let n01 = Normal::new(0.0, 1.0).expect("valid");
    let s = (1.0 - RHO * RHO).sqrt();
    a.health = RHO * a.health + s * n01.sample(rng);
    for x in a.unique.iter_mut() {
        *x = RHO * *x + s * n01.sample(rng);
    }
    a.champion_left_quarters = a.champion_left_quarters.saturating_sub(1);
    if rng.gen::<f64>() < 0.04 {
        a.champion_left_quarters = 2;
        a.health -= 0.5;
    }
    // A quarter of accounts re-answer the NPS survey each quarter.
    if rng.gen::<f64>() < 0.25 {
        a.nps_responds = rng.gen::<f64>() < 0.6;
    }
}

/// Simulates the business and returns history, live, outcomes and the truth.
///
/// ```
/// use healthscore::synth::{generate, SynthParams};
/// let g = generate(&SynthParams { accounts: 200, quarters: 4, ..Default::default() });
/// assert!(g.history.rows() > 0 && g.live.rows() > 0);
/// ```
pub fn generate(p: &SynthParams) -> Generated {
    let total_q = p.quarters + 1;
    let cut = p.cut.unwrap_or(p.quarters).clamp(1, p.quarters);
    let dates: Vec<NaiveDate> = (0..total_q).map(|q| quarter_end(p.last_date, (total_q - 1 - q) as i32)).collect();
    let risk_fn = risk_terms();
    let up_fn = upsell_terms();
    let mut rows: Vec<Row> = Vec::new();
    let mut zombies: Vec<bool> = Vec::with_capacity(p.accounts);
    let horizon = 3 * total_q as i32;
    for acc in 0..p.accounts {
        let mut rng = ChaCha8Rng::seed_from_u64(p.seed ^ (acc as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        // 45% of accounts are customers before the first snapshot; the rest join over time.
        let join = if rng.gen::<f64>() < 0.45 {
            -rng.gen_range(1..=48)
        } else {
            rng.gen_range(0..horizon + 3)
        };
        let mut a = new_account(join, &mut rng);
        zombies.push(a.zombie);
        for (q, &date) in dates.iter().enumerate() {
            let month = 3 * q as i32;
            if a.join_month > month {
                evolve(&mut a, &mut rng);
                continue;
            }
            let tenure = (month - a.join_month) as f64;
            let mut m = observe(&a, tenure, &mut rng);
            if !a.nps_responds {
                m.num.insert("nps", f64::NAN);
            }
            // The next renewal: the first anniversary of the join month after this snapshot.
            let years = (month - a.join_month).div_euclid(12) + 1;
            let renewal_month = a.join_month + 12 * years;
            let renewal_date = add_months(date, renewal_month - month);
            let renews_next_quarter = renewal_month <= month + 3;
            let stage = if tenure < 3.0 {
                "onboarding"
            } else if tenure < 12.0 {
                "first_year"
            } else {
                "mature"
            };
            let noisy = |p: f64| LABEL_NOISE + (1.0 - 2.0 * LABEL_NOISE) * p;
            let p_risk = renews_next_quarter.then(|| {
                let p = sigmoid(risk_fn.logit(&m));
                noisy(if a.zombie { ZOMBIE_FACTOR * p } else { p })
            });
            let p_up = noisy(sigmoid(up_fn.logit(&m)));
            let churned = p_risk.map(|p| (rng.gen::<f64>() < p) as u8);
            let expanded = if churned == Some(1) { 0 } else { (rng.gen::<f64>() < p_up) as u8 };
            let nps_observed = Some(m.get("nps")).filter(|v| v.is_finite());
            rows.push(Row {
                account: acc,
                quarter: q,
                date,
                metrics: m,
                nps_observed,
                arr: a.arr,
                stage,
                renewal_date,
                churned,
                expanded: Some(expanded),
                p_risk,
                p_upsell: p_up,
            });
            if churned == Some(1) {
                break;
            }
            if expanded == 1 {
                a.arr = (a.arr * (1.1 + 0.4 * rng.gen::<f64>())).round();
                a.seats = (a.seats * 1.2).ceil();
            }
            if renews_next_quarter {
                a.arr = (a.arr * 1.03).round();
            }
            evolve(&mut a, &mut rng);
        }
    }
    rows.sort_by_key(|r| (r.quarter, r.account));
    let history: Vec<&Row> = rows.iter().filter(|r| r.quarter < cut).collect();
    let live: Vec<&Row> = rows.iter().filter(|r| r.quarter == cut).collect();
    let truth = truth_of(p, &risk_fn, &up_fn, &rows, cut, &zombies);
    Generated {
        history: table(&history, true),
        live: table(&live, false),
        outcomes: outcomes(&live),
        truth,
    }
}

fn account_id(i: usize) -> String {
    format!("A{:05}", i + 1)
}

fn table(rows: &[&Row], labels: bool) -> OutTable {
    let mut t = OutTable::default();
    let text = |f: &dyn Fn(&Row) -> String| OutColumn::Text(rows.iter().map(|r| Some(f(r))).collect());
    t.push("account_id", text(&|r| account_id(r.account)));
    t.push("snapshot_date", text(&|r| r.date.to_string()));
    t.push("plan", text(&|r| r.metrics.plan.to_string()));
    t.push("region", text(&|r| r.metrics.region.to_string()));
    t.push("industry", text(&|r| r.metrics.industry.to_string()));
    t.push("stage", text(&|r| r.stage.to_string()));
    t.push("renewal_date", text(&|r| r.renewal_date.to_string()));
    t.push("arr", OutColumn::Float(rows.iter().map(|r| Some(r.arr)).collect()));
    for (name, _) in NUMERIC {
        let col = rows
            .iter()
            .map(|r| if name == "nps" { r.nps_observed } else { Some(r.metrics.get(name)) })
            .map(|v| v.map(|x| (x * 1e4).round() / 1e4))
            .collect();
        t.push(name, OutColumn::Float(col));
    }
    if labels {
        t.push("churned", OutColumn::Int(rows.iter().map(|r| r.churned.map(i64::from)).collect()));
        t.push("expanded", OutColumn::Int(rows.iter().map(|r| r.expanded.map(i64::from)).collect()));
    }
    t
}

fn outcomes(rows: &[&Row]) -> OutTable {
    let mut t = OutTable::default();
    t.push(
        "account_id",
        OutColumn::Text(rows.iter().map(|r| Some(account_id(r.account))).collect()),
    );
    t.push(
        "snapshot_date",
        OutColumn::Text(rows.iter().map(|r| Some(r.date.to_string())).collect()),
    );
    t.push("churned", OutColumn::Int(rows.iter().map(|r| r.churned.map(i64::from)).collect()));
    t.push("expanded", OutColumn::Int(rows.iter().map(|r| r.expanded.map(i64::from)).collect()));
    t.push("arr", OutColumn::Float(rows.iter().map(|r| Some(r.arr)).collect()));
    t
}

fn effect_sizes(f: &TrueFunction, rows: &[&Row]) -> BTreeMap<String, f64> {
    let mut per: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (name, _) in NUMERIC.iter().chain(CATEGORICAL.iter()) {
        per.insert(name.to_string(), vec![0.0; rows.len()]);
    }
    for (i, r) in rows.iter().enumerate() {
        for t in &f.terms {
            let v = t.eval(&r.metrics);
            let fs: Vec<&str> = t.features().into_iter().filter(|f| per.contains_key(*f)).collect();
            for name in &fs {
                per.get_mut(*name).expect("known")[i] += v / fs.len() as f64;
            }
        }
    }
    per.into_iter()
        .map(|(k, v)| {
            let n = v.len().max(1) as f64;
            let mean = v.iter().sum::<f64>() / n;
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
            (k, (var.sqrt() * 1e6).round() / 1e6)
        })
        .collect()
}

fn truth_of(p: &SynthParams, risk: &TrueFunction, up: &TrueFunction, rows: &[Row], cut: usize, zombies: &[bool]) -> Truth {
    let kept: Vec<&Row> = rows.iter().filter(|r| r.quarter <= cut).collect();
    let labeled: Vec<&Row> = kept.iter().copied().filter(|r| r.p_risk.is_some() && r.quarter < cut).collect();
    let history: Vec<&Row> = kept.iter().copied().filter(|r| r.quarter < cut).collect();
    let round = |x: f64| (x * 1e6).round() / 1e6;
    let mut sign = BTreeMap::new();
    for t in &risk.terms {
        if let Term::Linear { feature, coef, .. } | Term::Log1p { feature, coef, .. } | Term::Capped { feature, coef, .. } = t {
            if feature != "nps" {
                sign.insert(feature.clone(), coef.signum() as i8);
            }
        }
    }
    Truth {
        seed: p.seed,
        accounts: p.accounts,
        quarters: cut,
        risk: risk.clone(),
        upsell: up.clone(),
        zombie_share: ZOMBIE_SHARE,
        zombie_factor: ZOMBIE_FACTOR,
        label_noise: LABEL_NOISE,
        notes: vec![
            "risk: churn probability at a renewal in the quarter after the snapshot = noise + (1 - 2 noise) * z * sigmoid(intercept + sum of terms), z = zombie_factor for zombies, else 1".into(),
            "upsell: probability that ARR grows in the quarter after the snapshot, same form without zombies; 0 when the account churned".into(),
            "terms read the exported metric values; nps is empty for accounts that did not answer the survey (about 40%), and an empty value contributes 0".into(),
            "plan_is_gold is 1 for the gold plan".into(),
        ],
        risk_effect_size: effect_sizes(risk, &labeled),
        upsell_effect_size: effect_sizes(up, &history),
        risk_sign: sign,
        rows: TruthRows {
            account_id: kept.iter().map(|r| account_id(r.account)).collect(),
            snapshot_date: kept.iter().map(|r| r.date.to_string()).collect(),
            risk: kept.iter().map(|r| r.p_risk.map(round)).collect(),
            upsell: kept.iter().map(|r| round(r.p_upsell)).collect(),
            zombie: kept.iter().map(|r| zombies[r.account]).collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarter_ends() {
        let d = NaiveDate::from_ymd_opt(2026, 9, 30).unwrap();
        assert_eq!(quarter_end(d, 0), d);
        assert_eq!(quarter_end(d, 1).to_string(), "2026-06-30");
        assert_eq!(quarter_end(d, 3).to_string(), "2025-12-31");
        assert_eq!(
            add_months(NaiveDate::from_ymd_opt(2026, 1, 31).unwrap(), 1).to_string(),
            "2026-02-28"
        );
    }

    #[test]
    fn same_seed_same_data() {
        let p = SynthParams {
            accounts: 100,
            quarters: 3,
            ..Default::default()
        };
        let a = generate(&p);
        let b = generate(&p);
        assert_eq!(a.history, b.history);
        let c = generate(&SynthParams { seed: 7, ..p });
        assert_ne!(a.history, c.history);
    }

    #[test]
    fn truth_serde_round_trip() {
        let g = generate(&SynthParams {
            accounts: 30,
            quarters: 2,
            ..Default::default()
        });
        let back: Truth = serde_json::from_str(&serde_json::to_string(&g.truth).unwrap()).unwrap();
        assert_eq!(back, g.truth);
    }
}
