//! healthscore: churn **risk** and **upsell** scores for SaaS accounts, trained on
//! the account history, saved as versioned and auditable artifacts, explained
//! feature by feature, and validated every quarter against real renewals.
//!
//! The pipeline, module by module:
//! [`data`] reads the spec and the tables → [`features`] fits the preprocessing →
//! [`model`] fits the classifiers → [`registry`] stores versions →
//! [`explain`] attributes each score → [`metrics`] and [`validate`] measure the
//! score-to-renewal correlation → [`report`] renders it. [`rules`] is the
//! hand-built baseline and [`synth`] the synthetic history generator.
//!
//! ```no_run
//! use healthscore::synth::{generate, SynthParams};
//! let g = generate(&SynthParams::default());
//! println!("{} history rows", g.history.rows());
//! ```

pub mod bench;
pub mod cli;
pub mod data;
pub mod design;
pub mod error;
pub mod explain;
pub mod features;
pub mod fsio;
pub mod metrics;
pub mod model;
pub mod registry;
pub mod report;
pub mod rules;
pub mod synth;
pub mod train;
pub mod validate;
pub mod workflow;

pub use error::{Error, Result};
