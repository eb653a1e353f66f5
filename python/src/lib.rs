//! The Python extension `healthscore._healthscore`: the library's workflow
//! over polars frames. The package `healthscore` (python/healthscore) wraps it,
//! turning pandas and pyarrow tables into polars frames first; the docstrings
//! and examples a user meets are in its `__init__.pyi`.

use std::path::{Path, PathBuf};

use healthscore::{
    backtest_with, card, live_from_frame, save_history, score, score_frame, to_json, validate_frames, validation_html, Error, History,
    Loaded, Previous, Registry as Reg, Report, ScoreOptions, Spec as CoreSpec, SynthParams, TrainOptions, ValidateSettings,
};
use polars::prelude::DataFrame;
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_polars::PyDataFrame;

/// The command line's allocator: scoring allocates per block on every
/// thread, where the system allocator maps and unmaps large blocks.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

create_exception!(
    healthscore,
    HealthscoreError,
    PyValueError,
    "A healthscore error: bad input, a bad spec or version, a failed write. The message is the command line's."
);

/// A library error as the Python exception, with the whole chain of causes.
fn err(e: Error) -> PyErr {
    HealthscoreError::new_err(e.full_message())
}

/// A table: a polars frame, or the path of a CSV or Parquet file.
#[derive(FromPyObject)]
enum Input {
    Frame(PyDataFrame),
    Path(PathBuf),
}

/// A serde value as the Python value `json.loads` makes of it.
fn to_py<'py, T: serde::Serialize>(py: Python<'py>, value: &T) -> PyResult<Bound<'py, PyAny>> {
    let text = String::from_utf8(to_json(value)).expect("JSON is UTF-8");
    py.import("json")?.call_method1("loads", (text,))
}

/// The text of the spec, as TOML.
fn spec_toml(spec: &CoreSpec) -> PyResult<String> {
    toml::to_string(spec).map_err(|e| HealthscoreError::new_err(format!("the spec cannot be written as TOML: {e}")))
}

#[pyclass(module = "healthscore._healthscore", frozen, from_py_object)]
#[derive(Clone)]
struct Spec {
    inner: CoreSpec,
}

#[pymethods]
impl Spec {
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<Spec> {
        CoreSpec::load(&path).map(|inner| Spec { inner }).map_err(err)
    }

    #[staticmethod]
    #[pyo3(signature = (text, name = "spec.toml"))]
    fn from_toml(text: &str, name: &str) -> PyResult<Spec> {
        CoreSpec::parse(text, Path::new(name)).map(|inner| Spec { inner }).map_err(err)
    }

    /// A drafted spec and its commented TOML text, from a frame or a file.
    #[staticmethod]
    #[pyo3(signature = (table, name = "table", label = None, upsell_label = None, id = None))]
    fn draft(
        py: Python<'_>,
        table: Input,
        name: &str,
        label: Option<String>,
        upsell_label: Option<String>,
        id: Option<String>,
    ) -> PyResult<(Spec, String, Vec<String>)> {
        let opts = healthscore::DraftOptions { label, upsell_label, id };
        let d = py
            .detach(|| match table {
                Input::Frame(df) => healthscore::draft_from_frame(Path::new(name), &df.0, &opts),
                Input::Path(p) => healthscore::draft_spec(&p, &opts),
            })
            .map_err(err)?;
        Ok((Spec { inner: d.spec }, d.toml, d.summary))
    }

    fn to_toml(&self) -> PyResult<String> {
        spec_toml(&self.inner)
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner)
    }

    #[getter]
    fn features(&self) -> Vec<(String, String)> {
        self.inner
            .feature_defs()
            .into_iter()
            .map(|d| (d.name, d.category.name().to_string()))
            .collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "Spec({:?}, {} features, risk label {:?}, upsell label {:?})",
            self.inner.name,
            self.inner.feature_defs().len(),
            self.inner.columns.risk_label,
            self.inner.columns.upsell_label
        )
    }
}

/// The history a version is trained on, from a frame or a file.
fn history(spec: &CoreSpec, input: Input, name: &str) -> Result<History, Error> {
    match input {
        Input::Frame(df) => History::from_frame(spec, name, df.0),
        Input::Path(p) => History::read(spec, &p),
    }
}

#[pyclass(module = "healthscore._healthscore", frozen)]
struct Registry {
    inner: Reg,
}

#[pymethods]
impl Registry {
    #[new]
    fn new(path: PathBuf) -> Registry {
        Registry { inner: Reg::new(path) }
    }

    #[getter]
    fn path(&self) -> PathBuf {
        self.inner.root.clone()
    }

    fn versions(&self) -> PyResult<Vec<String>> {
        self.inner.versions().map_err(err)
    }

    fn in_use(&self) -> PyResult<Option<String>> {
        self.inner.in_use().map(|u| u.map(|u| u.version)).map_err(err)
    }

    fn promote(&self, name: &str) -> PyResult<String> {
        self.inner.promote(name).map(|p| p.version).map_err(err)
    }

    fn rollback(&self) -> PyResult<String> {
        self.inner.rollback().map(|p| p.version).map_err(err)
    }

    #[pyo3(signature = (name = None))]
    fn load(&self, name: Option<&str>) -> PyResult<Version> {
        let name = self.inner.resolve(name).map_err(err)?;
        self.inner.load(&name).map(|loaded| Version { loaded }).map_err(err)
    }

    #[pyo3(signature = (spec, history, version = None, name = "history"))]
    fn train(&self, py: Python<'_>, spec: Spec, history: Input, version: Option<String>, name: &str) -> PyResult<Version> {
        let reg = &self.inner;
        py.detach(|| {
            let h = self::history(&spec.inner, history, name)?;
            let saved = save_history(reg, &spec.inner, h, version.as_deref(), TrainOptions::default(), &|_| {})?;
            reg.load(&saved.name)
        })
        .map(|loaded| Version { loaded })
        .map_err(err)
    }

    #[pyo3(signature = (spec, history, version = None, promote_if_better = false, name = "history"))]
    fn retrain<'py>(
        &self,
        py: Python<'py>,
        spec: Spec,
        history: Input,
        version: Option<String>,
        promote_if_better: bool,
        name: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let reg = &self.inner;
        let (bt, name, promoted) = py
            .detach(|| -> Result<_, Error> {
                let champion = match reg.in_use()? {
                    Some(u) => Some(reg.load(&u.version)?),
                    None => None,
                };
                // The champion reads the same rows through its own spec.
                let (h, frame) = match history {
                    Input::Frame(df) => {
                        let frame = df.0;
                        (History::from_frame(&spec.inner, name, frame.clone())?, Some(frame))
                    }
                    Input::Path(p) => (History::read(&spec.inner, &p)?, None),
                };
                let source = h.file.clone();
                let saved = save_history(reg, &spec.inner, h, version.as_deref(), TrainOptions::default(), &|_| {})?;
                let settings = ValidateSettings {
                    seed: spec.inner.seed,
                    ..Default::default()
                };
                let champion_table = |champ: &Loaded| {
                    let (cols, defs) = (&champ.manifest.spec.columns, &champ.manifest.features);
                    match &frame {
                        Some(f) => healthscore::data::read::table_from_frame(
                            Path::new(&source),
                            f.clone(),
                            cols,
                            defs,
                            healthscore::Labels::IfPresent,
                        ),
                        None => healthscore::read_table(Path::new(&source), cols, defs, healthscore::Labels::IfPresent),
                    }
                };
                let bt = backtest_with(&saved.trained, champion.as_ref(), champion_table, &settings)?;
                let in_use = reg.in_use()?.map(|u| u.version);
                let promoted = if in_use.as_deref() == Some(saved.name.as_str()) {
                    true
                } else if promote_if_better && bt.recommendation == "promote" {
                    reg.promote(&saved.name)?;
                    true
                } else {
                    false
                };
                Ok((bt, saved.name, promoted))
            })
            .map_err(err)?;
        let out = to_py(py, &bt)?;
        out.set_item("version", name)?;
        out.set_item("in_use", promoted)?;
        Ok(out)
    }

    fn __repr__(&self) -> String {
        format!("Registry({:?})", self.inner.root.display().to_string())
    }
}

#[pyclass(module = "healthscore._healthscore", frozen)]
struct Version {
    loaded: Loaded,
}

/// The live table of a version, from a frame or a file.
fn live(loaded: &Loaded, input: Input, name: &str) -> Result<healthscore::Table, Error> {
    match input {
        Input::Frame(df) => live_from_frame(loaded, Path::new(name), df.0),
        Input::Path(p) => healthscore::read_live(loaded, &p),
    }
}

/// A previous run's scores, from a frame or a file.
fn previous(input: Option<Input>) -> Result<Option<Previous>, Error> {
    input
        .map(|p| match p {
            Input::Frame(df) => Previous::from_frame(Path::new("previous"), &df.0),
            Input::Path(p) => Previous::read(&p),
        })
        .transpose()
}

#[pymethods]
impl Version {
    #[getter]
    fn name(&self) -> String {
        self.loaded.version.clone()
    }

    #[getter]
    fn path(&self) -> PathBuf {
        self.loaded.dir.clone()
    }

    #[getter]
    fn manifest<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.loaded.manifest)
    }

    #[getter]
    fn spec(&self) -> Spec {
        Spec {
            inner: self.loaded.manifest.spec.clone(),
        }
    }

    fn holdout(&self) -> PyResult<Validation> {
        let path = self.loaded.dir.join("report.json");
        let bytes = std::fs::read(&path).map_err(|e| err(Error::io(&path, e)))?;
        let report: Report = serde_json::from_slice(&bytes)
            .map_err(|e| HealthscoreError::new_err(format!("{}: not a holdout report: {e}", path.display())))?;
        Ok(Validation { report })
    }

    #[pyo3(signature = (live, previous = None, top = 5, contributions = true, name = "live"))]
    fn score_run<'py>(
        &self,
        py: Python<'py>,
        live: Input,
        previous: Option<Input>,
        top: usize,
        contributions: bool,
        name: &str,
    ) -> PyResult<(PyDataFrame, PyDataFrame, Bound<'py, PyAny>)> {
        let loaded = &self.loaded;
        let opts = ScoreOptions {
            top,
            contributions,
            ..Default::default()
        };
        let (scores, alerts, summary) = py
            .detach(|| -> Result<(DataFrame, DataFrame, _), Error> {
                let prev = self::previous(previous)?;
                let out = match live {
                    Input::Frame(df) => score_frame(loaded, Path::new(name), df.0, prev.as_ref(), opts)?,
                    Input::Path(p) => {
                        let table = healthscore::read_live(loaded, &p)?;
                        healthscore::workflow::score::render(&score(loaded, table), loaded, prev.as_ref(), opts)
                    }
                };
                Ok((out.scores.into_frame()?, out.alerts.into_frame()?, out.summary))
            })
            .map_err(err)?;
        Ok((PyDataFrame(scores), PyDataFrame(alerts), to_py(py, &summary)?))
    }

    #[pyo3(signature = (live, account, name = "live"))]
    fn explain<'py>(&self, py: Python<'py>, live: Input, account: &str, name: &str) -> PyResult<(String, PyDataFrame)> {
        let loaded = &self.loaded;
        py.detach(|| -> Result<(String, DataFrame), Error> {
            let table = self::live(loaded, live, name)?;
            let rows: Vec<usize> = (0..table.len()).filter(|&r| table.ids[r] == account).collect();
            let Some(&last) = rows.iter().max_by_key(|&&r| table.dates.as_ref().map(|d| d[r])) else {
                return Err(Error::Input(format!(
                    "{name}: no account `{account}` in column `{}`",
                    loaded.manifest.spec.columns.id
                )));
            };
            let scored = score(loaded, table.select(&[last]));
            let text = card(&scored, 0, &loaded.manifest.spec);
            let opts = ScoreOptions {
                top: loaded.manifest.features.len(),
                ..Default::default()
            };
            let row = healthscore::workflow::score::render(&scored, loaded, None, opts)
                .scores
                .into_frame()?;
            Ok((text, row))
        })
        .map(|(text, row)| (text, PyDataFrame(row)))
        .map_err(err)
    }

    fn __repr__(&self) -> String {
        format!("Version({:?}, {})", self.loaded.version, self.loaded.dir.display())
    }
}

#[pyclass(module = "healthscore._healthscore", frozen)]
struct Validation {
    report: Report,
}

#[pymethods]
impl Validation {
    #[getter]
    fn figures<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.report)
    }

    fn summary(&self) -> String {
        self.report.summary()
    }

    fn to_html(&self) -> String {
        validation_html(&self.report)
    }

    fn gate(&self, min_auc: f64) -> (bool, String) {
        match healthscore::min_auc_gate(&self.report, min_auc) {
            healthscore::Gate::Passed => (true, format!("the risk AUC interval's lower bound is at least {min_auc}")),
            healthscore::Gate::Failed(why) => (false, why),
        }
    }

    fn _repr_html_(&self) -> String {
        validation_html(&self.report)
    }

    fn __repr__(&self) -> String {
        self.report.summary()
    }
}

#[pyfunction]
#[pyo3(signature = (scores, outcomes, compare = None, registry = None, segment = None, title = "Score-to-renewal validation", resamples = None, seed = None))]
#[allow(clippy::too_many_arguments)]
fn validate(
    py: Python<'_>,
    scores: Input,
    outcomes: Input,
    compare: Option<Input>,
    registry: Option<PathBuf>,
    segment: Option<String>,
    title: &str,
    resamples: Option<usize>,
    seed: Option<u64>,
) -> PyResult<Validation> {
    let mut settings = ValidateSettings::default();
    if let Some(r) = resamples {
        if r < 100 {
            return Err(HealthscoreError::new_err("resamples must be at least 100 for a usable interval"));
        }
        settings.resamples = r;
    }
    if let Some(s) = seed {
        settings.seed = s;
    }
    py.detach(|| -> Result<Report, Error> {
        let reg = registry.map(Reg::new);
        // Files are read as the command line reads them (keys as text); frames keep their names.
        let read = |input: Input, name: &str, keys: &[&str]| -> Result<(PathBuf, DataFrame), Error> {
            match input {
                Input::Frame(df) => Ok((PathBuf::from(name), df.0)),
                Input::Path(p) => {
                    let df = healthscore::data::read::read_frame_text(&p, keys)?;
                    Ok((p, df))
                }
            }
        };
        let keys = ["account_id", "snapshot_date"];
        let (sp, sdf) = read(scores, "scores", &keys)?;
        // The outcomes' own id and date, as the spec of the scores' version names them.
        let frame = healthscore::Frame::new(&sp, &sdf);
        let version = if frame.has("model_version") {
            frame.strings("model_version", "model version")?.into_iter().flatten().next()
        } else {
            None
        };
        let columns = version
            .zip(reg.as_ref())
            .and_then(|(v, r)| r.load(&v).ok())
            .map(|l| l.manifest.spec.columns);
        let mut outcome_keys: Vec<&str> = keys.to_vec();
        if let Some(c) = &columns {
            outcome_keys.extend(
                [Some(c.id.as_str()), c.date.as_deref()]
                    .into_iter()
                    .flatten()
                    .filter(|k| !k.is_empty()),
            );
        }
        let (op, odf) = read(outcomes, "outcomes", &outcome_keys)?;
        let c = compare.map(|c| read(c, "compare", &keys)).transpose()?;
        validate_frames(
            (&sp, &sdf),
            (&op, &odf),
            c.as_ref().map(|(p, d)| (p.as_path(), d)),
            reg.as_ref(),
            segment.as_deref(),
            &settings,
            title,
        )
    })
    .map(|report| Validation { report })
    .map_err(err)
}

#[pyfunction]
#[pyo3(signature = (accounts = 5000, quarters = 8, seed = 42))]
fn generate<'py>(py: Python<'py>, accounts: usize, quarters: usize, seed: u64) -> PyResult<Bound<'py, PyDict>> {
    if accounts == 0 || quarters == 0 {
        return Err(HealthscoreError::new_err("generate needs at least one account and one quarter"));
    }
    let params = SynthParams {
        accounts,
        quarters,
        seed,
        ..Default::default()
    };
    let (history, live, outcomes, truth) = py
        .detach(|| -> Result<_, Error> {
            let g = healthscore::generate(&params);
            Ok((g.history.into_frame()?, g.live.into_frame()?, g.outcomes.into_frame()?, g.truth))
        })
        .map_err(err)?;
    let out = PyDict::new(py);
    out.set_item("history", PyDataFrame(history))?;
    out.set_item("live", PyDataFrame(live))?;
    out.set_item("outcomes", PyDataFrame(outcomes))?;
    out.set_item("truth", to_py(py, &truth)?)?;
    Ok(out)
}

#[pymodule]
fn _healthscore(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("HealthscoreError", m.py().get_type::<HealthscoreError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<Spec>()?;
    m.add_class::<Registry>()?;
    m.add_class::<Version>()?;
    m.add_class::<Validation>()?;
    m.add_function(wrap_pyfunction!(validate, m)?)?;
    m.add_function(wrap_pyfunction!(generate, m)?)?;
    Ok(())
}
