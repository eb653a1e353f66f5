//! The steps of the quarterly workflow as library calls: train a version, score
//! live accounts. The command-line modules only parse arguments and print.

pub mod diff;
pub mod retrain;
pub mod score;
pub mod train;
