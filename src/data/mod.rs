//! The data contract: the model spec, reading and checking account tables, and
//! rendering output tables.
//!
//! Inside the layer the arrows run one way: [`spec`] and [`values`] at the
//! bottom, then [`frame`] (column access with good errors), [`table`] (the
//! checked table), [`read`] (CSV and Parquet into tables), [`write`] (output
//! tables) and [`draft`] (a spec drafted from a table).

pub mod draft;
pub mod frame;
pub mod read;
pub mod spec;
pub mod table;
pub mod values;
pub mod write;
