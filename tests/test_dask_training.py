"""Training where the data live: fit and predict on dask arrays, on a cluster.

A ``LocalCluster`` of two worker processes, started here (and so by
``.ci/run``); on a real cluster the same code runs with
``Client("tcp://scheduler-address:8786")``.
"""

import pickle
import subprocess
import sys
import tracemalloc
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from conftest import REFERENCE  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from test_parity import l1_reference  # noqa: E402

from sklearn_adamlr import (  # noqa: E402
    AdamLogisticRegression,
    _dask,
    _kernels,
    available_solvers,
)
from sklearn_adamlr.solvers import get_solver  # noqa: E402
from sklearn_adamlr.solvers._base import capabilities_of  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def _data(n_classes=2, n=4000, seed=0):
    X, y = make_classification(
        n_samples=n, n_features=8, n_informative=5, n_redundant=0,
        n_classes=n_classes, random_state=seed,
    )  # fmt: skip
    return StandardScaler().fit_transform(X), y


def _blocks(X, *columns, rows=1000):
    """``X`` (and 1-d arrays) as dask arrays of ``rows``-row blocks."""
    out = [da.from_array(X, chunks=(rows, X.shape[1]))]
    out += [da.from_array(c, chunks=rows) for c in columns]
    return out


def _relative(est, coef, intercept):
    scale = np.abs(coef).max()
    return (
        max(np.abs(est.coef_ - coef).max(), np.abs(est.intercept_ - intercept).max())
        / scale
    )


# full-batch steps reduced over the blocks (newton's Hessian is refused there)
FULL_BATCH = [
    s
    for s in available_solvers()
    if get_solver(s).full_batch and capabilities_of(get_solver(s)).data_epoch is None
]
STOCHASTIC = [
    s
    for s in available_solvers()
    if not get_solver(s).full_batch
    and capabilities_of(get_solver(s)).data_epoch is None
]


def test_importing_the_package_does_not_import_dask():
    code = "import sys, sklearn_adamlr; print('dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("solver", FULL_BATCH)
def test_full_batch_fit_matches_logistic_regression(client, solver, n_classes):
    X, y = _data(n_classes)
    sw = np.random.RandomState(0).uniform(0.5, 2.0, len(y))
    dX, dy, dsw = _blocks(X, y, sw)
    ref = LogisticRegression(C=1.0, tol=1e-12, max_iter=10_000).fit(
        X, y, sample_weight=sw
    )
    est = AdamLogisticRegression(solver=solver, tol=1e-9, max_iter=2000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.fit(dX, dy, sample_weight=dsw)
    # measured: 1.3e-8 to 5.6e-8 (gd, lbfgs; binary and 3 classes)
    assert _relative(est, ref.coef_, ref.intercept_) < 1e-4
    assert est.optimality_ <= 1e-9
    assert est.coef_.dtype == np.float64 and est.n_features_in_ == 8


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_l1_and_elastic_net_through_the_prox(client, l1_ratio):
    X, y = _data(3)
    sw = np.ones(len(y))
    coef, intercept = l1_reference(X, y, 0.05, l1_ratio, sw)
    dX, dy = _blocks(X, y)
    est = AdamLogisticRegression(
        solver="gd", C=0.05, l1_ratio=l1_ratio, tol=1e-9, max_iter=5000
    ).fit(dX, dy)
    # measured: 2.4e-8 (L1), 1.2e-7 (elastic net)
    assert _relative(est, coef, intercept) < 1e-4
    # exact zeros where the reference has them
    assert np.array_equal(est.coef_ == 0, np.abs(coef) < 1e-9)
    assert (est.coef_ == 0).any()


@pytest.mark.parametrize("n_classes", [2, 3])
def test_distributed_gd_takes_the_in_memory_steps(client, monkeypatch, n_classes):
    # The same algorithm: only the order of the sums differs, block by block.
    X, y = _data(n_classes)
    sw = np.random.RandomState(1).randint(0, 3, len(y)).astype(float)
    dX, dy, dsw = _blocks(X, y, sw, rows=700)  # uneven last block
    params = dict(solver="gd", tol=None, max_iter=25, class_weight="balanced")
    local = AdamLogisticRegression(**params).fit(X, y, sample_weight=sw)
    compiled = []
    original = _dask.DaskData.loss_gradient

    def spy(self, *args):
        out = original(self, *args)
        compiled.append(self.compiled_blocks)
        return out

    monkeypatch.setattr(_dask.DaskData, "loss_gradient", spy)
    remote = AdamLogisticRegression(**params).fit(dX, dy, sample_weight=dsw)
    # every pass of every block ran the compiled kernel on its worker, but
    # the blocks of three classes where numpy's products are quicker: all
    # but the last (500 x 8 rows, under pays.BLAS_MIN_SIZE values)
    expected = dX.numblocks[0] if n_classes == 2 else 1
    assert set(compiled) == {expected if _kernels.AVAILABLE else 0}
    np.testing.assert_allclose(remote.coef_, local.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(remote.loss_curve_, local.loss_curve_, rtol=1e-12)
    assert remote.learning_rate_ == pytest.approx(local.learning_rate_, rel=1e-12)
    assert remote.t_ == local.t_ == 25


@pytest.mark.parametrize("solver", STOCHASTIC)
def test_travelling_model_takes_the_in_memory_steps_in_block_order(client, solver):
    # shuffle=False: block after block, each block's minibatches in order, as
    # one in-memory epoch over X (the blocks are whole minibatches); with
    # weights (each step's gradient is scaled by the whole data's mean
    # weight) and a decaying schedule (each block's steps continue the
    # count of the blocks before it).
    X, y = _data(2)
    sw = np.random.RandomState(2).uniform(0.2, 3.0, len(y))
    dX, dy, dsw = _blocks(X, y, sw)
    params = dict(solver=solver, shuffle=False, tol=None, max_iter=3,
                  batch_size=100, average=False, random_state=0,
                  schedule="invscaling", learning_rate=0.05)  # fmt: skip
    local = AdamLogisticRegression(**params).fit(X, y, sample_weight=sw)
    engines = []
    original = _dask.TravellingEngine.run_epoch

    def spy(self, *args):
        out = original(self, *args)
        engines.extend(self.block_engines)
        return out

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_dask.TravellingEngine, "run_epoch", spy)
        remote = AdamLogisticRegression(**params).fit(dX, dy, sample_weight=dsw)
    # each block's steps ran in the compiled engine of the in-memory fit
    assert len(engines) == 3 * 4
    assert set(engines) == {"KernelEngine" if _kernels.AVAILABLE else REFERENCE}
    np.testing.assert_allclose(remote.coef_, local.coef_, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(remote.loss_curve_, local.loss_curve_, rtol=1e-12)
    assert remote.t_ == local.t_
    # shuffled: a block order (and minibatch order) drawn from random_state
    params["shuffle"] = True
    shuffled = AdamLogisticRegression(**params).fit(dX, dy, sample_weight=dsw)
    again = AdamLogisticRegression(**params).fit(dX, dy, sample_weight=dsw)
    np.testing.assert_array_equal(again.coef_, shuffled.coef_)
    assert not np.array_equal(shuffled.coef_, remote.coef_)


@pytest.mark.parametrize("solver", STOCHASTIC)
def test_travelling_model_certifies_near_the_optimum(client, solver):
    # tol=2e-4, not the default 5e-5: default adam takes 525 epochs in memory
    # on these data, at one round trip each on a cluster (see docs/dask.rst)
    X, y = _data(3)
    dX, dy = _blocks(X, y)
    ref = LogisticRegression(C=1.0, tol=1e-12, max_iter=10_000).fit(X, y)
    est = AdamLogisticRegression(solver=solver, tol=2e-4, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.fit(dX, dy)
    assert est.optimality_ <= est.tol
    gap = _gap(est, X, y, ref)
    # measured: adam 8.9e-5 (87 epochs), minibatch 1.1e-6 (47),
    # thirdparty_plain_sgd 1.1e-6 (33)
    assert gap < 1e-4, gap


def _gap(est, X, y, ref):
    def objective(coef, intercept):
        z = X @ coef.T + intercept
        classes = np.unique(y)
        index = np.searchsorted(classes, y)
        if z.shape[1] == 1:
            z = np.hstack([np.zeros_like(z), z])
        lse = np.logaddexp.reduce(z, axis=1)
        return np.sum(lse - z[np.arange(len(y)), index]) + 0.5 * np.sum(coef**2)

    best = objective(ref.coef_, ref.intercept_)
    return (objective(est.coef_, est.intercept_) - best) / best


def test_partial_fit_on_dask_blocks_continues(client):
    X, y = _data(2)
    dX, dy = _blocks(X, y)
    est = AdamLogisticRegression(solver="adam", random_state=0)
    est.partial_fit(dX, dy, classes=[0, 1])
    first = est.coef_.copy()
    state = pickle.loads(pickle.dumps(est))
    est.partial_fit(dX, dy)
    state.partial_fit(dX, dy)
    assert not np.array_equal(est.coef_, first)
    np.testing.assert_array_equal(state.coef_, est.coef_)
    assert est.n_iter_ == 2 and len(est.loss_curve_) == 2


def test_predictions_are_dask_arrays_computed_block_by_block(client):
    for n_classes in (2, 3):
        X, y = _data(n_classes)
        dX, dy = _blocks(X, y)
        est = AdamLogisticRegression(solver="lbfgs").fit(X, y)
        for method in ("predict", "predict_proba", "predict_log_proba",
                       "decision_function"):  # fmt: skip
            out = getattr(est, method)(dX)
            assert isinstance(out, da.Array), method
            expected = getattr(est, method)(X)
            assert out.shape == expected.shape and out.dtype == expected.dtype
            assert out.numblocks[0] == dX.numblocks[0]
            np.testing.assert_array_equal(out.compute(), expected)


def test_client_never_holds_X_and_every_worker_computes(client):
    # X (400,000 x 25 float64, 80 MB) is made on the workers; the client
    # traces its own allocations during the fit.
    rs = da.random.RandomState(0)
    X = rs.normal(size=(400_000, 25), chunks=(50_000, 25))
    y = X[:, 0] + 0.5 * X[:, 1] + rs.normal(size=400_000, chunks=50_000) > 0
    X, y = client.persist([X, y.astype(int)])
    est = AdamLogisticRegression(solver="lbfgs", max_iter=5)
    tracemalloc.start()
    try:
        with distributed.get_task_stream(client) as tasks:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                est.fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the warning of a fit stopped at max_iter quotes no duality gap on a
    # cluster's blocks (two more distributed passes)
    (message,) = [str(w.message) for w in caught if w.category is ConvergenceWarning]
    assert "max_iter=5" in message and "duality gap" not in message
    # measured: a peak of 1.9 MB in the client, for an 80 MB X
    assert peak < X.nbytes / 20, peak
    workers = {task["worker"] for task in tasks.data}
    assert workers == set(client.scheduler_info()["workers"])
    assert est.n_iter_ == 5


def _in_memory_error(X, y, sw=None):
    with pytest.raises(Exception) as info:
        AdamLogisticRegression().fit(X, y, sample_weight=sw)
    return info


@pytest.mark.parametrize(
    "case", ["nan", "inf", "one class", "continuous y", "negative weight", "rows"]
)
def test_bad_blocks_raise_the_in_memory_error_and_change_nothing(client, case):
    X, y = _data(2)
    sw = np.ones(len(y))
    if case == "nan":
        X = X.copy()
        X[3500, 2] = np.nan  # in the last block only
    elif case == "inf":
        X = X.copy()
        X[2100, 0] = np.inf
    elif case == "one class":
        y = np.zeros_like(y)
    elif case == "continuous y":
        y = y + 0.5
    elif case == "negative weight":
        sw[3999] = -1.0
    expected = _in_memory_error(X if case != "rows" else X[:-1], y, sw)
    dX, dy, dsw = _blocks(X, y, sw)
    if case == "rows":
        dX = dX[:-1]
    est = AdamLogisticRegression(solver="gd", max_iter=3, tol=None)
    good_X, good_y = _data(2, seed=1)
    est.fit(*_blocks(good_X, good_y))
    before = pickle.dumps(est)
    with pytest.raises(expected.type) as info:
        est.fit(dX, dy, sample_weight=dsw)
    assert str(info.value) == str(expected.value)
    assert pickle.dumps(est) == before


def test_refusals_say_what_to_do(client):
    X, y = _data(2)
    dX, dy = _blocks(X, y)
    own_epoch = [
        s for s in available_solvers() if capabilities_of(get_solver(s)).data_epoch
    ]
    assert {"saga", "newton"} <= set(own_epoch)
    for solver in own_epoch:
        with pytest.raises(ValueError, match="on dask arrays use 'lbfgs' or 'gd'"):
            AdamLogisticRegression(solver=solver).fit(dX, dy)
    with pytest.raises(ValueError, match="hold out your own validation"):
        AdamLogisticRegression(early_stopping=True).fit(dX, dy)
    with pytest.raises(ValueError, match="expecting 8 features"):
        AdamLogisticRegression(solver="lbfgs").fit(dX, dy).predict(dX[:, :3])
    est = AdamLogisticRegression(solver="adam").partial_fit(dX, dy, classes=[0, 1])
    with pytest.raises(ValueError, match="expecting 8 features"):
        est.partial_fit(dX[:, :3], dy)


def test_dask_module_checks_its_input_type():
    assert not _dask.is_dask_collection(np.zeros(3))
    assert _dask.is_dask_collection(da.zeros(3))


@pytest.mark.parametrize("gram_columns", [2000, 0])
def test_step_size_constants_equal_the_in_memory_ones(
    client, monkeypatch, gram_columns
):
    # 0: the Lanczos path of wide data, one distributed product per step
    from sklearn_adamlr._loss import lipschitz_constant

    monkeypatch.setattr(_dask, "GRAM_COLUMNS", gram_columns)
    X, y = _data(2)
    sw = np.random.RandomState(0).uniform(0.5, 2.0, len(y))
    dX, dy, dsw = _blocks(X, y, sw, rows=700)
    data = _dask.DaskData(dX, dy.astype(float), dsw, float(sw.sum()))
    exact = lipschitz_constant(X, sw, True, 0.25)
    if gram_columns:
        assert data.lipschitz_constant(True, 0.25) == pytest.approx(exact, rel=1e-12)
    else:  # an upper bound within the 2 % margin (measured: 1.02 x)
        assert exact <= data.lipschitz_constant(True, 0.25) <= 1.021 * exact
    squares = ((X**2).sum(axis=1) + 1.0) * sw * len(y) / sw.sum()
    largest, total = data.sample_constants(True)
    assert largest == pytest.approx(squares.max(), rel=1e-12)
    assert total == pytest.approx(squares.sum(), rel=1e-12)
    np.testing.assert_allclose(data.column_scales(), np.sqrt((X**2).mean(axis=0)))
    # lbfgs's automatic step, 1 / L_mean, is the in-memory fit's
    local = AdamLogisticRegression(solver="lbfgs", max_iter=2, tol=None)
    remote = AdamLogisticRegression(solver="lbfgs", max_iter=2, tol=None)
    local.fit(X, y, sample_weight=sw)
    remote.fit(dX, dy, sample_weight=dsw)
    assert remote.learning_rate_ == pytest.approx(local.learning_rate_, rel=1e-12)


def test_float32_blocks_stay_float32(client):
    X, y = _data(2)
    X32 = X.astype(np.float32)
    dX, dy = _blocks(X32, y)
    params = dict(solver="gd", tol=None, max_iter=10)
    remote = AdamLogisticRegression(**params).fit(dX, dy)
    local = AdamLogisticRegression(**params).fit(X32, y)
    assert remote.coef_.dtype == np.float32
    # the same steps, float32 sums in another order (measured: at most
    # 2.6e-6 apart, for coefficients up to 3.4; float32's epsilon is 1.2e-7)
    np.testing.assert_allclose(remote.coef_, local.coef_, rtol=0, atol=5e-6)
    assert remote.predict_proba(dX).dtype == np.float32


def test_a_block_pass_without_the_kernel_is_the_numpy_reference():
    # a Fortran-ordered block: the kernel does not apply, numpy computes it
    from sklearn_adamlr._loss import MultinomialLogLoss

    X, y = _data(3, n=500)
    w = np.random.RandomState(0).uniform(0.5, 2.0, len(y))
    params = np.random.RandomState(1).normal(size=(9, 3))
    loss = MultinomialLogLoss()
    numpy_path = _dask._loss_gradient_block(np.asfortranarray(X), y, w, params, loss, 8)
    kernel_path = _dask._loss_gradient_block(X, y, w, params, loss, 8)
    assert numpy_path[2] == 0 and kernel_path[2] == int(_kernels.AVAILABLE)
    assert numpy_path[0] == pytest.approx(kernel_path[0], rel=1e-12)
    np.testing.assert_allclose(numpy_path[1], kernel_path[1], rtol=1e-10, atol=1e-12)


def test_the_merged_certificate_pass_is_used_only_at_its_own_point(client):
    # An epoch's graph also computes the full pass at its end point; a
    # certificate asked elsewhere (a restart from the best point) gets a pass
    # of its own.
    from sklearn_adamlr._loss import BinaryLogLoss
    from sklearn_adamlr._penalties import ElasticNet
    from sklearn_adamlr._problem import Problem

    X, y = _data(2)
    dX, dy = _blocks(X, y)
    data = _dask.DaskData(dX, dy.astype(float), None, float(len(y)))
    problem = Problem(data, None, None, BinaryLogLoss(),
                      ElasticNet(alpha=1e-3, l1_ratio=0.0), True,
                      weight_total=float(len(y)))  # fmt: skip
    solver = get_solver("adam")
    params = np.zeros((9, 1))
    state = solver.init_state(params)
    engine = _dask.make_engine(problem, solver, params, 100, False)
    full = _dask.FullPassEngine(problem, solver, params, len(y))
    engine.observe = lambda *args: None  # as the certified loop sets it
    plan = (np.arange(0, 4000, 100), np.arange(100, 4100, 100), None)
    engine.run_epoch(plan, params, state, [1e-2] * 40)
    for point in (params, np.full_like(params, 0.1)):
        grad, expected = np.empty_like(point), np.empty_like(point)
        value = engine.full_objective(point, grad)
        assert value == pytest.approx(full.full_objective(point, expected), rel=1e-12)
        np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-15)


def test_the_travelling_model_counts_every_step(client):
    # blocks of 700 rows (the last 500) in batches of 200: 4 steps a block,
    # 3 in the last, 23 an epoch where one array of 4,000 rows has 20
    X, y = _data(2)
    dX, dy = _blocks(X, y, rows=700)
    est = AdamLogisticRegression(solver="adam", batch_size=200, tol=None,
                                 max_iter=2, schedule="invscaling",
                                 learning_rate=0.05)  # fmt: skip
    est.fit(dX, dy)
    assert est.t_ == est._stream.solver_state.t == 2 * 23


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_fits_on_dask_arrays_report_their_epochs_to_callbacks(client, solver):
    callback = pytest.importorskip("sklearn.callback")
    X, y = _data(2)
    dX, dy = _blocks(X, y)
    monitor = callback.ScoringMonitor(scoring="accuracy")
    est = AdamLogisticRegression(solver=solver, random_state=0, max_iter=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.set_callbacks(monitor).fit(dX, dy)
    rows = monitor.get_logs().data
    assert len(rows) == est.n_iter_
    # scored on the dask array, where it lives: the last epoch's model
    # (lbfgs returns the last point it measured) scores as the fitted one
    assert abs(rows[-1]["accuracy"] - est.score(X, y)) <= 0.01


def test_auto_chooses_a_full_pass_solver_on_dask_arrays(client):
    X, y = _data(2)
    dX, dy = _blocks(X, y)
    assert AdamLogisticRegression().fit(dX, dy).solver_ == "lbfgs"
    assert AdamLogisticRegression(l1_ratio=0.5).fit(dX, dy).solver_ == "gd"
    streamed = AdamLogisticRegression().partial_fit(dX, dy, classes=[0, 1])
    assert streamed.solver_ == "adam"
