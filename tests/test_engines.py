"""The engines that run an epoch: which one is chosen, and that they agree.

``make_engine`` is the one place that chooses how an epoch runs. These tests
pin each rule, check that every compiled engine gives the numbers of the numpy
reference for every registered solver, and assert that the compiled engine is
the one that actually ran (if ``_kernels.supports`` regressed, numpy would
otherwise be compared with numpy).
"""

import numpy as np
import pytest
from conftest import REFERENCE, compiled_solvers, spy_engines
from scipy import sparse

from sklearn_adamlr import (
    AdamLogisticRegression,
    _engines,
    _kernels,
    get_solver,
)
from sklearn_adamlr._kernels import _numba
from sklearn_adamlr._loss import loss_for, objective
from sklearn_adamlr._penalties import ElasticNet
from sklearn_adamlr._problem import Problem

needs_numba = pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba not installed")


def _problem(X, l1_ratio=0.0):
    y = (np.arange(X.shape[0]) % 2).astype(np.float64)
    return Problem(
        X=X,
        target=y,
        sample_weight=None,
        loss=loss_for(2),
        penalty=ElasticNet(alpha=0.01, l1_ratio=l1_ratio),
        fit_intercept=True,
    )


def _data(fmt):
    X = np.random.RandomState(0).normal(size=(40, 6))
    X[X < 0.3] = 0.0
    return sparse.csr_matrix(X) if fmt == "csr" else X


CASES = [
    # solver, format, l1_ratio, compiled engine, lazy
    ("adam", "dense", 0.0, _engines.KernelEngine, False),
    ("adam", "csr", 0.0, _engines.SolverKernelEngine, True),
    ("adam", "csr", 0.5, _engines.SolverKernelEngine, True),
    ("minibatch", "dense", 0.0, _engines.KernelEngine, False),
    ("minibatch", "csr", 0.0, _engines.LinearEngine, False),
    ("minibatch", "csr", 0.5, _engines.KernelEngine, True),
    ("gd", "csr", 0.5, _engines.KernelEngine, False),
    # conftest's third-party solver: only the required part of the contract
    ("thirdparty_plain_sgd", "csr", 0.0, _engines.KernelEngine, False),
    # a solver with its own epoch on the data, whatever the data
    ("saga", "dense", 0.0, _engines.DataEpochEngine, False),
    ("saga", "csr", 0.5, _engines.DataEpochEngine, False),
]


@pytest.mark.parametrize("solver, fmt, l1_ratio, expected, lazy", CASES)
def test_make_engine_rules(monkeypatch, solver, fmt, l1_ratio, expected, lazy):
    solver = get_solver(solver)
    problem = _problem(_data(fmt), l1_ratio)
    params = np.zeros((7, 1))
    batch = problem.n_samples if solver.full_batch else 8
    if _kernels.AVAILABLE:
        engine = _engines.make_engine(problem, solver, params, batch, True)
        assert type(engine) is expected
        assert (engine.row_scale is not None) is lazy
    # Without numba every solver runs through the reference, lazily or not by
    # the same rule (a linear solver without prox is not lazy: its dense steps).
    monkeypatch.setattr(_kernels, "AVAILABLE", False)
    engine = _engines.make_engine(problem, solver, params, batch, True)
    if expected is _engines.DataEpochEngine:
        # it runs its own numpy reference
        assert type(engine) is expected and not engine.runner.compiled
        return
    assert type(engine) is _engines.NumpyEngine
    reference_lazy = lazy and expected is not _engines.LinearEngine
    assert (engine.row_scale is not None) is reference_lazy


def _classes_problem(n, d, n_classes, fmt="dense"):
    rng = np.random.RandomState(2)
    X = rng.normal(size=(n, d))
    if fmt == "csr":
        X = sparse.csr_matrix(X)
    loss = loss_for(n_classes)
    target = loss.encode(np.arange(n) % n_classes, np.float64)
    problem = Problem(X, target, None, loss, ElasticNet(alpha=0.01, l1_ratio=0.0),
                      True)  # fmt: skip
    return problem, np.zeros((d + 1, loss.n_outputs(n_classes)))


@needs_numba
@pytest.mark.parametrize(
    "n, d, n_classes, fmt, numpy_pass, numpy_batches",
    [
        # 1,000 x 10 = 10,000 values >= BLAS_MIN_SIZE: numpy's products for
        # a full pass; minibatches of 10 features (under BLAS_MIN_FEATURES,
        # 32) keep the kernel, of 40 take numpy's products
        (1000, 10, 3, "dense", True, False),
        (1000, 40, 3, "dense", True, True),
        # the smallest: the kernel (iris, 150 x 4: 1.0 ms against 1.2)
        (40, 10, 3, "dense", False, False),
        # two classes, or CSR: the kernel
        (1000, 40, 2, "dense", False, False),
        (1000, 40, 3, "csr", False, False),
    ],
)
def test_three_classes_take_numpys_products_where_they_pay(
    n, d, n_classes, fmt, numpy_pass, numpy_batches
):
    problem, params = _classes_problem(n, d, n_classes, fmt)
    # numpy's two n x k arrays here fit under X's size or the cap
    assert 2 * n * params.shape[1] <= max(n * d, _kernels.pays.BLAS_MAX_BUFFERS)
    lbfgs = _engines.make_engine(problem, get_solver("lbfgs"), params, n, True)
    expected = _engines.NumpyEngine if numpy_pass else _engines.KernelEngine
    assert type(lbfgs) is expected
    adam = _engines.make_engine(problem, get_solver("adam"), params, 8, True)
    assert (type(adam) is _engines.NumpyEngine) is numpy_batches
    # a minibatch solver's certificate measures all the rows by the full
    # pass's rule, whichever runs its minibatches
    params = np.random.RandomState(3).normal(size=params.shape) * 0.1
    grad = np.empty_like(params)
    value = adam.full_objective(params, grad)
    assert (adam._full_kernel is None) is numpy_pass
    # the numpy reference's numbers (the kernel reassociates sums: measured
    # 2e-16 apart)
    ref_value, ref_grad = objective(
        params, problem.X, problem.target, None, problem.loss, problem.penalty
    )
    assert value == pytest.approx(ref_value, rel=1e-13)
    np.testing.assert_allclose(grad, ref_grad, rtol=0, atol=1e-14)


@needs_numba
def test_many_classes_of_few_features_keep_the_streaming_kernel(monkeypatch):
    # numpy's full pass keeps the raw predictions and their gradient (two
    # n x k arrays); past X's size and BLAS_MAX_BUFFERS values the kernel,
    # which streams, runs it (the cap lowered here to stand for 10M rows)
    problem, params = _classes_problem(2000, 4, 5)
    lbfgs = get_solver("lbfgs")
    assert type(_engines.make_engine(problem, lbfgs, params, 2000, True)) is (
        _engines.NumpyEngine
    )
    monkeypatch.setattr(_kernels.pays, "BLAS_MAX_BUFFERS", 2 * 2000 * 5 - 1)
    assert type(_engines.make_engine(problem, lbfgs, params, 2000, True)) is (
        _engines.KernelEngine
    )
    # as many classes as features: within X's size, numpy's products
    problem, params = _classes_problem(2000, 10, 5)
    assert type(_engines.make_engine(problem, lbfgs, params, 2000, True)) is (
        _engines.NumpyEngine
    )


def test_float64_params_on_float32_data_take_the_reference():
    problem = _problem(_data("dense").astype(np.float32))
    engine = _engines.make_engine(
        problem, get_solver("adam"), np.zeros((7, 1)), 8, True
    )
    assert type(engine) is _engines.NumpyEngine


@needs_numba
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("fmt", ["dense", "csr"])
@pytest.mark.parametrize("l1_ratio", [0.0, 0.5])
@pytest.mark.parametrize("solver", compiled_solvers())
def test_compiled_engine_ran_and_matches_the_reference(
    monkeypatch, solver, l1_ratio, fmt, n_classes
):
    # two classes and three: the compiled kernels are specialised per
    # number of outputs (see _kernels._numba.specialise)
    X = _data(fmt)
    y = np.arange(X.shape[0]) % n_classes
    kw = dict(
        solver=solver, l1_ratio=l1_ratio, batch_size=8, max_iter=4, tol=None,
        random_state=0,
    )  # fmt: skip
    ran = spy_engines(monkeypatch)
    compiled = AdamLogisticRegression(**kw).fit(X, y)
    engines_compiled = set(ran)
    ran.clear()
    monkeypatch.setattr(_kernels, "AVAILABLE", False)
    reference = AdamLogisticRegression(**kw).fit(X, y)
    assert set(ran) == {REFERENCE}
    assert REFERENCE not in engines_compiled
    # measured: at most 5.6e-16 apart (the kernels reassociate sums)
    np.testing.assert_allclose(compiled.coef_, reference.coef_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        compiled.intercept_, reference.intercept_, rtol=0, atol=1e-12
    )


@needs_numba
@pytest.mark.parametrize("n_classes", [2, 3])
def test_gathered_runs_with_rows_asked_ahead_match_the_reference(
    monkeypatch, n_classes
):
    # shuffle=True on 1,024 rows or more: minibatches gathered in runs, the
    # compiled kernel asking for rows AHEAD of the one it reads (a hint that
    # changes no value), which batches longer than AHEAD reach
    from sklearn_adamlr._kernels import dense
    from sklearn_adamlr._plan import MINIBATCH_RUN, RUNS_MIN

    n = RUNS_MIN * MINIBATCH_RUN + 37
    X = np.random.RandomState(1).normal(size=(n, 7))
    y = np.arange(n) % n_classes
    kw = dict(solver="adam", batch_size=4 * dense.AHEAD, max_iter=2, tol=None,
              random_state=0)  # fmt: skip
    ran = spy_engines(monkeypatch)
    compiled = AdamLogisticRegression(**kw).fit(X, y)
    assert set(ran) == {"KernelEngine"}
    ran.clear()
    monkeypatch.setattr(_kernels, "AVAILABLE", False)
    reference = AdamLogisticRegression(**kw).fit(X, y)
    assert set(ran) == {REFERENCE}
    # measured: at most 4.2e-17 apart (the kernels reassociate sums)
    np.testing.assert_allclose(compiled.coef_, reference.coef_, rtol=0, atol=1e-15)


@needs_numba
@pytest.mark.parametrize("solver", ["gd", "minibatch", "adam"])
def test_a_certified_full_batch_fit_matches_the_reference(monkeypatch, solver):
    # With the certificate measured by each full-batch update's own pass
    # (Engine.observe), both paths stop at the same epoch at the same point.
    X = _data("dense")
    y = np.arange(X.shape[0]) % 3
    kw = dict(solver=solver, batch_size=10_000, tol=1e-4, random_state=0)
    ran = spy_engines(monkeypatch)
    compiled = AdamLogisticRegression(**kw).fit(X, y)
    assert REFERENCE not in set(ran)
    ran.clear()
    monkeypatch.setattr(_kernels, "AVAILABLE", False)
    reference = AdamLogisticRegression(**kw).fit(X, y)
    assert set(ran) == {REFERENCE}
    assert compiled.optimality_ <= 1e-4
    assert compiled.n_iter_ == reference.n_iter_
    # measured: at most 2.8e-16 apart
    np.testing.assert_allclose(compiled.coef_, reference.coef_, rtol=0, atol=1e-12)


@pytest.mark.parametrize("solver", ["gd", "lbfgs"])
def test_a_full_batch_epochs_loss_and_penalty_are_at_one_point(monkeypatch, solver):
    # loss_curve_[i] is the objective where epoch i took its gradient: the
    # loss there plus the penalty there, not after the update (a mutant that
    # took the penalty after it lived). Epoch 0's point is the zero start;
    # FISTA's second is its first iterate (no momentum yet).
    monkeypatch.setattr(_kernels, "AVAILABLE", False)
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 4))
    y = (X[:, 0] + rng.normal(size=80) > 0).astype(int)
    C = 0.5

    def scaled_objective(coef, intercept):
        z = X @ coef.ravel() + intercept[0]
        loss = np.mean(np.logaddexp(0, z) - y * z)
        return loss + (coef**2).sum() / (2 * C * len(y))

    def fitted(max_iter):
        kw = dict(solver=solver, C=C, tol=None, max_iter=max_iter)
        return AdamLogisticRegression(**kw).fit(X, y)

    curve = fitted(3).loss_curve_
    assert curve[0] == pytest.approx(np.log(2.0), rel=1e-15)
    if solver == "gd":
        first = fitted(1)
        expected = scaled_objective(first.coef_, first.intercept_)
        # the penalty there is no rounding: measured 0.014
        assert (first.coef_**2).sum() / (2 * C * len(y)) > 0.01
        assert curve[1] == pytest.approx(expected, rel=1e-12)


# A module-level name that specialise fixes per variant (see _pick).
FLAG = None


def _pick(x):
    if FLAG:
        return x + 1.0
    return x + "text"  # a typing error, if numba compiled this branch


@needs_numba
def test_specialise_compiles_only_the_branch_its_constants_reach():
    one = _numba.specialise(_pick, FLAG=True)
    # the other branch would not compile: numba pruned it before typing
    assert one(1.0) == 2.0
    # memoised: one dispatcher (and one cache file) per variant
    assert _numba.specialise(_pick, FLAG=True) is one
    other = _numba.specialise(_pick, FLAG=False)
    assert other is not one
    assert one.py_func.__qualname__ != other.py_func.__qualname__
    from numba.core.errors import TypingError

    with pytest.raises(TypingError):
        other(1.0)


def test_the_spy_sees_every_engine():
    # conftest.spy_engines patches ENGINES: a new engine must be listed there,
    # or the compiled-path assertions would miss its epochs
    from conftest import ENGINES

    def leaves(cls):
        subs = cls.__subclasses__()
        return {cls} if not subs else set().union(*map(leaves, subs))

    assert leaves(_engines.Engine) == set(ENGINES)


@needs_numba
@pytest.mark.parametrize("fmt", ["dense", "csr"])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("cores", [1, 2])
def test_a_large_pass_in_two_halves_gives_the_whole_pass(
    monkeypatch, fmt, n_classes, cores
):
    from sklearn_adamlr._kernels import gradient

    rng = np.random.RandomState(0)
    X = rng.normal(size=(301, 7))
    X[X < 0.2] = 0.0
    X = sparse.csr_matrix(X) if fmt == "csr" else X
    y = rng.randint(n_classes, size=301)
    target = loss_for(n_classes).encode(y, np.float64)
    sw = rng.uniform(0.5, 2.0, 301)
    k = 1 if n_classes == 2 else n_classes
    params = rng.normal(size=(8, k))
    kernel = gradient.Kernel(X, target, sw, k)
    whole, halves = np.empty_like(params), np.empty_like(params)
    expected, _ = kernel(0, 301, None, params, 0.01, 0.3, whole)
    calls = []
    original = gradient.Kernel._halves

    def spy(self, *args):
        calls.append(1)
        return original(self, *args)

    monkeypatch.setattr(gradient.Kernel, "_halves", spy)
    monkeypatch.setattr(gradient, "SPLIT_SIZE", 64)
    monkeypatch.setattr(gradient, "_CORES", cores)
    value, n_active = kernel(0, 301, None, params, 0.01, 0.3, halves)
    assert calls and n_active == -1
    # the same sums in another order (the L2 part counted once): measured
    # 2e-16 apart
    assert value == pytest.approx(expected, rel=1e-13)
    np.testing.assert_allclose(halves, whole, rtol=1e-13, atol=1e-15)
    # a minibatch of listed rows is never split
    calls.clear()
    kernel(0, 100, np.arange(100), params, 0.01, 0.3, halves)
    assert not calls


@needs_numba
def test_the_halves_give_the_same_numbers_on_one_core_and_two(monkeypatch):
    from sklearn_adamlr._kernels import gradient

    X = np.random.RandomState(1).normal(size=(500, 9))
    y = (X[:, 0] > 0).astype(np.float64)
    kernel = gradient.Kernel(X, y, None, 1)
    params = np.full((10, 1), 0.1)
    monkeypatch.setattr(gradient, "SPLIT_SIZE", 64)
    results = []
    for cores in (1, 2):
        monkeypatch.setattr(gradient, "_CORES", cores)
        grad = np.empty_like(params)
        value, _ = kernel(0, 500, None, params, 0.002, 0.1, grad)
        results.append((value, grad))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])


@needs_numba
def test_an_error_in_the_second_half_is_raised_in_the_caller(monkeypatch):
    from sklearn_adamlr._kernels import gradient

    X = np.random.RandomState(2).normal(size=(200, 4))
    kernel = gradient.Kernel(X, (X[:, 0] > 0).astype(np.float64), None, 1)
    original = kernel._call

    def failing(start, stop, *args):
        if start > 0:  # the second half only
            raise MemoryError("second half")
        return original(start, stop, *args)

    monkeypatch.setattr(kernel, "_call", failing)
    monkeypatch.setattr(gradient, "SPLIT_SIZE", 64)
    monkeypatch.setattr(gradient, "_CORES", 2)
    params = np.zeros((5, 1))
    with pytest.raises(MemoryError, match="second half"):
        kernel(0, 200, None, params, 0.005, 0.0, np.empty_like(params))
