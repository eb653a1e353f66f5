"""`healthscore export sql` run by real engines: every account's risk and
upsell equal the CLI's to 1e-9, band and action identical, and for logistic
models each category's contribution too. DuckDB always; PostgreSQL when
$HEALTHSCORE_PG names a server (`.ci/run` starts one), Spark SQL when pyspark
and Java are there."""

import os
import shutil
import subprocess

import polars as pl
import pytest

from conftest import DATA, SPECS, run

CATEGORIES = ["engagement", "usage", "adoption", "journey", "payments", "relationships", "sentiment", "advocacy"]

# (data set, model settings): both model kinds, both calibrations, segment models.
CASES = {
    "sample-logistic": ("sample", 'kind = "logistic"\ncalibration = "platt"\nsegment_models = "always"\nmin_segment_rows = 200'),
    "sample-gbdt": ("sample", 'kind = "gbdt"\ncalibration = "isotonic"\ndepth_grid = [3]\nmax_rounds = 200'),
    "telco-logistic": ("telco", 'kind = "logistic"'),
    "telco-gbdt": ("telco", 'kind = "gbdt"\ndepth_grid = [4]\nmax_rounds = 200\ncalibration = "platt"'),
}
SETS = {
    "sample": (SPECS / "saas.toml", DATA / "history.csv", DATA / "live.csv"),
    "telco": (SPECS / "telco.toml", DATA / "telco.train.csv", DATA / "telco.test.csv"),
}


def typed_live(path, manifest) -> pl.DataFrame:
    """The live table as a warehouse holds it: text keys and categories, double features, NULL for missing."""
    cols = manifest["spec"]["columns"]
    frame = pl.read_csv(path, infer_schema_length=0)  # everything as text, as written
    casts = []
    for f in manifest["features"]:
        c = pl.col(f["name"]).str.strip_chars()
        casts.append(c.replace("", None) if f["categorical"] else c.replace("", None).cast(pl.Float64, strict=False))
    keys = [k for k in (cols["id"], cols.get("date"), cols.get("segment")) if k]
    feats = [f["name"] for f in manifest["features"]]
    return frame.select([pl.col(k) for k in dict.fromkeys(keys) if k not in feats] + casts)


@pytest.fixture(scope="module", params=sorted(CASES))
def exported(request, tmp_path_factory, cli):
    """A version trained by the CLI, its scores file, and the live table typed for an engine."""
    import json

    data, settings = CASES[request.param]
    spec, history, live = SETS[data]
    tmp = tmp_path_factory.mktemp(request.param)
    text = spec.read_text() + f"\n[model]\n{settings}\n"
    (tmp / "spec.toml").write_text(text)
    models = tmp / "models"
    run(cli, "-q", "train", "--spec", str(tmp / "spec.toml"), "--input", str(history), "--models", str(models), "--version", "v1")
    scores = tmp / "scores.csv"
    run(cli, "-q", "score", "--models", str(models), "--input", str(live), "--output", str(scores))
    manifest = json.loads((models / "v1" / "manifest.json").read_text())
    sql = {}
    for dialect in ("duckdb", "postgres", "spark"):
        out = tmp / f"{dialect}.sql"
        run(cli, "-q", "export", "sql", "--models", str(models), "--dialect", dialect, "--table", "accounts", "--output", str(out))
        sql[dialect] = out.read_text()
    expected = pl.read_csv(scores, infer_schema_length=None)
    return request.param, manifest, typed_live(live, manifest), sql, expected


def check(name: str, got: pl.DataFrame, expected: pl.DataFrame, manifest: dict) -> None:
    id_col = manifest["spec"]["columns"]["id"]
    date_col = manifest["spec"]["columns"].get("date")
    keys = ["account_id"] + (["snapshot_date"] if date_col else [])
    got = got.rename({id_col: "account_id"} | ({date_col: "snapshot_date"} if date_col else {}))
    got = got.with_columns([pl.col(k).cast(pl.String) for k in keys])
    expected = expected.with_columns([pl.col(k).cast(pl.String) for k in keys])
    assert got.height == expected.height, f"{name}: {got.height} rows from the engine, {expected.height} from the CLI"
    joined = expected.join(got, on=keys, how="inner", suffix="_sql")
    assert joined.height == expected.height, f"{name}: not every account joined"
    targets = [t for t in ("risk", "upsell") if t in manifest["targets"]]
    for t in targets:
        worst = (joined[t] - joined[f"{t}_sql"].cast(pl.Float64)).abs().max()
        assert worst <= 1e-9, f"{name}: {t} differs by up to {worst}"
        kinds = {manifest["targets"][t]["chosen"].split()[0]}
        if kinds == {"logistic"}:
            for c in CATEGORIES:
                diff = (joined[f"{t}_{c}"] - joined[f"{t}_{c}_sql"].cast(pl.Float64)).abs().max()
                assert diff <= 1e-9, f"{name}: {t}_{c} differs by up to {diff}"
    for col in ("band", "action", "model_version"):
        bad = joined.filter(pl.col(col) != pl.col(f"{col}_sql").cast(pl.String))
        assert bad.height == 0, f"{name}: {col} differs on {bad.height} accounts, e.g. {bad.select('account_id', col, col + '_sql').head(3)}"
    if "risk" in targets:
        worst = (joined["health"] - joined["health_sql"].cast(pl.Float64)).abs().max()
        assert worst <= 1e-9, f"{name}: health differs by up to {worst}"


def test_duckdb_scores_as_the_cli(exported):
    import duckdb

    name, manifest, live, sql, expected = exported
    con = duckdb.connect()
    con.register("live_frame", live.to_arrow())
    con.execute("CREATE TABLE accounts AS SELECT * FROM live_frame")
    got = con.sql(sql["duckdb"]).pl()
    check(name, got, expected, manifest)


def test_postgres_scores_as_the_cli(exported, tmp_path):
    dsn = os.environ.get("HEALTHSCORE_PG")
    if not dsn:
        pytest.skip("no PostgreSQL server: set HEALTHSCORE_PG (.ci/run starts one)")
    name, manifest, live, sql, expected = exported
    psql = shutil.which("psql")
    assert psql, "psql is needed for the PostgreSQL test"
    types = {c: ("DOUBLE PRECISION" if dt == pl.Float64 else "TEXT") for c, dt in live.schema.items()}
    csv = tmp_path / "live.csv"
    live.write_csv(csv)
    ddl = ", ".join(f'"{c}" {t}' for c, t in types.items())
    out = tmp_path / "out.csv"
    # psql's \copy takes one line: the query goes on it whole, without its comments.
    query = " ".join(l.strip() for l in sql["postgres"].splitlines() if not l.strip().startswith("--"))
    script = (
        f"DROP TABLE IF EXISTS accounts; CREATE TABLE accounts ({ddl});\n"
        f"\\copy accounts FROM '{csv}' WITH (FORMAT csv, HEADER true)\n"
        f"\\copy ({query}) TO '{out}' WITH (FORMAT csv, HEADER true)\n"
    )
    (tmp_path / "run.sql").write_text(script)
    p = subprocess.run([psql, dsn, "-v", "ON_ERROR_STOP=1", "-q", "-f", str(tmp_path / "run.sql")], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    got = pl.read_csv(out, infer_schema_length=None)
    check(name, got, expected, manifest)


def test_spark_sql_scores_as_the_cli(exported, spark):
    name, manifest, live, sql, expected = exported
    spark.createDataFrame(live.to_pandas()).createOrReplaceTempView("accounts")
    got = pl.from_arrow(spark.sql(sql["spark"]).toArrow())
    check(name, got, expected, manifest)
