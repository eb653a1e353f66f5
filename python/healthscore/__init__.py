"""healthscore: churn risk and upsell scores for SaaS accounts.

The same core as the ``healthscore`` command line, with tables in and out as
polars DataFrames (pandas DataFrames and pyarrow tables are accepted and
converted through Arrow). A path to a CSV or Parquet file works wherever a
table does, and is read exactly as the command line reads it.

The quarterly loop::

    import healthscore as hs

    spec = hs.Spec.load("training/saas.toml")
    registry = hs.Registry("models")
    version = registry.train(spec, "notebooks-data/history.csv")
    version.holdout()                       # the holdout report, inline in a notebook
    scores = version.score("notebooks-data/live.csv")
    version.explain("notebooks-data/live.csv", scores["account_id"][0])
    hs.validate(scores, "notebooks-data/outcomes.csv", registry=registry)

Every error is a :class:`HealthscoreError` (a ``ValueError``) with the command
line's message, naming the table, column and row (rows count from 1, as in a
file: row 5 is the frame's index 4). Long calls release the GIL.
"""

from __future__ import annotations

import html
import os
from typing import Any, NamedTuple, Optional, Union

import polars as pl

from . import _healthscore as _core
from ._healthscore import HealthscoreError

__version__ = _core.__version__

__all__ = [
    "HealthscoreError",
    "Spec",
    "Registry",
    "Version",
    "ScoreRun",
    "Explanation",
    "Validation",
    "validate",
    "generate",
]

#: A table: a polars DataFrame, a pandas DataFrame, a pyarrow Table (or any
#: object with ``__arrow_c_stream__``), or the path of a CSV or Parquet file.
Table = Any

_PathLike = Union[str, "os.PathLike[str]"]


def _table(obj: Table, what: str) -> Union[pl.DataFrame, str]:
    """The polars frame (or the file path) the core reads for ``obj``."""
    if isinstance(obj, (str, os.PathLike)):
        return os.fspath(obj)
    if isinstance(obj, pl.LazyFrame):
        obj = obj.collect()
    if not isinstance(obj, pl.DataFrame):
        module = type(obj).__module__.split(".")[0]
        if module == "pandas":
            obj = pl.from_pandas(obj)
        elif module == "pyarrow" or hasattr(obj, "__arrow_c_stream__"):
            obj = pl.from_arrow(obj) if module == "pyarrow" else pl.DataFrame(obj)
        else:
            raise TypeError(
                f"{what}: expected a polars or pandas DataFrame, a pyarrow Table or a file path, "
                f"not {type(obj).__name__}"
            )
        if not isinstance(obj, pl.DataFrame):
            raise TypeError(f"{what}: expected a table, found a single column")
    # The core reads dates as ISO text and categories as text, as in files.
    casts = [
        pl.col(name).cast(pl.String)
        for name, dtype in obj.schema.items()
        if dtype in (pl.Date, pl.Datetime, pl.Categorical, pl.Enum, pl.Object)
        or isinstance(dtype, (pl.Datetime, pl.Categorical, pl.Enum))
    ]
    if casts:
        obj = obj.with_columns(casts)
    return obj


class Spec:
    """A model spec: which columns are the id, date, labels, revenue and
    segment, and which features belong to which of the eight categories.

    >>> spec = hs.Spec.load("training/saas.toml")
    >>> spec.features[:2]
    [('logins_30d', 'engagement'), ('active_user_share', 'engagement')]
    """

    def __init__(self, core: Any) -> None:
        self._core = core

    @staticmethod
    def load(path: _PathLike) -> "Spec":
        """Reads and checks a spec file (TOML).

        >>> spec = hs.Spec.load("training/saas.toml")
        """
        return Spec(_core.Spec.load(os.fspath(path)))

    @staticmethod
    def from_toml(text: str, name: str = "spec.toml") -> "Spec":
        """Parses and checks spec text; ``name`` is used in error messages.

        >>> spec = hs.Spec.from_toml(open("training/saas.toml").read())
        """
        return Spec(_core.Spec.from_toml(text, name))

    @staticmethod
    def draft(
        table: Table,
        label: Optional[str] = None,
        upsell_label: Optional[str] = None,
        id: Optional[str] = None,
    ) -> "Spec":
        """Drafts a spec from a table, as ``healthscore init`` does: the id,
        snapshot date, labels, revenue and segment found from names and values,
        every other column a feature under the category its name suggests.
        The commented TOML is :attr:`draft_toml`; what was found and left out,
        :attr:`draft_summary`.

        >>> spec = hs.Spec.draft(pl.read_csv("notebooks-data/telco.csv"), label="churned")
        >>> print(spec.draft_toml)   # review it, then save it beside the data
        >>> version = hs.Registry("models").train(spec, "notebooks-data/telco.train.csv")
        """
        frame = _table(table, "table")
        name = frame if isinstance(frame, str) else "table"
        core, text, summary = _core.Spec.draft(frame, name, label, upsell_label, id)
        spec = Spec(core)
        spec.draft_toml = text
        spec.draft_summary = summary
        return spec

    def to_toml(self) -> str:
        """The spec as TOML text, which :meth:`from_toml` and ``healthscore train`` read.

        >>> open("spec.toml", "w").write(spec.to_toml())
        """
        return self._core.to_toml()

    def to_dict(self) -> dict:
        """The spec as a dict (the form it takes in a version's manifest).

        >>> spec.to_dict()["columns"]["id"]
        'account_id'
        """
        return self._core.to_dict()

    @property
    def features(self) -> list[tuple[str, str]]:
        """Every feature with its category, in the spec's order."""
        return self._core.features

    def __repr__(self) -> str:
        return repr(self._core)


class ScoreRun(NamedTuple):
    """What :meth:`Version.score_run` returns."""

    #: One row per account: the columns of the command line's scores file.
    scores: pl.DataFrame
    #: The accounts that changed band or moved most since the previous run.
    alerts: pl.DataFrame
    #: Counts by band and action, data checks and drift (the terminal summary).
    summary: dict


class Explanation:
    """One account's scores and every feature's contribution, with its card
    (the account in words). Shows as the card in a notebook.

    >>> e = version.explain(live, "A00042")
    >>> e["risk"], e["risk_driver_1"]
    """

    def __init__(self, card: str, row: pl.DataFrame) -> None:
        self.card = card
        self.row = row

    def to_dict(self) -> dict:
        """The account's row of the scores (all drivers) as a dict, with ``card``."""
        d = self.row.row(0, named=True)
        d["card"] = self.card
        return d

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __repr__(self) -> str:
        return self.card

    def _repr_html_(self) -> str:
        return f"<pre style='font-size: 13px'>{html.escape(self.card)}</pre>"


class Validation:
    """A validation report: how well the scores ranked and were calibrated
    against what happened. Shows as the HTML report in a notebook.

    >>> v = hs.validate(scores, outcomes)
    >>> v.figures["risk"]["roc_auc"]["estimate"]
    """

    def __init__(self, core: Any) -> None:
        self._core = core

    @property
    def figures(self) -> dict:
        """Every figure of the report (the command line's ``report.json``) as a dict."""
        return self._core.figures

    def summary(self) -> str:
        """The report as the terminal shows it."""
        return self._core.summary()

    def to_html(self) -> str:
        """The report as one self-contained HTML page (inline SVG, no script).

        >>> open("report.html", "w").write(v.to_html())
        """
        return self._core.to_html()

    def gate(self, min_auc: float) -> tuple[bool, str]:
        """Whether the lower bound of the risk AUC's 95% interval is at least
        ``min_auc`` (``healthscore validate --min-auc``), and why.

        >>> ok, why = v.gate(0.7)
        """
        return self._core.gate(min_auc)

    def _repr_html_(self) -> str:
        # The page in a frame of its own, so that its styles stay out of the notebook's.
        page = html.escape(self.to_html(), quote=True)
        return (
            f'<iframe srcdoc="{page}" title="validation report" '
            'style="width: 100%; height: 1300px; border: 1px solid #ddd"></iframe>'
        )

    def __repr__(self) -> str:
        return self._core.summary()


class Version:
    """One immutable version of a registry: the risk and upsell models, the
    spec, the training data's fingerprint and the holdout report.

    >>> version = hs.Registry("models").load()   # the version in use
    >>> version.name, version.manifest["targets"].keys()
    """

    def __init__(self, core: Any) -> None:
        self._core = core

    @property
    def name(self) -> str:
        """The version's name (``2026Q3``, ``v2``...)."""
        return self._core.name

    @property
    def path(self) -> str:
        """The version's directory."""
        return os.fspath(self._core.path)

    @property
    def manifest(self) -> dict:
        """The version's manifest (``manifest.json``) as a dict; its schema is in docs/artifacts.md."""
        return self._core.manifest

    @property
    def spec(self) -> Spec:
        """The spec the version was trained with."""
        return Spec(self._core.spec)

    def holdout(self) -> Validation:
        """The report of the holdout the version was tested on when trained.

        >>> version.holdout().figures["risk"]["roc_auc"]
        """
        return Validation(self._core.holdout())

    def score(self, live: Table, previous: Optional[Table] = None, top: int = 5, contributions: bool = True) -> pl.DataFrame:
        """Scores the live accounts: risk, upsell, health (0-100), band,
        action, the ``top`` drivers of each score, the category roll-up, the
        hand-built score, and with ``contributions`` every feature's risk
        contribution. The same table as ``healthscore score`` writes.
        ``previous`` (an earlier run's scores) adds what changed since.

        >>> scores = version.score(pl.read_parquet("live.parquet"))
        >>> scores.filter(pl.col("band") == "red").sort("risk", descending=True).head()
        """
        return self.score_run(live, previous, top, contributions).scores

    def score_run(self, live: Table, previous: Optional[Table] = None, top: int = 5, contributions: bool = True) -> ScoreRun:
        """:meth:`score` with the alerts (against ``previous``) and the run's summary.

        >>> run = version.score_run(live, previous=last_quarter)
        >>> run.alerts, run.summary["bands"]
        """
        scores, alerts, summary = self._core.score_run(
            _table(live, "live"), None if previous is None else _table(previous, "previous"), top, contributions
        )
        return ScoreRun(scores, alerts, summary)

    def explain(self, live: Table, account: str) -> Explanation:
        """One account's scores with every feature's exact contribution (its
        latest snapshot when the table has several).

        >>> version.explain("notebooks-data/live.csv", "A00042")
        """
        card, row = self._core.explain(_table(live, "live"), str(account))
        return Explanation(card, row)

    def __repr__(self) -> str:
        return repr(self._core)


class Registry:
    """A model registry: a directory of versions and the record of which one
    is in use (the same directory as ``healthscore --models``).

    >>> registry = hs.Registry("models")
    >>> registry.versions(), registry.in_use()
    """

    def __init__(self, path: _PathLike = "models") -> None:
        self._core = _core.Registry(os.fspath(path))

    @property
    def path(self) -> str:
        """The registry's directory."""
        return os.fspath(self._core.path)

    def versions(self) -> list[str]:
        """The names of every version, oldest first."""
        return self._core.versions()

    def in_use(self) -> Optional[str]:
        """The name of the version in use, or ``None`` before the first."""
        return self._core.in_use()

    def load(self, name: Optional[str] = None) -> Version:
        """A version (default: the one in use), checked against its checksums.

        >>> version = registry.load("2026Q3")
        """
        return Version(self._core.load(name))

    def train(self, spec: Spec, history: Table, version: Optional[str] = None) -> Version:
        """Trains the spec's models on the history and writes a new version
        (the first version of a registry is put in use). Default name: the
        quarter of the latest snapshot date.

        >>> version = registry.train(spec, pl.read_csv("history.csv"))
        >>> version.holdout()
        """
        return Version(self._core.train(spec._core, _table(history, "history"), version))

    def retrain(self, spec: Spec, history: Table, version: Optional[str] = None, promote_if_better: bool = False) -> dict:
        """Trains a challenger and backtests it against the version in use on
        the latest labeled quarter; with ``promote_if_better`` it is put in use
        when its risk AUC gain is clearly above zero. Returns the backtest,
        with ``version`` (the challenger's name) and ``in_use``.

        >>> bt = registry.retrain(spec, history, promote_if_better=True)
        >>> bt["recommendation"], bt["reason"]
        """
        return self._core.retrain(spec._core, _table(history, "history"), version, promote_if_better)

    def promote(self, name: str) -> str:
        """Puts a version in use (recorded in the promotion log)."""
        return self._core.promote(name)

    def rollback(self) -> str:
        """Puts the previously used version back in use; returns its name."""
        return self._core.rollback()

    def __repr__(self) -> str:
        return repr(self._core)


def validate(
    scores: Table,
    outcomes: Table,
    compare: Optional[Table] = None,
    registry: Union[Registry, _PathLike, None] = None,
    segment: Optional[str] = None,
    title: str = "Score-to-renewal validation",
    resamples: Optional[int] = None,
    seed: Optional[int] = None,
) -> Validation:
    """Joins scores to what happened (the account id, and the snapshot date
    when both have it; the churn and expansion labels; ARR) and measures the
    score-to-renewal report: AUC with bootstrap intervals, calibration, lift,
    bands, ARR. ``compare``: another scores table of the same accounts (paired
    AUC difference). ``registry``: where the scores' version is, for its bands,
    its segment column and the outcome columns as its spec names them (with
    its label values); without it, or for a role the outcomes lack, the names
    are ``account_id``, ``snapshot_date``, ``churned``, ``expanded``, ``arr``.

    >>> v = hs.validate(scores, "notebooks-data/outcomes.csv", registry="models")
    >>> v                                     # the report, inline in a notebook
    """
    reg = registry.path if isinstance(registry, Registry) else (None if registry is None else os.fspath(registry))
    core = _core.validate(
        _table(scores, "scores"),
        _table(outcomes, "outcomes"),
        None if compare is None else _table(compare, "compare"),
        reg,
        segment,
        title,
        resamples,
        seed,
    )
    return Validation(core)


def generate(accounts: int = 5000, quarters: int = 8, seed: int = 42) -> dict:
    """A synthetic account history with known truth, the same as
    ``healthscore generate``: ``history``, ``live`` and ``outcomes`` frames and
    the ``truth`` (the true effects) as a dict.

    >>> data = hs.generate(accounts=600, quarters=4, seed=7)
    >>> data["history"].shape
    """
    return _core.generate(accounts, quarters, seed)
