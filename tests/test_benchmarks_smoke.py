"""The benchmark suite runs end to end at its --quick size and reports targets."""

import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


def test_quick_benchmark_writes_table_and_plots(tmp_path):
    subprocess.run(
        [sys.executable, str(RUN), "--quick", "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    summary = (tmp_path / "summary.md").read_text()
    assert "| case | model | epoch (s)" in summary
    assert "## Targets, as measured in this run" in summary
    # smoke sizes: a miss says so, and the section says why
    assert "Smoke sizes (`--quick`)" in summary
    targets = summary.split("## Targets, as measured in this run")[1]
    assert not any(row.endswith("| no |") for row in targets.splitlines())
    assert "issue" not in summary  # headings speak of the project
    assert "## saga: time to a relative gap" in summary
    assert "saga time to 1e-6 / lbfgs's (dense)" in summary
    # the runs of rows of saga's default, against a permutation of the samples
    assert "| saga, shuffle='samples' |" in summary
    if "compiled kernel: numba" in summary:
        assert "## First fit in a new process" in summary
        assert "| gd | csr |" in summary
    # the sparse targets come from models measured in turns, named with them
    assert "sparse minibatch bs=256 epoch / SGDClassifier epoch" in summary
    assert "round(s) in which these models were measured in turns" in summary
    for model in (
        "adam (bs=256)",
        "SGDClassifier",
        "MLPClassifier adam",
        "gd",
        "LogisticRegression lbfgs",
        "LogisticRegression saga",
    ):
        assert f"| {model} |" in summary
    assert "scikit-learn" in summary and "Machine:" in summary
    assert "## Default parameters: time to a certified model" in summary
    for model in ("LogisticRegression()", "AdamLogisticRegression() (lbfgs)", "gd",
                  "lbfgs", "minibatch", "adam", "saga", "newton",
                  "LogisticRegression(solver='newton-cholesky')"):  # fmt: skip
        assert f"standardized | {model} |" in summary
    # raw features: the default runs newton, against newton-cholesky's time
    assert "| breast cancer raw | AdamLogisticRegression() (newton) |" in summary
    for name in ("breast cancer", "wine", "iris"):  # digits: full size only
        assert f"AdamLogisticRegression() / newton-cholesky ({name} raw)" in summary
    # the default estimator against LogisticRegression(), on each data set
    assert "AdamLogisticRegression() / LogisticRegression() (dense" in summary
    for name in ("digits", "breast cancer", "wine", "iris"):  # standardized
        assert f"AdamLogisticRegression() / LogisticRegression() ({name}) (" in summary
    assert "fastest default fit within 1e-3 and without a warning" in summary
    assert "## One pass of partial_fit" in summary
    # choosing C: the CV estimators and a grid search, on the same folds
    assert "## Choosing C" in summary
    for name in ("breast cancer", "digits"):
        assert f"AdamLogisticRegressionCV / LogisticRegressionCV ({name})" in summary
        assert f"| {name} | GridSearchCV(AdamLogisticRegression()) |" in summary
    assert "default adam, one pass: relative gap (≤ 0.001)" in summary
    # the default shuffle's epoch, against one read and SGDClassifier's, and
    # on label-sorted rows
    assert "default adam epoch / one read of X (dense 20000x20" in summary
    assert "default adam epoch / SGDClassifier epoch (dense" in summary
    assert "adam (shuffle=True), label-sorted rows" in summary
    # the full-batch solvers' traces are recorded (their certificate is the
    # update's own pass): a time to 1e-4 on the dense set, not "–"
    saga_table = summary.split("## saga: time to a relative gap")[1].splitlines()
    for model in ("gd", "lbfgs"):
        row = next(
            line
            for line in saga_table
            if line.startswith("| dense ") and f"| {model} |" in line
        )
        assert row.split("|")[3].strip() != "–", row
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert len(pngs) == 5, pngs


def test_quick_dask_benchmark_compares_the_cluster_with_memory(tmp_path):
    pytest.importorskip("distributed")
    subprocess.run(
        [sys.executable, str(RUN.parent / "dask_run.py"), "--quick", "--out",
         str(tmp_path)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    summary = (tmp_path / "dask.md").read_text()
    for solver in ("lbfgs", "gd", "adam"):
        for where in ("in memory", "2 workers"):
            row = next(line for line in summary.splitlines()
                       if line.startswith(f"| {solver} | {where} |"))  # fmt: skip
            epoch, to_gap = (cell.strip() for cell in row.split("|")[3:5])
            assert float(epoch) > 0, row
            assert to_gap != "–", row  # each reaches 1e-4
    assert "Round trip of one distributed pass" in summary
