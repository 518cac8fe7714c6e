"""partial_fit that resumes exactly, early stopping, schedules, out-of-core."""

import pickle
import re
import subprocess
import sys
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import ENGINES, per_sample, standardized
from sklearn.datasets import load_iris, make_classification

from sklearn_adamlr import (
    AdamLogisticRegression,
    available_solvers,
    fit_stream,
    get_solver,
)

SOLVERS = available_solvers()
X, Y = standardized(load_iris)


def _own_epoch(solver):
    """A solver with its own epoch: one step per sample, a constant step."""
    return per_sample(solver)


def _schedule(solver, schedule):
    """``schedule``, or 'constant' for a solver that refuses a decaying one."""
    return "constant" if _own_epoch(solver) else schedule


CLASSES = np.unique(Y)
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "stream_csv.py"


@pytest.mark.parametrize("shuffle", [False, "blocks", True])
@pytest.mark.parametrize("solver", SOLVERS)
def test_fit_equals_repeated_partial_fit(solver, shuffle):
    # shuffled too: partial_fit draws its orders from the same generator
    kw = dict(solver=solver, shuffle=shuffle, random_state=0, batch_size=32)
    fitted = AdamLogisticRegression(max_iter=7, tol=None, **kw).fit(X, Y)
    streamed = AdamLogisticRegression(**kw)
    for _ in range(7):
        streamed.partial_fit(X, Y, classes=CLASSES)
    np.testing.assert_allclose(streamed.coef_, fitted.coef_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(streamed.intercept_, fitted.intercept_, atol=1e-12)
    updates_per_epoch = 1 if get_solver(solver).full_batch else 5  # 150 / 32
    if _own_epoch(solver):
        updates_per_epoch = 150  # one per sample
    assert streamed.t_ == fitted.t_ == 7 * updates_per_epoch
    assert streamed.n_iter_ == 7
    assert len(streamed.loss_curve_) == 7
    np.testing.assert_allclose(streamed.loss_curve_, fitted.loss_curve_, rtol=1e-12)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fit_equals_repeated_partial_fit_binary_weighted_elastic_net(solver, dtype):
    # The other branches of the loop: a sigmoid, sample weights, the prox
    # step of L1, no intercept, float32 all the way through.
    Xb, yb = make_classification(n_samples=90, n_features=6, random_state=1)
    Xb = Xb.astype(dtype)
    sw = np.random.RandomState(1).randint(1, 4, size=90).astype(float)
    kw = dict(
        solver=solver,
        shuffle=False,
        C=0.5,
        l1_ratio=0.5,
        fit_intercept=False,
        batch_size=25,
        schedule=_schedule(solver, "invscaling"),
    )
    fitted = AdamLogisticRegression(max_iter=5, tol=None, **kw).fit(
        Xb, yb, sample_weight=sw
    )
    streamed = AdamLogisticRegression(**kw)
    for _ in range(5):
        streamed.partial_fit(Xb, yb, classes=[0, 1], sample_weight=sw)
    assert streamed.coef_.dtype == fitted.coef_.dtype == dtype
    if _own_epoch(solver) and dtype == np.float32:
        # Each call recomputes the table's mean gradient (see Saga), which
        # fit keeps up to date: float32 coefficients then round differently,
        # measured up to 4.5e-8 apart; the tolerance is one unit in the last
        # place of the largest coefficient (1.09).
        np.testing.assert_allclose(streamed.coef_, fitted.coef_, rtol=0, atol=1.2e-7)
        return
    np.testing.assert_allclose(streamed.coef_, fitted.coef_, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(streamed.intercept_, [0])
    assert streamed.t_ == fitted.t_
    np.testing.assert_allclose(streamed.loss_curve_, fitted.loss_curve_, rtol=1e-12)


def _other_solver(solver):
    return "minibatch" if solver != "minibatch" else "adam"


# (name, change made before the bad call, arguments of the call, regex).
# Each one is refused in the middle of a stream.
BAD_CHUNKS = [
    (
        "unseen labels",
        {},
        dict(X=X, y=np.where(Y == 2, 7, Y)),
        r"y contains labels not in classes \[0, 1, 2\]: \[7\]",
    ),
    (
        "classes changed",
        {},
        dict(X=X, y=Y, classes=[0, 1, 2, 3]),
        "is not the same as on the first call",
    ),
    ("features", {}, dict(X=X[:, :3], y=Y), "X has 3 features.*expecting 4"),
    ("NaN", {}, dict(X=np.where(X > 2, np.nan, X), y=Y), "Input X contains NaN"),
    ("inf", {}, dict(X=np.where(X > 2, np.inf, X), y=Y), "contains infinity"),
    (
        "early_stopping",
        dict(early_stopping=True),
        dict(X=X, y=Y),
        "partial_fit does not support early_stopping",
    ),
    (
        "balanced",
        dict(class_weight="balanced"),
        dict(X=X, y=Y),
        "class_weight 'balanced' is not supported for partial_fit",
    ),
    ("solver", "other", dict(X=X, y=Y), "partial_fit was started with solver"),
    (
        "fit_intercept",
        dict(fit_intercept=False),
        dict(X=X, y=Y),
        "fit_intercept was changed since the first call to partial_fit; "
        "call fit to start afresh",
    ),
    ("bad parameter", dict(batch_size=0), dict(X=X, y=Y), "batch_size"),
]


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize(
    "name, change, call, match", BAD_CHUNKS, ids=[row[0] for row in BAD_CHUNKS]
)
def test_a_refused_chunk_changes_nothing_and_the_stream_goes_on(
    solver, name, change, call, match
):
    params = dict(solver=solver, random_state=0, batch_size=40)
    chunks = [(X[i::3], Y[i::3]) for i in range(3)]
    reference = AdamLogisticRegression(**params)
    for Xc, yc in chunks:
        reference.partial_fit(Xc, yc, classes=CLASSES)

    est = AdamLogisticRegression(**params).partial_fit(*chunks[0], classes=CLASSES)
    if change == "other":
        change = dict(solver=_other_solver(solver))
    original = {key: est.get_params()[key] for key in change}
    before = pickle.dumps(est)
    est.set_params(**change)
    with pytest.raises(ValueError, match=match):
        est.partial_fit(**call)
    est.set_params(**original)
    assert pickle.dumps(est) == before
    # the refused call left no trace: not in the solver state, the random
    # generator, the step count or the loss curve
    for Xc, yc in chunks[1:]:
        est.partial_fit(Xc, yc)
    np.testing.assert_array_equal(est.coef_, reference.coef_)
    np.testing.assert_array_equal(est.intercept_, reference.intercept_)
    assert est.loss_curve_ == reference.loss_curve_
    assert est.t_ == reference.t_ and est.n_iter_ == reference.n_iter_ == 3


def test_partial_fit_continues_a_fit():
    # fit then partial_fit: one more epoch of the same optimizer
    kw = dict(solver="adam", shuffle=False, random_state=0, tol=None)
    both = AdamLogisticRegression(max_iter=3, **kw).fit(X, Y).partial_fit(X, Y)
    once = AdamLogisticRegression(max_iter=4, **kw).fit(X, Y)
    np.testing.assert_allclose(both.coef_, once.coef_, rtol=0, atol=1e-12)
    assert both.n_iter_ == once.n_iter_ == 4
    assert both.t_ == once.t_
    # and fit after partial_fit starts afresh (no warm_start)
    refit = pickle.loads(pickle.dumps(both)).fit(X, Y)
    three = AdamLogisticRegression(max_iter=3, **kw).fit(X, Y)
    np.testing.assert_array_equal(refit.coef_, three.coef_)
    assert len(refit.loss_curve_) == 3 and refit.t_ == three.t_


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("schedule", ["constant", "invscaling"])
@pytest.mark.parametrize("shuffle", ["blocks", True])
def test_pickle_resume_is_bit_identical(solver, schedule, shuffle):
    # Shuffled minibatches: the random generator is part of the saved state.
    kw = dict(
        solver=solver,
        schedule=_schedule(solver, schedule),
        shuffle=shuffle,
        random_state=3,
        batch_size=16,
    )
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


class _Recorder:
    """A classifier whose partial_fit takes no sample_weight, and records calls."""

    def __init__(self):
        self.calls = []

    def partial_fit(self, X, y, classes=None):
        self.calls.append((len(y), list(classes)))
        return self


def test_fit_stream_passes_only_what_each_chunk_has():
    chunks = [(X[:50], Y[:50]), (X[50:], Y[50:])]
    rec = fit_stream(_Recorder(), chunks, classes=CLASSES, n_epochs=2)
    assert rec.calls == [(50, [0, 1, 2]), (100, [0, 1, 2])] * 2
    with pytest.raises(TypeError, match="sample_weight"):
        fit_stream(_Recorder(), [(X, Y, np.ones(150))], classes=CLASSES)


def test_fit_stream_reads_a_generator_once_by_default_and_says_how_far(capsys):
    # one epoch by default, so a one-shot generator is fine; verbose=2 prints
    # a line per chunk and one per epoch, with the counts so far
    chunks = [(X[:50], Y[:50]), (X[50:], Y[50:])]
    rec = fit_stream(_Recorder(), (c for c in chunks), classes=CLASSES, verbose=2)
    assert rec.calls == [(50, [0, 1, 2]), (100, [0, 1, 2])]
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[:2] for line in lines] == [
        ["epoch 1: 1 chunks", " 50 samples seen"],
        ["epoch 1: 2 chunks", " 150 samples seen"],
        ["epoch 1: 2 chunks", " 150 samples seen"],
    ]
    # the rate is samples over seconds: a positive count, with thousands
    # separators (150 samples in well under a second: above 150 per second)
    rate = re.search(r"seen, ([\d,]+) samples/s", lines[-1]).group(1)
    assert int(rate.replace(",", "")) > 150
    est = fit_stream(AdamLogisticRegression(random_state=0), chunks, classes=CLASSES,
                     verbose=1)  # fmt: skip
    last = capsys.readouterr().out.splitlines()
    assert len(last) == 1 and last[0].startswith("epoch 1: 2 chunks, 150 samples")
    assert last[0].endswith(f"last chunk objective = {est.loss_curve_[-1]:.6f}")


@pytest.mark.parametrize("n_epochs", [0, -1, 1.5, True, "2"])
def test_fit_stream_refuses_bad_epochs(n_epochs):
    with pytest.raises(ValueError, match="n_epochs must be a positive integer"):
        fit_stream(
            AdamLogisticRegression(), [(X, Y)], classes=CLASSES, n_epochs=n_epochs
        )


def test_fit_stream_refuses_malformed_chunks_and_keeps_the_last_good_state():
    est = AdamLogisticRegression(random_state=0)
    good = (X[:75], Y[:75])
    with pytest.raises(ValueError, match="must be \\(X, y\\) or.*length 1"):
        fit_stream(est, [good, (X,)], classes=CLASSES)
    after_one = pickle.dumps(est)
    assert est.t_ == 1
    with pytest.raises(ValueError, match="Input X contains NaN"):
        fit_stream(est, [good, (X * np.nan, Y)], classes=CLASSES)
    # the good chunk was learned, the bad one rolled back
    assert est.t_ == 2 and len(est.loss_curve_) == 2
    assert pickle.dumps(est) != after_one


def test_fit_stream_rereads_a_csv_source_each_epoch(tmp_path):
    import pandas as pd

    path = tmp_path / "data.csv"
    _write_csv(path, 1_000)

    class CsvChunks:
        """Re-iterable: each iteration re-opens the file."""

        def __iter__(self):
            for frame in pd.read_csv(path, chunksize=300):
                y = frame.pop("label").to_numpy()
                yield frame.to_numpy(dtype=np.float64) / 10, y

    est = fit_stream(
        AdamLogisticRegression(random_state=0),
        CsvChunks(),
        classes=["no", "yes"],
        n_epochs=3,
    )
    assert len(est.loss_curve_) == 3 * 4  # 300 + 300 + 300 + 100 rows
    assert est.t_ == 3 * (2 + 2 + 2 + 1)  # batches of at most 200 rows
    np.testing.assert_array_equal(est.classes_, ["no", "yes"])


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
    assert out[0].startswith("12000 rows, 2 classes; 2000 held out at random (")
    out = out[1:]
    assert len(out) == 12  # 6 chunks with training rows, 2 epochs
    losses = [float(line.split("log-loss")[1].split()[0]) for line in out]
    assert losses[-1] < 0.5 < np.log(2)
    assert out[-1].startswith("epoch 2 samples     20000")


def _run_example(*args):
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_stream_csv_example_on_a_small_label_sorted_file(tmp_path):
    # 300 rows sorted by label: the old hold-out, the first 2,000 rows, took
    # the whole file (and one class)
    import pandas as pd

    path = tmp_path / "sorted.csv"
    _write_csv(path, 300)
    frame = pd.read_csv(path).sort_values("label")
    frame.to_csv(path, index=False)
    result = _run_example(path, "--target", "label", "--chunksize", "100")
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("300 rows, 2 classes; 30 held out at random (no: ")
    counts = [int(part.split(": ")[1]) for part in first[:-1].split("(")[1].split(", ")]
    assert len(counts) == 2 and min(counts) >= 5  # both classes held out


@pytest.mark.parametrize(
    "change, args, message",
    [
        (None, ["--target", "nope"], "no column 'nope'"),
        ("nan", ["--target", "label"], "missing values (first at line 5)"),
        ("tiny", ["--target", "label", "--holdout", "5"], "too few to hold out"),
        ("text", ["--target", "label"], "must be numeric: ['f0']"),
        ("missing", ["--target", "label"], "nope.csv: no such file"),
        ("folder", ["--target", "label"], "is a directory, not a CSV file"),
    ],
)
def test_stream_csv_example_errors_are_one_line(tmp_path, change, args, message):
    import pandas as pd

    path = tmp_path / "data.csv"
    _write_csv(path, 40)
    if change in ("missing", "folder"):
        target = tmp_path / "nope.csv" if change == "missing" else tmp_path
        result = _run_example(target, *args)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert message in result.stderr.strip().splitlines()[-1]
        return
    frame = pd.read_csv(path)
    if change == "nan":
        frame.loc[3, "f2"] = np.nan
    elif change == "tiny":  # 4 rows of both classes
        frame = frame.groupby("label").head(2)
    elif change == "text":
        frame["f0"] = "x"
    frame.to_csv(path, index=False)
    result = _run_example(path, *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert message in result.stderr.strip().splitlines()[-1]


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
            [str(path), "--target", "label", "--chunksize", "1000", "--holdout", "500"]
        )
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    # five times the rows: the peak is set by one chunk, not by the file
    # (the whole 30,000-row file as floats alone would be ~2 MB more)
    assert peaks[1] < 1.3 * peaks[0]


# ------------------------------------------ behaviours no other test reached


def _decay(learning_rate, t):
    """A callable schedule: 'invscaling' with power_t=0.5, written apart."""
    return learning_rate / max(t, 1) ** 0.5


# gd adapts its step after the first one (the schedule does not apply), saga
# takes a constant step
@pytest.mark.parametrize(
    "solver", [s for s in SOLVERS if not (_own_epoch(s) or get_solver(s).full_batch)]
)
def test_a_callable_schedule_is_used_per_step_and_pickles(solver):
    kw = dict(solver=solver, shuffle=True, random_state=0, batch_size=16,
              learning_rate=0.05)  # fmt: skip
    chunks = [(X[i::3], Y[i::3]) for i in range(3)]

    def stream(est, stop=None):
        for calls, (Xc, yc) in enumerate(chunks * 2, start=1):
            est.partial_fit(Xc, yc, classes=CLASSES)
            if calls == stop:
                est = pickle.loads(pickle.dumps(est))
        return est

    by_callable = stream(AdamLogisticRegression(schedule=_decay, **kw))
    by_name = stream(AdamLogisticRegression(schedule="invscaling", **kw))
    constant = stream(AdamLogisticRegression(schedule="constant", **kw))
    # the callable gets the same step counts as 'invscaling' (same rates,
    # up to the rounding of the power)
    np.testing.assert_allclose(by_callable.coef_, by_name.coef_, rtol=1e-12)
    assert not np.allclose(by_callable.coef_, constant.coef_, rtol=1e-3)
    # and it travels in a pickle, mid-stream
    resumed = stream(AdamLogisticRegression(schedule=_decay, **kw), stop=2)
    assert np.array_equal(resumed.coef_, by_callable.coef_)


@pytest.mark.parametrize("solver", SOLVERS)
def test_a_class_weight_dict_in_partial_fit_multiplies_sample_weight(solver):
    kw = dict(solver=solver, shuffle=True, random_state=0, batch_size=16)
    weights = {CLASSES[0]: 3.0, CLASSES[1]: 0.5, CLASSES[2]: 1.0}
    by_class = AdamLogisticRegression(class_weight=weights, **kw)
    by_sample = AdamLogisticRegression(**kw)
    plain = AdamLogisticRegression(**kw)
    for i in range(3):
        Xc, yc = X[i::3], Y[i::3]
        by_class.partial_fit(Xc, yc, classes=CLASSES)
        by_sample.partial_fit(
            Xc, yc, classes=CLASSES, sample_weight=np.vectorize(weights.get)(yc)
        )
        plain.partial_fit(Xc, yc, classes=CLASSES)
    np.testing.assert_allclose(by_class.coef_, by_sample.coef_, rtol=0, atol=1e-12)
    assert not np.allclose(by_class.coef_, plain.coef_, atol=1e-3)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("change", ["features", "classes"])
def test_warm_start_after_the_data_changed_starts_afresh(solver, change):
    kw = dict(solver=solver, random_state=0, max_iter=5, tol=None)
    first_X, first_y = X, Y
    if change == "features":
        second_X, second_y = np.hstack([X, X[:, :1] ** 2]), Y
    else:
        second_X, second_y = X, np.minimum(Y, 1)  # three classes, then two
    warm = AdamLogisticRegression(warm_start=True, **kw).fit(first_X, first_y)
    message = (
        "warm_start=True, but the classes or the number of features changed "
        "since the last fit: this fit starts from zero. Set warm_start=False "
        "to start afresh without this warning."
    )
    with pytest.warns(UserWarning, match=re.escape(message)):
        warm.fit(second_X, second_y)
    cold = AdamLogisticRegression(**kw).fit(first_X, first_y)
    # without warm_start, a refit on other data is a fresh fit: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cold.fit(second_X, second_y)
    assert warm.coef_.shape == cold.coef_.shape
    assert np.array_equal(warm.coef_, cold.coef_)
    assert np.array_equal(warm.classes_, cold.classes_)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("case", ["l1", "multiclass", "weighted"])
def test_a_sparse_stream_pickled_mid_way_resumes_exactly(solver, case):
    from scipy import sparse

    rng = np.random.RandomState(0)
    dense = rng.normal(size=(240, 30)) * (rng.uniform(size=(240, 30)) < 0.2)
    y = (dense[:, :3].sum(axis=1) > 0).astype(int)
    if case == "multiclass":
        y = y + (dense[:, 3] > 0.5)
    Xs = sparse.csr_matrix(dense)
    sw = rng.uniform(0.5, 2.0, size=240) if case == "weighted" else None
    kw = dict(solver=solver, random_state=0, batch_size=16)
    if case == "l1":
        kw.update(C=0.05, l1_ratio=1.0)  # strong enough for exact zeros
    classes = np.unique(y)
    chunks = [slice(i, i + 60) for i in range(0, 240, 60)]

    def stream(stop=None):
        est = AdamLogisticRegression(**kw)
        for calls, rows in enumerate(chunks * 2, start=1):
            w = None if sw is None else sw[rows]
            est.partial_fit(Xs[rows], y[rows], classes=classes, sample_weight=w)
            if calls == stop:
                est = pickle.loads(pickle.dumps(est))
        return est

    reference = stream()
    for stop in (1, 4, 5):
        resumed = stream(stop)
        assert np.array_equal(resumed.coef_, reference.coef_)
        assert np.array_equal(resumed.intercept_, reference.intercept_)
    if case == "l1":
        assert np.count_nonzero(reference.coef_ == 0) > 0


@pytest.mark.parametrize("solver", SOLVERS)
def test_early_stopping_returns_the_parameters_of_the_best_epoch(monkeypatch, solver):
    # Not only a model that scores as well: the very parameters of the first
    # epoch with the best validation score, recorded as the epochs ran.
    snapshots = []
    for cls in ENGINES:
        original = cls.run_epoch

        def run_epoch(self, plan, params, *rest, _original=original):
            out = _original(self, plan, params, *rest)
            snapshots.append(params.copy())
            return out

        monkeypatch.setattr(cls, "run_epoch", run_epoch)
    Xb, yb = make_classification(
        n_samples=600, n_features=20, flip_y=0.2, random_state=0
    )
    est = AdamLogisticRegression(
        solver=solver, early_stopping=True, validation_fraction=0.2,
        n_iter_no_change=5, tol=1e-3, max_iter=500, random_state=0,
    ).fit(Xb, yb)  # fmt: skip
    scores = est.validation_scores_
    assert len(snapshots) == len(scores) == est.n_iter_
    best = int(np.argmax(scores))
    assert best < len(scores) - 1  # the last epoch is not the best one
    kept = np.vstack([est.coef_.T, est.intercept_[None, :]])
    np.testing.assert_array_equal(kept, snapshots[best])
    assert not np.array_equal(kept, snapshots[-1])


# ------------------------------------------------------------ iterate averaging


def _stream_gaps(solver, average, n_samples, n_features, chunk):
    """Relative gap after one pass of partial_fit in chunks, to the optimum."""
    from sklearn.linear_model import LogisticRegression

    from sklearn_adamlr import logistic_objective

    Xs, ys = make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=n_features // 2,
        random_state=0,
    )
    Xs = (Xs - Xs.mean(axis=0)) / Xs.std(axis=0)
    ref = LogisticRegression(tol=1e-10, max_iter=10_000).fit(Xs, ys)
    optimum = logistic_objective(Xs, ys, ref.coef_, ref.intercept_)
    est = AdamLogisticRegression(solver=solver, average=average, random_state=0)
    for start in range(0, len(ys), chunk):
        est.partial_fit(Xs[start : start + chunk], ys[start : start + chunk], [0, 1])
    value = logistic_objective(Xs, ys, est.coef_, est.intercept_)
    return (value - optimum) / optimum


@pytest.mark.parametrize(
    "solver, n_samples, n_features, averaged, last",
    # measured, relative gaps after one pass in 1,000-row chunks: 8.1e-4
    # averaged and 8.0e-3 the last iterate (adam, 100,000 x 50); 6.9e-4 and
    # 1.2e-2 (minibatch, 40,000 x 20)
    [("adam", 100_000, 50, 1e-3, 7e-3), ("minibatch", 40_000, 20, 1e-3, 1e-2)],
)
def test_one_pass_of_an_averaged_stream_lands_near_the_optimum(
    solver, n_samples, n_features, averaged, last
):
    shape = (n_samples, n_features, 1000)
    assert _stream_gaps(solver, True, *shape) <= averaged
    assert _stream_gaps(solver, False, *shape) >= last


def _reference_average(iterates, eta=3):
    """Shamir & Zhang's polynomial-decay average, from its definition."""
    average = iterates[0]
    for k, x in enumerate(iterates[1:], start=2):
        rho = (eta + 1) / (k + eta)
        average = (1 - rho) * average + rho * x
    return average


def test_the_average_is_the_polynomial_decay_one():
    # the iterates of a run without averaging are the same steps
    last = AdamLogisticRegression(average=False, random_state=0)
    averaged = AdamLogisticRegression(random_state=0)
    iterates = []
    for _ in range(4):
        last.partial_fit(X, Y, classes=CLASSES)
        averaged.partial_fit(X, Y, classes=CLASSES)
        iterates.append(np.r_[last.coef_.T, last.intercept_[None]])
    np.testing.assert_allclose(
        averaged._stream.average.point, _reference_average(iterates), rtol=0, atol=1e-14
    )
    # the steps went on from the last iterate, not from the average
    np.testing.assert_array_equal(averaged._stream.iterate, iterates[-1])
    # switched off mid-stream: the last iterate, continued
    averaged.set_params(average=False).partial_fit(X, Y)
    last.partial_fit(X, Y)
    np.testing.assert_array_equal(averaged.coef_, last.coef_)
    assert averaged._stream.iterate is None
    # and on again: a new average, from that iterate
    averaged.set_params(average=True).partial_fit(X, Y)
    last.partial_fit(X, Y)
    np.testing.assert_array_equal(averaged._stream.iterate[:-1].T, last.coef_)
    assert averaged._stream.average.count == 1


def test_the_returned_point_is_the_one_with_the_lower_loss_before_the_epoch():
    from sklearn_adamlr import logistic_objective

    def loss(coef, intercept):
        return logistic_objective(X, Y, coef, intercept, C=np.inf)

    # a step far too large: the iterate jumps around, the average is calmer;
    # a step tiny: the iterate still converges, the average lags behind it
    for learning_rate, expected in ((1.0, True), (1e-3, False)):
        est = AdamLogisticRegression(learning_rate=learning_rate, random_state=0)
        for _ in range(6):
            before = est._stream.average.point if hasattr(est, "classes_") else None
            iterate = est._stream.iterate if before is not None else None
            est.partial_fit(X, Y, classes=CLASSES)
        # measured before the last epoch, on the data it then trained on
        average_loss = loss(before[:-1].T, before[-1])
        iterate_loss = loss(iterate[:-1].T, iterate[-1])
        assert est._stream.average.preferred == (average_loss <= iterate_loss)
        assert est._stream.average.preferred == expected
        chosen = est._stream.average.point if expected else est._stream.iterate
        np.testing.assert_array_equal(est.coef_, chosen[:-1].T)


@pytest.mark.parametrize(
    "solver, params",
    [
        ("gd", {}),
        ("lbfgs", {}),
        ("saga", {}),
        ("adam", {"schedule": "invscaling"}),
        # a fit with tol returns the certified point, or the best it measured
        ("adam", {"tol": 5e-5}),
    ],
)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_what_is_not_averaged(solver, params):
    fits = []
    for average in (True, False):
        est = AdamLogisticRegression(
            solver=solver, average=average, tol=None, max_iter=5, random_state=0
        )
        fits.append(est.set_params(**params).fit(X, Y).coef_)
    np.testing.assert_array_equal(*fits)


def test_a_shuffled_epoch_of_dense_rows_visits_runs_of_rows():
    from sklearn_adamlr._plan import MINIBATCH_RUN, run_order

    rng = np.random.RandomState(0)
    for n in (103, 2048, 5000):
        order = run_order(rng, n, MINIBATCH_RUN)
        np.testing.assert_array_equal(np.sort(order), np.arange(n))
        # consecutive rows but where a run ends: about n / 16 breaks
        breaks = np.count_nonzero(np.diff(order) != 1)
        assert breaks <= -(-n // MINIBATCH_RUN) + 1
        assert breaks >= n // MINIBATCH_RUN // 2


def test_an_epochs_plan_gathers_a_permutation_or_runs_as_asked():
    # gather: a permutation of the samples by default (run=1, what the dask
    # blocks ask), runs of `run` consecutive rows above 1
    from sklearn_adamlr._plan import batches, epoch_plan, run_order

    n, b = 1000, 64
    bounds = batches(n, b)
    _, _, order = epoch_plan(np.random.RandomState(0), bounds, n, b, True, False)
    np.testing.assert_array_equal(order, np.random.RandomState(0).permutation(n))
    _, _, order = epoch_plan(
        np.random.RandomState(0), bounds, n, b, True, False, run=2
    )  # fmt: skip
    np.testing.assert_array_equal(order, run_order(np.random.RandomState(0), n, 2))
    assert np.count_nonzero(np.diff(order) == 1) >= n // 2 - 2


def test_label_sorted_rows_reach_the_shuffled_certificate_in_runs():
    Xl, yl = make_classification(n_samples=20_000, n_features=20, random_state=0)
    order = np.argsort(yl, kind="stable")
    fits = [
        AdamLogisticRegression(solver="adam", random_state=0).fit(Xs, ys)
        for Xs, ys in ((Xl, yl), (Xl[order], yl[order]))
    ]
    for fit in fits:
        assert fit.optimality_ <= fit.tol
    # measured: 103 and 108 epochs (400,000 x 100: 84 and 81)
    assert fits[1].n_iter_ <= 2 * fits[0].n_iter_


def test_fit_equals_repeated_partial_fit_in_runs():
    from sklearn_adamlr._plan import MINIBATCH_RUN, RUNS_MIN

    # enough rows for runs (RUNS_MIN runs of MINIBATCH_RUN rows)
    n = RUNS_MIN * MINIBATCH_RUN + 100
    Xl, yl = make_classification(n_samples=n, n_features=5, random_state=0)
    kw = dict(solver="adam", random_state=0, batch_size=64)
    fitted = AdamLogisticRegression(max_iter=3, tol=None, **kw).fit(Xl, yl)
    streamed = AdamLogisticRegression(**kw)
    for _ in range(3):
        streamed.partial_fit(Xl, yl, classes=[0, 1])
    np.testing.assert_array_equal(streamed.coef_, fitted.coef_)
    # and the runs are not a permutation's order: shuffle='samples' differs
    samples = AdamLogisticRegression(max_iter=3, tol=None, shuffle="samples", **kw)
    assert not np.array_equal(samples.fit(Xl, yl).coef_, fitted.coef_)


def test_the_seeded_generator_draws_as_random_state_and_only_when_asked():
    from sklearn_adamlr._stream_state import SeededRandomState

    rng, reference = SeededRandomState(7), np.random.RandomState(7)
    assert rng._generator is None  # made on first use: 60 us saved a fit
    assert np.array_equal(rng.permutation(10), reference.permutation(10))
    assert rng.randint(1000) == reference.randint(1000)
    assert np.array_equal(rng.randint(9, size=4), reference.randint(9, size=4))
    # pickled before and after its first draw, it goes on as never pickled
    fresh = pickle.loads(pickle.dumps(SeededRandomState(7)))
    assert fresh._generator is None
    assert np.array_equal(
        fresh.permutation(10), np.random.RandomState(7).permutation(10)
    )
    copy = pickle.loads(pickle.dumps(rng))
    assert np.array_equal(copy.permutation(50), reference.permutation(50))
    # a full-batch fit never draws; a minibatch one does
    est = AdamLogisticRegression(solver="lbfgs", random_state=0).fit(X, Y)
    assert est._stream.rng._generator is None
    est = AdamLogisticRegression(solver="adam", batch_size=16, max_iter=3, tol=None)
    assert est.fit(X, Y)._stream.rng._generator is not None
