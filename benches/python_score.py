"""Scoring from Python against the command line, on the data of `healthscore bench`.

    healthscore bench --rows 1000000 --features 40            # writes bench-data/
    python benches/python_score.py bench-data [--bin target/release/healthscore]

Times, in one run and alternating: the CLI's Parquet-to-Parquet scoring run
(`healthscore score`, wall time of the process), and the same models scoring
the same table from Python: the polars frame read from the same Parquet file,
scored by `version.score`, written back with `write_parquet`. Prints the
median of each and their ratio. The package must be installed (built with
--release, as `pip install ./python` does)."""

import argparse
import pathlib
import statistics
import subprocess
import tempfile
import time

import polars as pl

import healthscore as hs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", type=pathlib.Path)
    ap.add_argument("--bin", default="target/release/healthscore")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", default="gbdt,logistic")
    a = ap.parse_args()
    data = a.dir / "bench.parquet"
    out = pathlib.Path(tempfile.mkdtemp())
    for kind in a.models.split(","):
        models = a.dir / f"models-{kind}"
        version = hs.Registry(models).load("bench")
        cli, py, score_only = [], [], []
        for _ in range(a.repeats):
            t = time.perf_counter()
            subprocess.run(
                [a.bin, "-q", "score", "--models", str(models), "--version", "bench", "--input", str(data), "--output", str(out / "cli.parquet")],
                check=True,
            )
            cli.append(time.perf_counter() - t)
            t = time.perf_counter()
            frame = pl.read_parquet(data)
            s = time.perf_counter()
            scores = version.score(frame)
            score_only.append(time.perf_counter() - s)
            scores.write_parquet(out / "py.parquet")
            py.append(time.perf_counter() - t)
            del frame, scores
        c, p, so = statistics.median(cli), statistics.median(py), statistics.median(score_only)
        rows = pl.scan_parquet(data).select(pl.len()).collect().item()
        print(
            f"{kind:9} {rows:,} rows: CLI Parquet→Parquet {c:.2f} s; Python read+score+write {p:.2f} s "
            f"(score alone {so:.2f} s); Python / CLI = {p / c:.2f}×"
        )


if __name__ == "__main__":
    main()
