//! The steps of the quarterly workflow as library calls: train and save a
//! version, score live accounts, validate scores against outcomes, backtest a
//! challenger, compare versions, the hand-built score alone. The command line
//! only parses arguments and prints.

pub mod diff;
pub mod retrain;
pub mod rules;
pub mod score;
pub mod train;
pub mod validate;
