//! A version in the form another engine runs: SQL for the warehouse.

pub mod sql;
