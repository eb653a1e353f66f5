"""healthscore.spark: a Spark DataFrame scored partition by partition by the
Rust core gives the CLI's scores file, row for row and column for column."""

import polars as pl

import healthscore as hs
import healthscore.spark
from conftest import DATA, SPECS, run


def test_spark_partitions_score_as_the_cli(spark, cli, tmp_path):
    models = tmp_path / "models"
    run(cli, "-q", "train", "--spec", str(SPECS / "saas.toml"), "--input", str(DATA / "history.csv"), "--models", str(models), "--version", "v1")
    scores_file = tmp_path / "scores.csv"
    run(cli, "-q", "score", "--models", str(models), "--input", str(DATA / "live.csv"), "--output", str(scores_file))
    expected = pl.read_csv(scores_file, infer_schema_length=None)

    live = pl.read_csv(DATA / "live.csv", infer_schema_length=None)
    df = spark.createDataFrame(live.to_pandas()).repartition(4)
    assert df.rdd.getNumPartitions() == 4
    version = hs.Registry(models).load()
    out = healthscore.spark.score(df, version)
    got = pl.from_arrow(out.toArrow()).sort("account_id")
    assert got.columns == expected.columns
    got = got.with_columns([pl.col(c).cast(t) for c, t in expected.schema.items()])
    assert got.equals(expected.sort("account_id")), "the Spark scores differ from the CLI's"
