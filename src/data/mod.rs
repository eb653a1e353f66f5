//! The data contract: the model spec, reading and checking account tables, and
//! rendering output tables.

pub mod draft;
pub mod spec;
pub mod table;
pub mod write;
