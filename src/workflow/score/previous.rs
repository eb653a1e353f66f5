//! The previous run's scores, read back to say what changed since (health,
//! band, action) and to raise alerts.

use super::*;

/// A previous scores file: per account, band, risk and per-feature risk contributions.
#[derive(Debug, Clone, Default)]
pub struct Previous {
    pub rows: HashMap<String, PreviousRow>,
    /// Whether the file has per-feature risk contributions (written without
    /// `--no-contributions`); without them, changes cannot be attributed.
    pub has_contributions: bool,
    /// The version that wrote it (its `model_version` column), when known.
    pub version: Option<String>,
    /// The risk of each account on the previous run's own table, rescored by
    /// the current version ([`Previous::rescore`]): the change since then
    /// splits into the model's part and the customer's.
    pub rescored: Option<HashMap<String, f64>>,
}

/// One account of a previous run.
#[derive(Debug, Clone, Default)]
pub struct PreviousRow {
    pub band: Option<Band>,
    pub risk: Option<f64>,
    pub contributions: BTreeMap<String, f64>,
    /// The values of its risk drivers as that run wrote them (feature → value),
    /// to say what a feature moved from.
    pub values: BTreeMap<String, String>,
}

pub(super) const CONTRIB: &str = "risk_contrib_";

impl Previous {
    /// Reads a scores file written by `healthscore score`.
    pub fn read(path: &Path) -> Result<Previous> {
        let df = read_frame_text(path, &["account_id", "band"])?;
        Previous::from_frame(path, &df)
    }

    /// A previous run's scores held as a frame; `name` stands for the file
    /// in error messages.
    pub fn from_frame(name: &Path, df: &DataFrame) -> Result<Previous> {
        let path = name;
        let f = Frame::new(path, df);
        let ids = f.strings("account_id", "account id of the previous scores")?;
        let band = f.strings("band", "band of the previous scores")?;
        let risk = f.numbers("risk", "risk of the previous scores")?;
        let mut contrib_cols = vec![];
        for name in f.names() {
            if let Some(feat) = name.strip_prefix(CONTRIB) {
                contrib_cols.push((feat.to_string(), f.numbers(&name, "a previous contribution")?));
            }
        }
        // The drivers' names and values: risk_driver_1, risk_driver_1_value, ...
        let names = f.names();
        let mut driver_cols = vec![];
        for k in 1.. {
            let (name, value) = (format!("risk_driver_{k}"), format!("risk_driver_{k}_value"));
            if !names.contains(&name) || !names.contains(&value) {
                break;
            }
            driver_cols.push((
                f.strings(&name, "a previous driver")?,
                f.strings(&value, "a previous driver value")?,
            ));
        }
        let mut rows = HashMap::new();
        for (i, id) in ids.into_iter().enumerate() {
            let Some(id) = id else { continue };
            let contributions = contrib_cols.iter().filter_map(|(n, v)| v[i].map(|x| (n.clone(), x))).collect();
            let values = driver_cols
                .iter()
                .filter_map(|(n, v)| Some((n[i].clone()?, number_text(v[i].clone()?))))
                .collect();
            let row = PreviousRow {
                band: band[i].as_deref().and_then(Band::parse),
                risk: risk[i],
                contributions,
                values,
            };
            if rows.insert(id.clone(), row).is_some() {
                return Err(Error::Duplicate {
                    path: path.to_path_buf(),
                    column: "account_id".into(),
                    row: i + 1,
                    first: 0,
                    id,
                    date: String::new(),
                });
            }
        }
        let version = if f.has("model_version") {
            f.strings("model_version", "model version of the previous scores")?
                .into_iter()
                .flatten()
                .next()
        } else {
            None
        };
        Ok(Previous {
            rows,
            has_contributions: !contrib_cols.is_empty(),
            version,
            rescored: None,
        })
    }

    /// Scores `table` — the feature table the previous run scored — with the
    /// current version, so that each account's change of risk splits into
    /// the customer's part (the current model on the table now against the
    /// same model on the table then) and the model's part (the current model
    /// against the previous run's, on the table then). A table with several
    /// snapshots of an account keeps its latest.
    ///
    /// ```no_run
    /// use healthscore::{read_live, Previous, Registry};
    /// let reg = Registry::new("models");
    /// let version = reg.load(&reg.resolve(None)?)?;
    /// let mut previous = Previous::read("scores-previous.csv".as_ref())?;
    /// previous.rescore(&version, read_live(&version, "previous-live.csv".as_ref())?);
    /// # Ok::<(), healthscore::Error>(())
    /// ```
    pub fn rescore(&mut self, loaded: &Loaded, table: Table) {
        let scored = score(loaded, table);
        let Some(risk) = &scored.risk else { return };
        let latest = scored.table.latest_rows();
        self.rescored = Some(latest.into_iter().map(|(id, r)| (id.to_string(), risk.probability[r])).collect());
    }
}

/// A value as the scores file writes it: a number read back as a float (a
/// column of whole numbers may come back as `12.0`) in the file's own form.
fn number_text(s: String) -> String {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() => crate::data::write::fmt_float(x),
        _ => s,
    }
}
