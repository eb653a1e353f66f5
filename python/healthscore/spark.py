"""Scoring a Spark DataFrame with the Rust core, partition by partition.

Each partition reaches the core as Arrow batches (``mapInArrow``), is scored
exactly as ``healthscore score`` scores a file, and comes back with the same
columns as the CLI's scores file: risk, upsell, health, band, action, drivers,
the category roll-up and every feature's contribution. The executors need the
``healthscore`` package and read access to the registry directory (a shared
file system, or the same path on every node).

    from pyspark.sql import SparkSession
    import healthscore as hs
    import healthscore.spark

    spark = SparkSession.builder.getOrCreate()
    live = spark.read.parquet("s3://bucket/live/")
    version = hs.Registry("/shared/models").load()
    scores = healthscore.spark.score(live, version)
    scores.write.parquet("s3://bucket/scores/")
"""

from __future__ import annotations

from typing import Any, Iterator

import polars as pl

from . import Registry, Version

__all__ = ["score"]


def _spark_type(dtype: pl.DataType) -> Any:
    from pyspark.sql import types as T

    if dtype == pl.Float64 or dtype == pl.Float32:
        return T.DoubleType()
    if dtype.is_integer():
        return T.LongType()
    if dtype == pl.Boolean:
        return T.BooleanType()
    return T.StringType()


def _arrow_schema(schema: Any) -> Any:
    import pyarrow as pa
    from pyspark.sql import types as T

    kinds = {T.DoubleType: pa.float64(), T.LongType: pa.int64(), T.BooleanType: pa.bool_(), T.StringType: pa.string()}
    return pa.schema([pa.field(f.name, kinds[type(f.dataType)]) for f in schema.fields])


def score(df: Any, version: Version, top: int = 5, contributions: bool = True, sample_rows: int = 1000) -> Any:
    """Scores every row of a Spark DataFrame with ``version``; returns a Spark
    DataFrame with the columns of the CLI's scores file, one row per input
    row, partitioned as the input. The output schema is taken from scoring up
    to ``sample_rows`` rows on the driver first.

    >>> scores = healthscore.spark.score(spark.read.parquet("live.parquet"), hs.Registry("models").load())
    >>> scores.groupBy("band").count().show()
    """
    from pyspark.sql import types as T

    registry, name = version.path.rsplit("/", 1)
    sample = pl.from_arrow(df.limit(sample_rows).toArrow())
    if not isinstance(sample, pl.DataFrame) or sample.height == 0:
        raise ValueError("healthscore.spark.score: the DataFrame has no rows to score")
    shape = version.score(sample, top=top, contributions=contributions)
    schema = T.StructType([T.StructField(c, _spark_type(t), True) for c, t in shape.schema.items()])
    arrow = _arrow_schema(schema)

    def score_partition(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        v = Registry(registry).load(name)
        for batch in batches:
            if batch.num_rows == 0:
                continue
            frame = pl.from_arrow(pa.Table.from_batches([batch]))
            out = v.score(frame, top=top, contributions=contributions)
            # Every partition gives the same columns; a driver column that no
            # account of this partition has comes back empty.
            table = out.to_arrow()
            columns = [
                table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
                for f in arrow
            ]
            yield from pa.Table.from_arrays(columns, schema=arrow).to_batches()

    return df.mapInArrow(score_partition, schema)
