"""The Python package against the command line: same models, same scores,
same figures; bad frames raise HealthscoreError naming the column and row."""

import json
import threading

import polars as pl
import pytest

import healthscore as hs
from conftest import DATA, SPECS, run

# (spec, history, live) of the two bundled data sets.
SETS = {
    "sample": (SPECS / "saas.toml", DATA / "history.csv", DATA / "live.csv"),
    "telco": (SPECS / "telco.toml", DATA / "telco.train.csv", DATA / "telco.test.csv"),
}


@pytest.fixture(scope="module", params=sorted(SETS))
def trained(request, tmp_path_factory, cli):
    """A registry trained by the command line, and its scores file."""
    name = request.param
    spec, history, live = SETS[name]
    tmp = tmp_path_factory.mktemp(name)
    models = tmp / "models"
    run(cli, "train", "--spec", str(spec), "--input", str(history), "--models", str(models), "--version", "v1")
    scores = tmp / "scores.csv"
    run(cli, "score", "--models", str(models), "--input", str(live), "--output", str(scores))
    return name, spec, history, live, models, scores


def test_scores_frame_is_the_cli_scores_file(trained):
    name, _, _, live, models, scores_file = trained
    version = hs.Registry(models).load()
    for table in (live, pl.read_csv(live, infer_schema_length=None)):
        frame = version.score(table)
        cli = pl.read_csv(scores_file, schema=frame.schema)
        assert frame.columns == cli.columns, name
        assert frame.equals(cli), f"{name}: the scores differ from the command line's"
        # Written as CSV by the same writer, the two tables are the same bytes.
        assert frame.write_csv() == cli.write_csv()
        assert frame.height == cli.height > 0


def test_pandas_and_arrow_tables_score_the_same(trained):
    _, _, _, live, models, _ = trained
    version = hs.Registry(models).load()
    frame = pl.read_csv(live, infer_schema_length=None)
    expected = version.score(frame)
    assert version.score(frame.to_pandas()).equals(expected)
    assert version.score(frame.to_arrow()).equals(expected)


def test_training_on_a_frame_gives_the_cli_model_bytes(trained, tmp_path):
    name, spec, history, _, models, _ = trained
    frame = pl.read_csv(history, infer_schema_length=None)
    version = hs.Registry(tmp_path / "models").train(hs.Spec.load(spec), frame, version="v1")
    for target in version.manifest["targets"]:
        ours = (tmp_path / "models" / "v1" / f"{target}.json").read_bytes()
        theirs = (models / "v1" / f"{target}.json").read_bytes()
        assert ours == theirs, f"{name}: {target}.json differs between the frame and the file"
    assert version.manifest["input"]["rows"] == frame.height


def test_validation_figures_are_the_cli_report(trained, cli, tmp_path):
    name, _, _, _, models, scores_file = trained
    if name == "telco":
        outcomes = pl.read_csv(DATA / "telco.test.csv").select("account_id", "churned")
        outcomes_file = tmp_path / "outcomes.csv"
        outcomes.write_csv(outcomes_file)
    else:
        outcomes_file = DATA / "outcomes.csv"
    report = tmp_path / "report.json"
    run(cli, "validate", "--scores", str(scores_file), "--outcomes", str(outcomes_file), "--models", str(models), "--json", str(report))
    expected = json.loads(report.read_text())
    scores = hs.Registry(models).load().score(DATA / ("telco.test.csv" if name == "telco" else "live.csv"))
    got = hs.validate(scores, pl.read_csv(outcomes_file), registry=models).figures
    for key in ("risk", "upsell", "segments", "joined_rows"):
        assert got[key] == expected[key], f"{name}: `{key}` differs from the command line's"
    assert 0.5 < got["risk"]["roc_auc"]["estimate"] <= 1.0


def test_the_validation_shows_inline(trained):
    _, _, _, live, models, scores_file = trained
    v = hs.Registry(models).load().holdout()
    page = v.to_html()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page
    inline = v._repr_html_()
    assert inline.startswith("<iframe srcdoc=") and "&lt;svg" in inline
    assert "AUC" in v.summary()
    ok, why = v.gate(0.0)
    assert ok, why
    ok, why = v.gate(1.0)
    assert not ok and "below the minimum" in why


def test_explain_one_account(trained):
    name, _, _, live, models, scores_file = trained
    version = hs.Registry(models).load()
    scores = pl.read_csv(scores_file, infer_schema_length=None)
    red = scores.sort("risk", descending=True)["account_id"][0]
    e = version.explain(live, red)
    assert red in e.card and red in repr(e)
    d = e.to_dict()
    assert d["account_id"] == red
    assert d["risk"] == pytest.approx(scores.filter(pl.col("account_id") == red)["risk"][0], abs=0)
    # Every feature is listed among the drivers of the explanation.
    n = len(version.manifest["features"])
    assert f"risk_driver_{n}" in e.row.columns
    assert "<pre" in e._repr_html_()
    with pytest.raises(hs.HealthscoreError, match="no account `nobody`"):
        version.explain(live, "nobody")


def test_previous_run_gives_alerts(trained):
    _, _, _, live, models, scores_file = trained
    version = hs.Registry(models).load()
    previous = pl.read_csv(scores_file, infer_schema_length=None)
    # Last quarter every account was green: those now red or yellow are alerts.
    previous = previous.with_columns(pl.lit("green").alias("band"), pl.lit(0.01).alias("risk"))
    run_ = version.score_run(live, previous=previous)
    moved = run_.scores.filter(pl.col("band") != "green").height
    assert run_.summary["previous_matched"] == run_.scores.height
    assert run_.alerts.height == run_.summary["alerts"] > 0
    assert run_.alerts.height <= moved + run_.scores.height


def test_bad_frames_name_the_column_and_row(trained):
    name, spec, _, live, models, _ = trained
    version = hs.Registry(models).load()
    frame = pl.read_csv(live, infer_schema_length=None)
    feature = version.manifest["features"][0]["name"]
    numeric = next(f["name"] for f in version.manifest["features"] if not f["categorical"])
    with pytest.raises(hs.HealthscoreError, match=f"`{feature}`"):
        version.score(frame.drop(feature))
    bad = frame.with_columns(pl.col(numeric).cast(pl.String))
    bad = bad.with_columns(pl.when(pl.int_range(pl.len()) == 4).then(pl.lit("lots")).otherwise(pl.col(numeric)).alias(numeric))
    with pytest.raises(hs.HealthscoreError) as e:
        version.score(bad)
    message = str(e.value)
    assert numeric in message and "lots" in message and "row" in message, message
    assert isinstance(e.value, ValueError)
    with pytest.raises(hs.HealthscoreError, match="no rows|empty"):
        version.score(frame.head(0))
    with pytest.raises(TypeError):
        version.score([1, 2, 3])


def test_registry_promote_and_rollback(tmp_path):
    data = hs.generate(accounts=400, quarters=3, seed=5)
    assert set(data) == {"history", "live", "outcomes", "truth"}
    spec = hs.Spec.load(SPECS / "saas.toml")
    reg = hs.Registry(tmp_path / "models")
    assert reg.versions() == [] and reg.in_use() is None
    first = reg.train(spec, data["history"], version="a")
    assert reg.in_use() == "a" and first.name == "a"
    second = reg.train(spec, data["history"].sample(fraction=0.9, seed=1), version="b")
    assert reg.in_use() == "a" and reg.versions() == ["a", "b"]
    assert reg.promote("b") == "b" and reg.in_use() == "b"
    assert reg.rollback() == "a" and reg.in_use() == "a"
    with pytest.raises(hs.HealthscoreError, match="already exists"):
        reg.train(spec, data["history"], version="a")
    with pytest.raises(hs.HealthscoreError):
        reg.promote("../elsewhere")
    bt = reg.retrain(spec, data["history"], version="c")
    assert bt["version"] == "c" and bt["recommendation"] in ("promote", "keep")
    assert bt["champion"] == "a"
    assert second.spec.to_dict() == spec.to_dict()


def test_spec_round_trips_through_toml():
    spec = hs.Spec.load(SPECS / "saas.toml")
    again = hs.Spec.from_toml(spec.to_toml())
    assert again.to_dict() == spec.to_dict()
    assert ("logins_30d", "engagement") in spec.features
    with pytest.raises(hs.HealthscoreError, match="line"):
        hs.Spec.from_toml("[columns\nid = 1")


def test_generate_matches_the_cli(cli, tmp_path):
    run(cli, "generate", "--accounts", "300", "--quarters", "3", "--seed", "9", "--out", str(tmp_path))
    data = hs.generate(accounts=300, quarters=3, seed=9)
    for name in ("history", "live", "outcomes"):
        frame = data[name]
        file = pl.read_csv(tmp_path / f"{name}.csv", schema=frame.schema)
        assert frame.equals(file), name


def test_long_calls_release_the_gil(trained):
    _, _, _, live, models, _ = trained
    version = hs.Registry(models).load()
    one = pl.read_csv(live, infer_schema_length=None)
    frame = pl.concat([one.with_columns(pl.col("account_id") + f"-{i}") for i in range(20)])
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(1)
            stop.wait(0.001)

    t = threading.Thread(target=tick, daemon=True)
    t.start()
    try:
        before = len(ticks)
        version.score(frame)
        during = len(ticks) - before
    finally:
        stop.set()
        t.join()
    # The ticker ran while the core scored: the GIL was not held throughout.
    assert during > 0


def test_a_drafted_spec_trains_and_matches_the_command_line(tmp_path, cli):
    frame = pl.read_csv(DATA / "telco.csv")
    spec = hs.Spec.draft(frame, label="churned")
    assert spec.to_dict()["columns"]["risk_label"] == "churned"
    assert len(spec.features) == 19
    assert "# Drafted by `healthscore init`" in spec.draft_toml
    assert any("roles:" in line for line in spec.draft_summary)
    # The command line drafts the same spec from the file.
    text = run(cli, "init", "--input", str(DATA / "telco.csv"), "--label", "churned").stdout
    drafted = hs.Spec.from_toml(text).to_dict()
    assert drafted == spec.to_dict() | {"name": drafted["name"]}
    version = hs.Registry(tmp_path / "models").train(spec, DATA / "telco.train.csv")
    assert version.manifest["targets"]["risk"]["holdout"]["metrics"]["roc_auc"] > 0.8


def test_a_draft_without_a_label_says_how_to_name_it():
    frame = pl.DataFrame({"account_id": ["a", "b"], "x": [1.0, 2.0]})
    with pytest.raises(hs.HealthscoreError, match="--label"):
        hs.Spec.draft(frame)


def test_outcome_files_are_read_under_the_spec_names(cli, tmp_path):
    """A table whose id is named otherwise and looks like a number (`000123`)
    validates from files as the command line validates it: the outcomes' id
    is read as text under the spec's name."""
    def rename(src, dst):
        frame = pl.read_csv(src, infer_schema_length=None)
        ids = pl.Series("customer", [f"{i:06d}" for i in range(1, frame.height + 1)])
        frame.drop("account_id").insert_column(0, ids).write_csv(dst)
        return dst

    train = rename(DATA / "telco.train.csv", tmp_path / "train.csv")
    test = rename(DATA / "telco.test.csv", tmp_path / "test.csv")
    spec = tmp_path / "spec.toml"
    text = (SPECS / "telco.toml").read_text()
    assert 'id = "account_id"' in text
    spec.write_text(text.replace('id = "account_id"', 'id = "customer"'))
    models = tmp_path / "models"
    run(cli, "train", "--spec", str(spec), "--input", str(train), "--models", str(models))
    scores = tmp_path / "scores.csv"
    run(cli, "score", "--models", str(models), "--input", str(test), "--output", str(scores))
    report = tmp_path / "report.json"
    run(cli, "validate", "--scores", str(scores), "--outcomes", str(test), "--models", str(models), "--json", str(report))
    expected = json.loads(report.read_text())
    got = hs.validate(scores, test, registry=models).figures
    assert got["joined_rows"] == expected["joined_rows"] == 1761
    assert got["risk"] == expected["risk"]
