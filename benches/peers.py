#!/usr/bin/env python3
"""The steps of `healthscore bench`, done with the Python peers on the same data:
pandas/pyarrow for reading, scikit-learn for the logistic model, LightGBM for
boosted trees (its pred_contrib TreeSHAP for scoring), shap's TreeExplainer for
TreeSHAP rows per second.

Usage (from the repository root):
    cargo run --release -- bench --rows 1000000 --features 40 --dir bench-data
    python3 benches/peers.py bench-data            # creates benches/.venv on first run
    python3 benches/peers.py bench-data --contrib-rows 100000

--contrib-rows N scores only the first N rows with LightGBM's pred_contrib
(about 700 rows/s: 1M rows take over 20 minutes) and reports its rows/s.

It re-executes itself inside benches/.venv, installing what it needs there.
"""
import json
import os
import subprocess
import sys
import time
import venv

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(HERE, ".venv")
PACKAGES = ["numpy", "pandas", "pyarrow", "scikit-learn", "lightgbm", "shap"]


def ensure_venv():
    py = os.path.join(VENV, "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        return
    if not os.path.exists(py):
        print(f"creating {VENV} and installing {' '.join(PACKAGES)}", file=sys.stderr)
        venv.create(VENV, with_pip=True)
        subprocess.check_call([py, "-m", "pip", "install", "-q", *PACKAGES])
    os.execv(py, [py, *sys.argv])


def main():
    ensure_venv()
    import numpy as np
    import pandas as pd
    import resource
    import lightgbm as lgb
    import shap
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    args = sys.argv[1:]
    contrib_rows = None
    if "--contrib-rows" in args:
        i = args.index("--contrib-rows")
        if i + 1 >= len(args) or not args[i + 1].isdigit() or int(args[i + 1]) == 0:
            sys.exit("peers.py: --contrib-rows needs a number of rows above 0, as in --contrib-rows 100000")
        contrib_rows = int(args[i + 1])
        del args[i:i + 2]
    data = args[0] if args else "bench-data"
    steps = []

    def timed(name, f, note=""):
        t = time.perf_counter()
        out = f()
        s = time.perf_counter() - t
        steps.append({"step": name, "seconds": s, "note": note,
                      "peak_rss_mib_process": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
        return out, s

    pq = os.path.join(data, "bench.parquet")
    df, _ = timed("read Parquet", lambda: pd.read_parquet(pq), "pandas + pyarrow")
    timed("read CSV", lambda: pd.read_csv(os.path.join(data, "bench.csv")), "pandas")
    y = df["churned"].to_numpy()
    num = [c for c in df.columns if c.startswith("f")]
    cat = [c for c in df.columns if c.startswith("c") and c != "churned"]
    X = df[num + cat]

    pre = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num),
        ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), cat),
    ])
    logit = Pipeline([("pre", pre), ("lr", LogisticRegression(C=1.0, max_iter=1000))])
    _, fit_lr = timed("fit logistic", lambda: logit.fit(X, y), "median impute, scale, one-hot, lbfgs C=1")
    lr_auc = roc_auc_score(y, logit.predict_proba(X)[:, 1])

    Xl = X.copy()
    for c in cat:
        Xl[c] = Xl[c].astype("category")
    booster_params = dict(objective="binary", n_estimators=300, max_depth=6, num_leaves=63, learning_rate=0.1,
                          min_child_samples=20, subsample=1.0, verbose=-1)
    gbm = lgb.LGBMClassifier(**booster_params)
    _, fit_gb = timed("fit gbdt", lambda: gbm.fit(Xl, y), "LightGBM 300 trees, depth 6, 63 leaves, lr 0.1")
    gb_auc = roc_auc_score(y, gbm.predict_proba(Xl)[:, 1])

    def top5(contrib, names):
        idx = np.argsort(-np.abs(contrib), axis=1)[:, :5]
        out = {}
        for k in range(5):
            j = idx[:, k]
            out[f"driver_{k+1}"] = np.asarray(names)[j]
            out[f"driver_{k+1}_contribution"] = contrib[np.arange(len(j)), j]
            out[f"driver_{k+1}_odds"] = np.exp(out[f"driver_{k+1}_contribution"])
        return out

    def score_logistic():
        live = pd.read_parquet(pq)
        Z = logit.named_steps["pre"].transform(live[num + cat])
        coef = logit.named_steps["lr"].coef_[0]
        contrib_cols = (Z - Z.mean(axis=0)) * coef
        # Sum one-hot columns per categorical feature.
        names = num + cat
        k = len(num)
        per_feature = np.empty((Z.shape[0], len(names)))
        per_feature[:, :k] = contrib_cols[:, :k]
        pos = k
        for i, cats in enumerate(logit.named_steps["pre"].named_transformers_["cat"].categories_):
            per_feature[:, k + i] = contrib_cols[:, pos:pos + len(cats)].sum(axis=1)
            pos += len(cats)
        out = pd.DataFrame({"account_id": live["account_id"], "risk": logit.predict_proba(live[num + cat])[:, 1]})
        for c, v in top5(per_feature, names).items():
            out[c] = v
        out.to_parquet(os.path.join(data, "peer-scores-logistic.parquet"))

    _, s_lr = timed("score logistic", score_logistic, "Parquet in → top-5 drivers → Parquet out")

    def score_gbdt():
        live = pd.read_parquet(pq)
        if contrib_rows is not None:
            live = live.iloc[:contrib_rows]
        Xv = live[num + cat].copy()
        for c in cat:
            Xv[c] = Xv[c].astype(pd.CategoricalDtype(Xl[c].cat.categories))
        contrib = gbm.booster_.predict(Xv, pred_contrib=True)
        out = pd.DataFrame({"account_id": live["account_id"], "risk": 1 / (1 + np.exp(-contrib.sum(axis=1)))})
        for c, v in top5(contrib[:, :-1], num + cat).items():
            out[c] = v
        out.to_parquet(os.path.join(data, "peer-scores-gbdt.parquet"))

    n_gb = len(df) if contrib_rows is None else min(len(df), contrib_rows)
    _, s_gb = timed("score gbdt", score_gbdt, f"LightGBM pred_contrib (TreeSHAP in C++) on {n_gb} rows, top-5, Parquet out")
    n_shap = min(len(df), 10_000)
    explainer = shap.TreeExplainer(gbm.booster_)
    _, s_shap = timed("TreeSHAP", lambda: explainer.shap_values(Xl.iloc[:n_shap]), f"shap TreeExplainer on {n_shap} rows")

    for s in steps:
        if s["step"] == "score logistic":
            s["rows_per_second"] = len(df) / s_lr
        if s["step"] == "score gbdt":
            s["rows_per_second"] = n_gb / s_gb
        if s["step"] == "TreeSHAP":
            s["rows_per_second"] = n_shap / s_shap
    report = {"rows": len(df), "features": len(num) + len(cat), "steps": steps, "logistic_auc": lr_auc, "gbdt_auc": gb_auc,
              "versions": {"scikit-learn": __import__("sklearn").__version__, "lightgbm": lgb.__version__, "shap": shap.__version__}}
    print(f"{'step':<16} {'seconds':>9} {'rows/s':>12}  note")
    for s in steps:
        rps = f"{s['rows_per_second']:.0f}" if "rows_per_second" in s else "-"
        print(f"{s['step']:<16} {s['seconds']:>9.3f} {rps:>12}  {s['note']}")
    print(f"training AUC: logistic {lr_auc:.4f}, gbdt {gb_auc:.4f}; process peak RSS {steps[-1]['peak_rss_mib_process']:.0f} MiB")
    with open(os.path.join(data, "peers.json"), "w") as f:
        json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
