"""Shared set-up: the repository's sample data and the command line beside the package."""

import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "notebooks-data"
SPECS = ROOT / "training"


@pytest.fixture(scope="session")
def cli() -> str:
    """The `healthscore` binary: $HEALTHSCORE_BIN, else target/debug (built if missing)."""
    given = os.environ.get("HEALTHSCORE_BIN")
    if given:
        return given
    binary = ROOT / "target" / "debug" / "healthscore"
    if not binary.exists():
        subprocess.run(["cargo", "build", "--locked", "--bin", "healthscore"], cwd=ROOT, check=True)
    return str(binary)


def run(cli: str, *args: str) -> subprocess.CompletedProcess:
    """Runs the command line; fails the test with its stderr when it fails."""
    p = subprocess.run([cli, *args], capture_output=True, text=True)
    assert p.returncode == 0, f"healthscore {' '.join(args)} failed:\n{p.stderr}"
    return p


@pytest.fixture(scope="session")
def spark():
    """A local Spark session with 4 cores' worth of partitions, its workers on this Python."""
    import shutil
    import sys

    pyspark = pytest.importorskip("pyspark")
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[4]")
        .appName("healthscore-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
