//! The library's error type: each variant carries the facts a user needs to fix
//! the problem (file, column, row, what was expected and what was found).

use std::path::PathBuf;

/// Everything that can go wrong in the library, with enough context to act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written (the OS error is the source).
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The model spec is not valid TOML or breaks a rule of the format.
    #[error("spec {path}: {message}")]
    Spec { path: PathBuf, message: String },
    /// A table could not be parsed at all (not CSV / Parquet, unreadable).
    #[error("{path}: cannot read table: {message}")]
    Table { path: PathBuf, message: String },
    /// A table is empty (no data rows).
    #[error("{path}: the table has no rows; export at least one account")]
    EmptyTable { path: PathBuf },
    /// A column the spec or the model needs is not in the table.
    #[error("{path}: column `{column}` is missing ({role}); the table has: {available}")]
    MissingColumn {
        path: PathBuf,
        column: String,
        role: String,
        available: String,
    },
    /// A cell holds a value that its column cannot hold.
    #[error("{path}: column `{column}`, row {row}: {message}")]
    BadValue {
        path: PathBuf,
        column: String,
        /// 1-based data row (the header is not counted).
        row: usize,
        message: String,
    },
    /// Several problems of one table against the spec, reported together so
    /// that one round of fixes deals with all of them.
    #[error("{path}: {} problems with the table against the spec:{}", problems.len(), list_problems(path, problems))]
    Schema { path: PathBuf, problems: Vec<Error> },
    /// Two rows share the same (account id, snapshot date).
    #[error("{path}: column `{column}`, row {row}: duplicate account `{id}`{date} (first seen at row {first}); each account may appear once per snapshot date")]
    Duplicate {
        path: PathBuf,
        column: String,
        row: usize,
        first: usize,
        id: String,
        date: String,
    },
    /// A model that must be trained has no labeled rows.
    #[error(
        "{path}: column `{column}` has no labeled rows (0 or 1) to train the {model} model; fill the label or remove it from the spec"
    )]
    NoLabels { path: PathBuf, column: String, model: String },
    /// A labeled set holds only one class, so no classifier can be fitted.
    #[error("{path}: column `{column}` holds only the value {value} in the training rows; the {model} model needs both 0 and 1")]
    OneClass {
        path: PathBuf,
        column: String,
        model: String,
        value: u8,
    },
    /// A table could not be encoded in memory (the encoder's error is the source).
    #[error("cannot encode the table as {format}")]
    Encode {
        format: &'static str,
        #[source]
        source: polars::error::PolarsError,
    },
    /// A model artifact is missing, corrupt, tampered with or of another schema.
    #[error("model artifact {path}: {message}")]
    Artifact { path: PathBuf, message: String },
    /// The model registry refuses an operation (existing version, unknown version).
    #[error("{0}")]
    Registry(String),
    /// Invalid hyperparameters of a classifier.
    #[error("invalid parameter: {0}")]
    Param(String),
    /// An input that cannot be used as asked, beyond a single cell: no rows
    /// to score, tables that do not join, an unknown output format.
    #[error("{0}")]
    Input(String),
    /// A table could not be written in its format (the encoder's error is the source).
    #[error("{path}: cannot write the table")]
    Write {
        path: PathBuf,
        #[source]
        source: polars::error::PolarsError,
    },
    /// A numerical routine failed.
    #[error("model fitting failed: {0}")]
    Fit(String),
}

/// Each problem on a line of its own, without the path they share.
fn list_problems(path: &std::path::Path, problems: &[Error]) -> String {
    let prefix = format!("{}: ", path.display());
    problems
        .iter()
        .map(|e| {
            let m = e.full_message();
            format!("\n  - {}", m.strip_prefix(&prefix).unwrap_or(&m))
        })
        .collect()
}

/// The library's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The message with every cause after it, `a: b: c`, as the command line
    /// prints it.
    ///
    /// ```
    /// let e = healthscore::Error::io("scores.csv", std::io::Error::from(std::io::ErrorKind::NotFound));
    /// assert_eq!(e.full_message(), "scores.csv: entity not found");
    /// ```
    pub fn full_message(&self) -> String {
        let mut out = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            out.push_str(": ");
            out.push_str(&c.to_string());
            cause = c.source();
        }
        out
    }

    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}
