"""partial_fit that resumes exactly, early stopping, schedules, out-of-core."""

import pickle
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from conftest import standardized
from sklearn.datasets import load_iris, make_classification

from sklearn_adamlr import (
    AdamLogisticRegression,
    available_solvers,
    fit_stream,
    get_solver,
)

SOLVERS = available_solvers()
X, Y = standardized(load_iris)
CLASSES = np.unique(Y)
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "stream_csv.py"


@pytest.mark.parametrize("solver", SOLVERS)
def test_fit_equals_repeated_partial_fit(solver):
    kw = dict(solver=solver, shuffle=False, random_state=0, batch_size=32)
    fitted = AdamLogisticRegression(max_iter=7, tol=None, **kw).fit(X, Y)
    streamed = AdamLogisticRegression(**kw)
    for _ in range(7):
        streamed.partial_fit(X, Y, classes=CLASSES)
    np.testing.assert_allclose(streamed.coef_, fitted.coef_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(streamed.intercept_, fitted.intercept_, atol=1e-12)
    updates_per_epoch = 1 if get_solver(solver).full_batch else 5  # 150 / 32
    assert streamed.t_ == fitted.t_ == 7 * updates_per_epoch
    assert streamed.n_iter_ == 7
    assert len(streamed.loss_curve_) == 7
    np.testing.assert_allclose(streamed.loss_curve_, fitted.loss_curve_, rtol=1e-12)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("schedule", ["constant", "invscaling"])
def test_pickle_resume_is_bit_identical(solver, schedule):
    # shuffle=True: the random generator is part of the saved state.
    kw = dict(solver=solver, schedule=schedule, random_state=3, batch_size=16)
    chunks = [(X[i::3], Y[i::3]) for i in range(3)]
    reference = AdamLogisticRegression(**kw)
    for _ in range(2):
        for Xc, yc in chunks:
            reference.partial_fit(Xc, yc, classes=CLASSES)
    for stop in range(1, 6):
        est = AdamLogisticRegression(**kw)
        calls = 0
        for _ in range(2):
            for Xc, yc in chunks:
                est.partial_fit(Xc, yc, classes=CLASSES)
                calls += 1
                if calls == stop:
                    est = pickle.loads(pickle.dumps(est))
        assert np.array_equal(est.coef_, reference.coef_)
        assert np.array_equal(est.intercept_, reference.intercept_)
        assert est.loss_curve_ == reference.loss_curve_
        assert est.t_ == reference.t_


def test_schedule_continues_across_calls():
    from sklearn_adamlr import InverseScaling

    kw = dict(
        solver="minibatch",
        shuffle=False,
        batch_size=50,
        momentum=0.0,
        learning_rate=0.5,
        schedule="invscaling",
        power_t=0.5,
    )
    a = AdamLogisticRegression(**kw)
    a.partial_fit(X, Y, classes=CLASSES)
    assert a.t_ == 3
    a.partial_fit(X, Y)
    assert a.t_ == 6
    # equal to one fit of two epochs, whose steps use t = 1..6
    b = AdamLogisticRegression(max_iter=2, tol=None, **kw).fit(X, Y)
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-12)
    assert InverseScaling(0.5)(0.5, a.t_) == pytest.approx(0.5 / np.sqrt(6))


@pytest.mark.parametrize("solver", SOLVERS)
def test_warm_start_continues_fit(solver):
    kw = dict(solver=solver, random_state=0, tol=None)
    cold = AdamLogisticRegression(max_iter=3, **kw).fit(X, Y)
    warm = AdamLogisticRegression(max_iter=3, warm_start=True, **kw).fit(X, Y)
    first_coef = warm.coef_.copy()
    warm.fit(X, Y)
    # the second fit starts where the first ended: its first loss is the
    # loss reached, well below the cold start's first epoch
    assert warm.loss_curve_[0] < cold.loss_curve_[0]
    assert not np.array_equal(warm.coef_, first_coef)
    restart = AdamLogisticRegression(max_iter=3, warm_start=False, **kw).fit(X, Y)
    restart.fit(X, Y)
    np.testing.assert_array_equal(restart.coef_, cold.coef_)


@pytest.mark.parametrize("solver", SOLVERS)
def test_early_stopping_keeps_the_best_epoch(solver):
    Xb, yb = make_classification(
        n_samples=600, n_features=20, flip_y=0.2, random_state=0
    )
    est = AdamLogisticRegression(
        solver=solver,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=5,
        tol=1e-3,
        max_iter=500,
        random_state=0,
    ).fit(Xb, yb)
    scores = est.validation_scores_
    assert len(scores) == est.n_iter_ < 500
    assert est.best_validation_score_ == max(scores)
    # the model kept is the best epoch's: recompute its validation score
    from sklearn.model_selection import train_test_split

    rng = np.random.RandomState(np.random.RandomState(0).randint(2**31 - 1))
    _, val_idx = train_test_split(
        np.arange(600), test_size=0.2, random_state=rng, stratify=yb
    )
    assert est.score(Xb[np.sort(val_idx)], yb[np.sort(val_idx)]) == pytest.approx(
        est.best_validation_score_
    )
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        est.partial_fit(Xb, yb)


def test_fit_stream_epochs_and_sources():
    chunks = [(X[i::4], Y[i::4]) for i in range(4)]
    kw = dict(shuffle=False, random_state=0)
    by_list = fit_stream(
        AdamLogisticRegression(**kw), chunks, classes=CLASSES, n_epochs=3
    )
    by_callable = fit_stream(
        AdamLogisticRegression(**kw), lambda: iter(chunks), classes=CLASSES, n_epochs=3
    )
    manual = AdamLogisticRegression(**kw)
    for _ in range(3):
        for Xc, yc in chunks:
            manual.partial_fit(Xc, yc, classes=CLASSES)
    np.testing.assert_array_equal(by_list.coef_, manual.coef_)
    np.testing.assert_array_equal(by_callable.coef_, manual.coef_)
    assert len(by_list.loss_curve_) == 12
    with pytest.raises(TypeError, match="one-shot iterator"):
        fit_stream(AdamLogisticRegression(), iter(chunks), classes=CLASSES, n_epochs=2)
    weighted = [(Xc, yc, np.ones(len(yc))) for Xc, yc in chunks]
    by_weights = fit_stream(
        AdamLogisticRegression(**kw), weighted, classes=CLASSES, n_epochs=3
    )
    np.testing.assert_allclose(by_weights.coef_, manual.coef_, atol=1e-12)


def test_fit_stream_verbose_reports_progress(capsys):
    chunks = [(X[i::2], Y[i::2]) for i in range(2)]
    fit_stream(AdamLogisticRegression(), chunks, classes=CLASSES, n_epochs=2, verbose=1)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert "epoch 2: 4 chunks, 300 samples seen" in out[1]
    assert "samples/s" in out[1]


def _write_csv(path, n_samples, seed=0):
    import pandas as pd

    X, y = make_classification(
        n_samples=n_samples, n_features=8, n_informative=5, random_state=seed
    )
    frame = pd.DataFrame(X * 10 + 3, columns=[f"f{i}" for i in range(8)])
    frame["label"] = np.array(["no", "yes"])[y]
    frame.to_csv(path, index=False)


def test_stream_csv_example_runs_and_learns(tmp_path):
    path = tmp_path / "data.csv"
    _write_csv(path, 12_000)
    out = subprocess.run(
        [
            sys.executable,
            str(EXAMPLE),
            str(path),
            "--target",
            "label",
            "--chunksize",
            "2000",
            "--holdout",
            "2000",
            "--epochs",
            "2",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.splitlines()
    assert len(out) == 10  # 5 chunks of 2,000 training rows, 2 epochs
    losses = [float(line.split("log-loss")[1].split()[0]) for line in out]
    assert losses[-1] < 0.5 < np.log(2)
    assert out[-1].startswith("epoch 2 samples     20000")


def test_stream_csv_example_memory_does_not_grow_with_the_file(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("stream_csv", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    peaks = []
    for n in (6_000, 30_000):
        path = tmp_path / f"data{n}.csv"
        _write_csv(path, n)
        tracemalloc.start()
        module.main(
            [str(path), "--target", "label", "--chunksize", "1000", "--holdout", "1000"]
        )
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    # five times the rows: the peak is set by one chunk, not by the file
    # (the whole 30,000-row file as floats alone would be ~2 MB more)
    assert peaks[1] < 1.3 * peaks[0]
