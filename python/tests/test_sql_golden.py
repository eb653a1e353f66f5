"""The dialects without an engine here (BigQuery, Snowflake): the generated
SQL is compared with golden files, parsed by sqlglot in its own dialect, and
translated by sqlglot to DuckDB and run there against the CLI's scores.
HEALTHSCORE_BLESS=1 rewrites the golden files (after a deliberate change)."""

import json
import os

import polars as pl
import pytest

from conftest import DATA, SPECS, run
from test_sql import check, typed_live

GOLDEN = os.path.join(os.path.dirname(__file__), "golden")


@pytest.fixture(scope="module")
def telco(tmp_path_factory, cli):
    tmp = tmp_path_factory.mktemp("golden")
    (tmp / "spec.toml").write_text((SPECS / "telco.toml").read_text() + '\n[model]\nkind = "logistic"\ncalibration = "platt"\n')
    models = tmp / "models"
    os.environ["HEALTHSCORE_NOW"] = "2026-10-01T00:00:00Z"
    try:
        run(cli, "-q", "train", "--spec", str(tmp / "spec.toml"), "--input", str(DATA / "telco.train.csv"), "--models", str(models), "--version", "golden")
    finally:
        del os.environ["HEALTHSCORE_NOW"]
    scores = tmp / "scores.csv"
    run(cli, "-q", "score", "--models", str(models), "--input", str(DATA / "telco.test.csv"), "--output", str(scores))
    return tmp, models, scores


@pytest.mark.parametrize("dialect", ["bigquery", "snowflake"])
def test_dialect_matches_its_golden_file_parses_and_scores(telco, cli, dialect):
    sqlglot = pytest.importorskip("sqlglot")
    duckdb = pytest.importorskip("duckdb")
    tmp, models, scores = telco
    out = tmp / f"{dialect}.sql"
    run(cli, "-q", "export", "sql", "--models", str(models), "--dialect", dialect, "--table", "analytics.accounts", "--output", str(out))
    sql = out.read_text()
    golden = os.path.join(GOLDEN, f"telco-logistic.{dialect}.sql")
    if os.environ.get("HEALTHSCORE_BLESS"):
        with open(golden, "w") as f:
            f.write(sql)
    with open(golden) as f:
        assert sql == f.read(), f"the {dialect} SQL changed; if on purpose, rerun with HEALTHSCORE_BLESS=1"
    quote = "`" if dialect == "bigquery" else '"'
    assert f"{quote}analytics{quote}.{quote}accounts{quote}" in sql
    # It parses as the dialect's SQL, and means what the CLI computes.
    tree = sqlglot.parse_one(sql, read=dialect)
    duck = tree.sql(dialect="duckdb")
    manifest = json.loads((models / "golden" / "manifest.json").read_text())
    con = duckdb.connect()
    con.execute("CREATE SCHEMA analytics")
    con.register("live_frame", typed_live(DATA / "telco.test.csv", manifest).to_arrow())
    con.execute("CREATE TABLE analytics.accounts AS SELECT * FROM live_frame")
    got = con.sql(duck).pl()
    check(f"telco {dialect}", got, pl.read_csv(scores, infer_schema_length=None), manifest)
