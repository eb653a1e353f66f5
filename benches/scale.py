"""What scoring a million accounts costs on each path (docs/SCALE.md), measured
on the data of `healthscore bench` in one run:

    healthscore bench --rows 1000000 --features 40           # writes bench-data/
    python benches/scale.py bench-data [--bin target/release/healthscore]

Each path runs in a process of its own, so that its wall time and peak
resident memory are its own: the CLI (Parquet to Parquet), the exported SQL in
DuckDB (the table loaded first, the query's result written to Parquet), and
Spark in local mode (`healthscore.spark.score`, Parquet to Parquet). The
Python package must be installed (pip install ./python, a release build)."""

import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time


def child(kind: str, path: str, data: str, models: str, out: str, cores: int) -> None:
    """One measured run, in this process; prints its seconds and the peak
    resident memory of this process and of its children as JSON."""
    t = time.perf_counter()
    if path == "cli":
        subprocess.run([os.environ["HS_BIN"], "-q", "score", "--models", models, "--version", "bench", "--input", data, "--output", out], check=True)
        report(time.perf_counter() - t)
    elif path == "duckdb":
        import duckdb

        sql = pathlib.Path(out).with_suffix(".sql")
        subprocess.run(
            [os.environ["HS_BIN"], "-q", "export", "sql", "--models", models, "--version", "bench", "--dialect", "duckdb", "--output", str(sql)],
            check=True,
        )
        con = duckdb.connect()
        con.execute(f"SET threads = {cores}")
        con.execute(f"CREATE TABLE accounts AS SELECT * FROM read_parquet('{data}')")
        t = time.perf_counter()
        con.execute(f"COPY ({sql.read_text()}) TO '{out}' (FORMAT parquet)")
        report(time.perf_counter() - t)
    elif path == "spark":
        os.environ["PYSPARK_PYTHON"] = sys.executable
        from pyspark.sql import SparkSession

        import healthscore as hs
        import healthscore.spark

        spark = (
            SparkSession.builder.master(f"local[{cores}]")
            .config("spark.ui.enabled", "false")
            .config("spark.driver.memory", "4g")
            .config("spark.sql.execution.arrow.maxRecordsPerBatch", "32768")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        df = spark.read.parquet(data)
        t = time.perf_counter()
        healthscore.spark.score(df, hs.Registry(models).load("bench")).write.mode("overwrite").parquet(out)
        seconds = time.perf_counter() - t
        spark.stop()
        report(seconds)


def report(seconds: float) -> None:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mib": max(own, children)}))


def measure(args: list, env: dict) -> tuple:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run(args, check=True, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = json.loads(p.stdout.strip().splitlines()[-1])
    return r["seconds"], wall, r["rss_mib"], (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", type=pathlib.Path)
    ap.add_argument("--bin", default="target/release/healthscore")
    ap.add_argument("--cores", type=int, default=os.cpu_count())
    ap.add_argument("--paths", default="cli,duckdb,spark")
    ap.add_argument("--models", default="gbdt,logistic")
    ap.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        kind, path, data, models, out, cores = a.child
        child(kind, path, data, models, out, int(cores))
        return
    data = str((a.dir / "bench.parquet").resolve())
    tmp = pathlib.Path(tempfile.mkdtemp())
    env = dict(os.environ, HS_BIN=str(pathlib.Path(a.bin).resolve()))
    for kind in a.models.split(","):
        models = str((a.dir / f"models-{kind}").resolve())
        for path in a.paths.split(","):
            out = str(tmp / f"{kind}-{path}.parquet")
            args = [sys.executable, __file__, str(a.dir), "--child", kind, path, data, models, out, str(a.cores)]
            inner, wall, rss, cpu = measure(args, env)
            print(f"{kind:9} {path:7} scoring {inner:6.2f} s (with start-up {wall:6.2f} s, CPU {cpu:6.1f} s), peak RSS {rss:,.0f} MiB", flush=True)


if __name__ == "__main__":
    main()
