"""Sparse data: lazy updates (see ``sklearn_adamlr._sparse``), the dense steps of
linear solvers, and the CSR kernels.

- The compiled CSR path gives the numbers of the numpy reference, lazy or not.
- ``penalty_scale`` is the exact share of an epoch's minibatches that touch
  each feature, for each way of visiting the data.
- Lazy solvers reach the optimum of the objective (and would not without the
  rescaled penalty), and never move a feature that does not occur.
- Linear solvers without an L1 part take the steps they take on the dense
  copy of the data, through scaled coordinates that stay accurate.
"""

import copy
import pickle
import warnings

import numpy as np
import pytest
from conftest import REFERENCE, compiled_solvers, spy_engines
from scipy import sparse
from scipy.stats import hypergeom
from sklearn.linear_model import LogisticRegression

from sklearn_adamlr import (
    AdamLogisticRegression,
    _engines,
    _kernels,
    _plan,
    _sparse,
    available_solvers,
    get_solver,
    logistic_objective,
)

SOLVERS = available_solvers()
LAZY = [s for s in SOLVERS if get_solver(s).capabilities.lazy]
needs_numba = pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba not installed")


def sparse_problem(n=2000, d=400, nnz=5, n_classes=2, seed=0):
    """Random CSR rows with ``nnz`` entries and labels from a linear model."""
    rng = np.random.RandomState(seed)
    cols = rng.randint(0, d, size=n * nnz)
    indptr = np.arange(0, n * nnz + 1, nnz)
    X = sparse.csr_matrix((rng.normal(size=n * nnz), cols, indptr), shape=(n, d))
    X.sum_duplicates()
    W = rng.normal(size=(d, n_classes))
    y = np.argmax(X @ W + rng.gumbel(size=(n, n_classes)), axis=1)
    return X, y


def test_lazy_solvers_are_the_builtin_stochastic_ones():
    assert {"adam", "minibatch"} <= set(LAZY)
    assert "gd" not in LAZY  # full batch: every coordinate moves anyway


@needs_numba
@pytest.mark.parametrize("solver", compiled_solvers())
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("shuffle", [False, "blocks", True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("l1_ratio", [0.0, 0.3])
def test_compiled_csr_path_matches_numpy_reference(
    monkeypatch, solver, n_classes, shuffle, dtype, l1_ratio
):
    # l1_ratio=0: linear solvers take the scaled-coordinates kernel
    X, y = sparse_problem(n=300, d=60, nnz=4, n_classes=n_classes)
    X = X.astype(dtype)
    sw = np.random.RandomState(0).uniform(0.5, 2, size=len(y))
    kw = dict(solver=solver, shuffle=shuffle, batch_size=40, l1_ratio=l1_ratio)

    def fit():
        est = AdamLogisticRegression(random_state=0, max_iter=4, tol=None, **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return est.fit(X, y, sample_weight=sw)

    ran = spy_engines(monkeypatch)
    compiled = fit()
    # the compiled path ran, then the reference alone
    assert ran and REFERENCE not in ran
    ran.clear()
    monkeypatch.setattr(_kernels, "AVAILABLE", False)
    reference = fit()
    assert set(ran) == {REFERENCE}
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(compiled.coef_, reference.coef_, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(compiled.loss_curve_, reference.loss_curve_, rtol=rtol)
    # the L1 part gives exact zeros on both paths
    np.testing.assert_array_equal(compiled.coef_ == 0, reference.coef_ == 0)


class _Offset:
    """A stand-in rng whose epoch plan shifts the batches by ``offset``, in order."""

    def __init__(self, offset):
        self.offset = offset

    def randint(self, high):
        return self.offset

    def permutation(self, n):
        return np.arange(n)


def _brute_force_share(X, batch_size, shuffle):
    """The share of minibatches containing each feature, by visiting them."""
    n, d = X.shape
    bounds = _plan.batches(n, batch_size)
    offsets = range(batch_size) if shuffle else [0]
    hits = np.zeros(d)
    for offset in offsets:
        plan = _plan.epoch_plan(
            _Offset(offset), bounds, n, batch_size, False, bool(shuffle)
        )
        for start, stop, rows in _engines._batch_list(plan, n):
            rows = np.arange(start, stop) if rows is None else rows[start:stop]
            hits[np.unique(X[rows].indices)] += 1
    return hits / (len(offsets) * len(bounds[0]))


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("shuffle", [False, "blocks"])
def test_penalty_scale_is_the_share_of_minibatches_touching_a_feature(
    monkeypatch, compiled, shuffle
):
    if compiled and not _kernels.AVAILABLE:
        pytest.skip("numba not installed")
    monkeypatch.setattr(_kernels, "AVAILABLE", compiled)
    # clustered features (a block of rows each) and scattered ones; 240 rows
    # in batches of 16, so that the rotated batches are exact arcs
    rng = np.random.RandomState(0)
    dense = (rng.uniform(size=(240, 30)) < 0.05).astype(float)
    dense[100:107, 0] = 1.0  # 7 consecutive rows: often a single batch
    dense[:, 1] = 0.0  # never occurs
    dense[::16, 2] = 1.0  # once per batch, on a boundary
    X = sparse.csr_matrix(dense)
    share = _brute_force_share(X, 16, shuffle)
    scale = _sparse.penalty_scale(X, 16, shuffle)
    occurs = share > 0
    np.testing.assert_allclose(scale[occurs], 1 / share[occurs], rtol=1e-12)
    assert scale[1] == 1.0 and not occurs[1]
    assert scale[2] == pytest.approx(1.0)


def test_penalty_scale_of_random_minibatches_is_hypergeometric():
    X, _ = sparse_problem(n=500, d=50, nnz=3)
    counts = np.bincount(X.indices, minlength=50)
    miss = hypergeom(500, counts, 20).pmf(0)
    expected = 1 / (1 - miss)
    scale = _sparse.penalty_scale(X, 20, "samples")
    np.testing.assert_allclose(scale, expected, rtol=1e-9)


@needs_numba
@pytest.mark.parametrize("shuffle", [False, True])
def test_compiled_and_numpy_touch_counts_agree_on_unsorted_duplicates(shuffle):
    # a non-canonical CSR matrix: unsorted indices and a duplicated entry
    X = sparse.csr_matrix(
        (np.ones(7), np.array([3, 1, 1, 0, 2, 3, 0]), np.array([0, 3, 5, 5, 7])),
        shape=(4, 5),
    )
    args = (X.indptr, X.indices, 5, 2, shuffle)
    np.testing.assert_allclose(
        _sparse._touch_counts_compiled(*args), _sparse._touch_counts_numpy(*args)
    )


# Decaying schedules under which the dense methods converge on this problem;
# with power_t=0.1 minibatch SGD stays in a noise ball (~5e-2) lazy or not.
# minibatch updates lazily only with an L1 part: without one, its step is
# linear and it takes the dense steps (see the tests of linear solvers below).
STOCHASTIC = {
    "adam": dict(learning_rate=0.1, schedule="invscaling", power_t=0.5),
    # 2.7: 1 / L_b of this problem at batch size 50, fit's 'auto' (tol=None
    # would take the stream step, ten times smaller)
    "minibatch": dict(learning_rate=2.7, schedule="invscaling", power_t=0.5),
}
# minibatch is lazy only with an L1 part
LAZY_L1_RATIO = {"adam": 0.0, "minibatch": 0.1}


def _gap(solver, shuffle, X, y, C=1.0, l1_ratio=None):
    kw = STOCHASTIC[solver]
    l1_ratio = LAZY_L1_RATIO[solver] if l1_ratio is None else l1_ratio
    if l1_ratio:
        # gd with tol=1e-10 lands on LogisticRegression's optimum (test_parity),
        # here in a tenth of saga's time
        ref = AdamLogisticRegression(solver="gd", C=C, l1_ratio=l1_ratio, tol=1e-10)
        ref.set_params(max_iter=100_000).fit(X, y)
    else:
        ref = LogisticRegression(C=C, tol=1e-12, max_iter=100_000).fit(X, y)
    optimum = logistic_objective(
        X, y, ref.coef_, ref.intercept_, C=C, l1_ratio=l1_ratio
    )
    est = AdamLogisticRegression(
        solver=solver,
        C=C,
        max_iter=300,
        tol=None,
        random_state=0,
        shuffle=shuffle,
        batch_size=50,
        l1_ratio=l1_ratio,
        **kw,
    ).fit(X, y)
    objective = logistic_objective(
        X, y, est.coef_, est.intercept_, C=C, l1_ratio=l1_ratio
    )
    return (objective - optimum) / optimum


# The relative gaps measured after 300 epochs, per solver, L1 share and
# shuffle mode (False, "blocks", True); each test allows twice as much. A
# penalty scale of the wrong shuffle mode, or an L1 threshold without the
# per-feature scale, ends at 2e-4 to 4e-4 with L2 alone or a small L1 share,
# and above 1e-2 with no scale at all (the test below). With a large L1
# share the decaying steps end further away after 300 epochs, lazy or not.
LAZY_GAPS = {
    ("adam", 0.0): (2.7e-5, 3.2e-5, 2.5e-5),
    ("adam", 0.5): (9.5e-5, 1.0e-4, 9.1e-5),
    ("adam", 1.0): (6.8e-4, 6.7e-4, 6.5e-4),
    ("minibatch", 0.1): (1.9e-5, 1.6e-5, 6.8e-5),
    ("minibatch", 0.5): (2.8e-5, 4.0e-5, 9.1e-5),
    ("minibatch", 1.0): (2.2e-4, 2.6e-4, 3.0e-4),
}


@pytest.mark.parametrize("shuffle", [False, "blocks", True])
@pytest.mark.parametrize("solver, l1_ratio", list(LAZY_GAPS))
def test_lazy_updates_reach_the_optimum(solver, l1_ratio, shuffle):
    # each feature is in about 40 % of the minibatches: without the rescaled
    # penalty the L2 part would be 2.5 times too weak
    X, y = sparse_problem()
    gap = _gap(solver, shuffle, X, y, l1_ratio=l1_ratio)
    measured = LAZY_GAPS[solver, l1_ratio][[False, "blocks", True].index(shuffle)]
    assert gap <= 2 * measured


# the objective drifts up towards the wrong fixed point: the warning is right
@pytest.mark.filterwarnings("ignore::sklearn_adamlr.RisingLossWarning")
@pytest.mark.parametrize("solver", sorted(STOCHASTIC))
def test_without_the_rescaled_penalty_lazy_updates_miss_the_optimum(
    monkeypatch, solver
):
    X, y = sparse_problem()
    monkeypatch.setattr(
        _engines, "penalty_scale", lambda X, batch_size, shuffle: np.ones(X.shape[1])
    )
    assert _gap(solver, "samples", X, y) > 1e-2  # measured 3e-2 .. 4e-2


@pytest.mark.parametrize("solver", LAZY)
def test_lazy_updates_leave_absent_features_alone(solver):
    X, y = sparse_problem(n=400, d=50)
    est = AdamLogisticRegression(solver=solver, random_state=0, l1_ratio=0.5)
    est.partial_fit(X, y, classes=[0, 1])
    before = est.coef_.copy()
    # a chunk in which features 0..24 never occur
    chunk = X[:, 25:]
    chunk = sparse.hstack([sparse.csr_matrix((X.shape[0], 25)), chunk]).tocsr()
    est.partial_fit(chunk, y)
    np.testing.assert_array_equal(est.coef_[:, :25], before[:, :25])
    assert not np.array_equal(est.coef_[:, 25:], before[:, 25:])


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize(
    "solver", [s for s in LAZY if not get_solver(s).capabilities.linear]
)
def test_a_chunk_of_empty_rows_moves_no_coefficient(monkeypatch, solver, compiled):
    # Without an intercept, minibatches of empty rows touch no parameter: a
    # lazy step moves none (a full step would, by the moments left from the
    # first chunk; a mutant that took it at zero touched rows lived). A
    # linear solver's lazy steps are the dense ones instead, momentum
    # included (test_linear_solvers_take_the_dense_steps_on_sparse_data).
    if compiled and not _kernels.AVAILABLE:
        pytest.skip("numba is not installed")
    if not compiled:
        monkeypatch.setattr(_kernels, "AVAILABLE", False)
    X, y = sparse_problem(n=400, d=50)
    est = AdamLogisticRegression(solver=solver, random_state=0, fit_intercept=False)
    est.partial_fit(X, y, classes=[0, 1])
    before = est.coef_.copy()
    ran = spy_engines(monkeypatch)
    est.partial_fit(sparse.csr_matrix(X.shape), y)
    assert (REFERENCE in ran) is not compiled  # the path asked for ran
    np.testing.assert_array_equal(est.coef_, before)
    est.partial_fit(X, y)  # and the stream goes on
    assert not np.array_equal(est.coef_, before)


@needs_numba
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_lazy_kernel_sets_touched_rows_whatever_grad_held(n_classes, fit_intercept):
    # A solver may use grad as scratch between calls: the lazy kernel must set
    # each touched row on its first touch, not assume it was left at zero.
    # Duplicated columns in a row (non-canonical CSR) must add up.
    X, y = sparse_problem(n=120, d=300, nnz=6, n_classes=n_classes)
    end = X.indptr[1]  # row 0 gets a second entry in its first column
    X = sparse.csr_matrix(
        (
            np.r_[X.data[:end], 1.5, X.data[end:]],
            np.r_[X.indices[:end], X.indices[0], X.indices[end:]],
            np.r_[0, X.indptr[1:] + 1],
        ),
        shape=X.shape,
    )
    assert not X.has_canonical_format
    k = 1 if n_classes == 2 else n_classes
    target = y.astype(np.float64) if k == 1 else y
    rng = np.random.RandomState(1)
    params = rng.normal(size=(300 + fit_intercept, k))
    lazy = _kernels.Kernel(X, target, None, k, row_scale=np.ones(300))
    dense = _kernels.Kernel(X, target, None, k)
    expected = np.empty_like(params)
    for start, stop in [(0, 40), (40, 80), (80, 120)]:
        grad = np.full_like(params, np.nan)
        value, n_active = lazy(start, stop, None, params, 0.1, 0.3, grad)
        reference, _ = dense(start, stop, None, params, 0.1, 0.3, expected)
        active = lazy.active[:n_active]
        touched = np.unique(X[start:stop].indices)
        rows = np.r_[touched, 300] if fit_intercept else touched
        np.testing.assert_array_equal(active, rows)  # increasing, intercept last
        np.testing.assert_allclose(grad[active], expected[active], rtol=1e-12)
        untouched = np.setdiff1d(np.arange(len(params)), active)
        assert np.isnan(grad[untouched]).all()  # left as they were
        assert value == pytest.approx(reference, rel=1e-12)
        assert not lazy.touched.any()  # the bitmap is cleared for the next call


# ---------------------------------------------------------------- linear solvers
# A solver whose step is linear in the gradient (``Capabilities.linear``) takes the
# dense method's steps on sparse data, through scaled coordinates
# (``_kernels.LinearKernel``), when there is no L1 part.

LINEAR = [s for s in SOLVERS if get_solver(s).capabilities.linear]
LINEAR_INSTANCES = [get_solver(s) for s in LINEAR] + [
    get_solver("minibatch", dict(momentum=0.0)),
    get_solver("minibatch", dict(nesterovs_momentum=False)),
]


def test_minibatch_is_linear_and_adam_is_not():
    assert "minibatch" in LINEAR
    assert "adam" not in LINEAR  # its step divides by sqrt(v)


@pytest.mark.parametrize("solver", LINEAR_INSTANCES, ids=repr)
def test_linear_update_is_the_step_without_prox(solver):
    rng = np.random.RandomState(0)
    params = rng.normal(size=(7, 2))
    state = solver.init_state(params)
    for _ in range(3):  # from a zero state, then from the states it reaches
        grad = rng.normal(size=params.shape)
        ahead = copy.deepcopy(state)
        arrays, P, q = solver.linear_update(ahead, 0.1)
        stack = [params, *arrays]
        expected = [
            sum(P[a][b] * stack[b] for b in range(len(stack))) + q[a] * grad
            for a in range(len(stack))
        ]
        solver.update(params, grad.copy(), state, 0.1, None)
        moved = [params, *solver.linear_update(copy.deepcopy(state), 0.1)[0]]
        for got, want in zip(moved, expected, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("solver", LINEAR)
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("shuffle", [False, "blocks", True])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_linear_solvers_take_the_dense_steps_on_sparse_data(
    solver, n_classes, shuffle, fit_intercept, dtype
):
    # Every feature, present in a minibatch or not, feels the L2 part and
    # its momentum at every step, as on the dense copy of the data: the same
    # numbers up to rounding. (A fixed learning rate: 'auto' estimates the
    # smoothness by Lanczos on sparse data and exactly on dense data.)
    X, y = sparse_problem(n=300, d=60, nnz=4, n_classes=n_classes)
    X = X.astype(dtype)
    sw = np.random.RandomState(0).uniform(0.5, 2, size=len(y))
    kw = dict(
        solver=solver,
        shuffle=shuffle,
        batch_size=40,
        learning_rate=0.5,
        C=0.05,  # a strong L2 part, so that a missed decay shows
        fit_intercept=fit_intercept,
        max_iter=5,
    )
    on_sparse, on_dense = (
        AdamLogisticRegression(random_state=0, tol=None, **kw).fit(
            data, y, sample_weight=sw
        )
        for data in (X, X.toarray())
    )
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(on_sparse.coef_, on_dense.coef_, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(
        on_sparse.intercept_, on_dense.intercept_, rtol=rtol, atol=rtol
    )
    np.testing.assert_allclose(on_sparse.loss_curve_, on_dense.loss_curve_, rtol=rtol)
    assert on_sparse.coef_.dtype == dtype


@pytest.mark.parametrize(
    "momentum, nesterovs_momentum", [(0.0, True), (0.9, False), (0.5, True)]
)
def test_minibatch_momentum_variants_take_the_dense_steps(momentum, nesterovs_momentum):
    X, y = sparse_problem(n=300, d=60, nnz=4)
    kw = dict(
        solver="minibatch",
        momentum=momentum,
        nesterovs_momentum=nesterovs_momentum,
        batch_size=25,
        learning_rate=0.5,
        C=0.05,
        max_iter=5,
    )
    on_sparse, on_dense = (
        AdamLogisticRegression(random_state=0, tol=None, **kw).fit(data, y)
        for data in (X, X.toarray())
    )
    np.testing.assert_allclose(on_sparse.coef_, on_dense.coef_, rtol=1e-10, atol=1e-12)


@needs_numba
@pytest.mark.parametrize("s", [1, 2, 3])
def test_the_small_matrix_helpers_of_every_variant_match_numpy(s):
    # _advance and _materialize: closed forms for one and two blocks, the
    # general code (BLOCKS=0) for any number; numpy's product, inverse and
    # 1-norm condition number as the reference.
    from sklearn_adamlr._kernels import linear
    from sklearn_adamlr._kernels._numba import specialise

    rng = np.random.RandomState(s)
    A, M = rng.normal(size=(2, s, s)) + 2 * np.eye(s)
    product = A @ M
    k, d = 2, 5
    Z = rng.normal(size=(d + 1, s * k))
    blocks = Z[:d].reshape(d, s, k)
    expected_Z = np.concatenate(
        [np.einsum("ab,jbc->jac", M, blocks).reshape(d, -1), Z[d:]]
    )
    for variant in {s if s <= 2 else 0, 0}:
        advance = specialise(linear._advance, BLOCKS=variant)
        materialize = specialise(linear._materialize, BLOCKS=variant)
        work = np.full((4, s, s), np.nan)
        condition, size = advance(A, M, work)
        np.testing.assert_allclose(work[3], product, rtol=1e-14)
        np.testing.assert_allclose(work[1], np.linalg.inv(product), rtol=1e-12)
        assert condition == pytest.approx(np.linalg.cond(product, 1), rel=1e-12)
        norms = [np.linalg.norm(m, 1) for m in (product, np.linalg.inv(product))]
        assert size == pytest.approx(max(norms), rel=1e-12)
        assert advance(np.zeros((s, s)), M, work) == (np.inf, np.inf)  # singular
        got, scaled = Z.copy(), M.copy()
        materialize(got, d, scaled, k, np.empty(s))
        np.testing.assert_allclose(got, expected_Z, rtol=1e-13, atol=1e-15)
        np.testing.assert_array_equal(scaled, np.eye(s))


@needs_numba
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("n, C, learning_rate", [(2000, 1e-4, 0.05), (1000, 1e-3, 1.0)])
def test_scaled_coordinates_survive_a_strong_l2_decay(
    monkeypatch, dtype, momentum, n, C, learning_rate
):
    # Steps of one sample with an L2 part of 1 / (C n) per step: 5 * 0.05
    # shrinks every coefficient by 0.75 a step, so M shrinks by it at a
    # condition of 1 and the feature rows grew by its inverse until they
    # overflowed (a false "Training diverged" in float32, and in float64
    # without momentum); 1 * 1.0 maps them to 0 (A singular: the same
    # error without momentum, and 2-7 % off the dense coefficients with).
    # The dense path had no trouble with either.
    X, y = sparse_problem(n=n, d=60, nnz=6)
    X = X.astype(dtype)
    # (shuffle='samples': with True, dense rows of 1,024 or more are visited
    # in runs of 16, CSR rows in a permutation; the same steps need the same
    # order)
    kw = dict(solver="minibatch", momentum=momentum, batch_size=1, C=C,
              learning_rate=learning_rate, max_iter=2, tol=None,
              random_state=0, shuffle="samples")  # fmt: skip
    ran = spy_engines(monkeypatch)
    on_sparse = AdamLogisticRegression(**kw).fit(X, y)
    assert set(ran) == {"LinearEngine"}
    on_dense = AdamLogisticRegression(**kw).fit(X.toarray(), y)
    scale = np.abs(on_dense.coef_).max()
    assert scale > 1e-2
    # measured: at most 1.8e-7 (float32) and 5.9e-16 (float64) of the scale
    rtol = 1e-6 if dtype == np.float32 else 5e-15
    np.testing.assert_allclose(
        on_sparse.coef_, on_dense.coef_, rtol=0, atol=rtol * scale
    )


@needs_numba
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_scaled_coordinates_stay_accurate_over_many_steps(monkeypatch, dtype):
    # 1,500 steps: without rescaling, M would be singular to machine precision
    # after a few hundred (momentum 0.9); with it, the compiled path keeps
    # the numbers of the numpy reference, and rescaling at every step changes
    # nothing beyond rounding.
    X, y = sparse_problem(n=300, d=60, nnz=4, n_classes=3)
    X = X.astype(dtype)
    kw = dict(solver="minibatch", batch_size=10, learning_rate=0.2, C=0.05)

    def fit():
        est = AdamLogisticRegression(random_state=0, max_iter=50, tol=None, **kw)
        return est.fit(X, y)

    ran = spy_engines(monkeypatch)
    compiled = fit()
    monkeypatch.setattr(
        _kernels.LinearKernel, "CONDITION_LIMIT", {np.float64: 1.0, np.float32: 1.0}
    )
    every_step = fit()
    # both ran the scaled coordinates, compiled
    assert set(ran) == {"LinearEngine"}
    ran.clear()
    monkeypatch.setattr(_kernels, "AVAILABLE", False)
    reference = fit()
    assert set(ran) == {REFERENCE}
    rtol = 1e-9 if dtype == np.float64 else 1e-4
    for other in (every_step, reference):
        np.testing.assert_allclose(compiled.coef_, other.coef_, rtol=rtol, atol=rtol)
        np.testing.assert_allclose(compiled.loss_curve_, other.loss_curve_, rtol=rtol)


# ------------------------------------------------------- compiled lazy epochs
# A lazy solver may run its epochs on CSR data compiled
# (``Solver.sparse_kernel``, e.g. ``AdamSparseKernel``): the numbers of its
# numpy ``update`` with ``rows``, each row's step deferred until it is read.

KERNELED = [s for s in LAZY if get_solver(s).capabilities.sparse_kernel is not None]


def test_adam_has_a_compiled_sparse_epoch():
    assert "adam" in KERNELED


@needs_numba
@pytest.mark.parametrize("solver", KERNELED)
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_compiled_epochs_match_the_numpy_steps_on_any_csr(
    monkeypatch, solver, n_classes, fit_intercept
):
    # A non-canonical CSR matrix, each row with a column twice, which must be
    # stepped once. Epochs over two partial_fit calls.
    rng = np.random.RandomState(0)
    n, d, nnz = 200, 40, 5
    cols = rng.randint(0, d, size=(n, nnz))
    cols[:, 1] = cols[:, 0]
    indptr = np.arange(0, n * nnz + 1, nnz)
    X = sparse.csr_matrix((rng.normal(size=n * nnz), cols.ravel(), indptr), (n, d))
    assert not X.has_canonical_format
    y = rng.permutation(np.arange(n) % n_classes)
    classes = np.unique(y)
    calls = []

    def fit():
        est = AdamLogisticRegression(
            solver=solver, random_state=0, batch_size=16, C=0.1,
            fit_intercept=fit_intercept,
        )  # fmt: skip
        for _ in range(2):
            est.partial_fit(X, y, classes=classes)
        return est

    kernel = get_solver(solver).capabilities.sparse_kernel
    epoch = kernel.epoch
    monkeypatch.setattr(
        kernel, "epoch", lambda self, *a: calls.append(1) or epoch(self, *a)
    )
    compiled = fit()
    assert len(calls) == 2  # the compiled path ran, one epoch per call
    monkeypatch.setattr(_kernels, "AVAILABLE", False)
    reference = fit()
    np.testing.assert_allclose(compiled.coef_, reference.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        compiled.intercept_, reference.intercept_, rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(compiled.loss_curve_, reference.loss_curve_, rtol=1e-10)


@pytest.mark.parametrize("solver", LINEAR + KERNELED)
def test_compiled_sparse_path_resumes_exactly_after_a_pickle(solver):
    X, y = sparse_problem(n=300, d=60, nnz=4)
    kw = dict(solver=solver, random_state=0, batch_size=40)
    straight = AdamLogisticRegression(**kw)
    for _ in range(4):
        straight.partial_fit(X, y, classes=[0, 1])
    resumed = AdamLogisticRegression(**kw)
    for _ in range(2):
        resumed.partial_fit(X, y, classes=[0, 1])
    resumed = pickle.loads(pickle.dumps(resumed))
    for _ in range(2):
        resumed.partial_fit(X, y)
    np.testing.assert_array_equal(resumed.coef_, straight.coef_)
    np.testing.assert_array_equal(resumed.intercept_, straight.intercept_)


@pytest.mark.parametrize("solver", LINEAR + KERNELED)
def test_compiled_sparse_path_divergence_leaves_the_estimator_as_it_was(solver):
    X, y = sparse_problem(n=300, d=60, nnz=4)
    est = AdamLogisticRegression(solver=solver, random_state=0, max_iter=2, tol=None)
    est.fit(X, y)
    before = est.coef_.copy(), est.intercept_.copy(), est.t_
    est.set_params(learning_rate=1e200, warm_start=True)
    with pytest.raises(ValueError, match="Training diverged"):
        est.fit(X * 1e100, y)
    np.testing.assert_array_equal(est.coef_, before[0])
    np.testing.assert_array_equal(est.intercept_, before[1])
    assert est.t_ == before[2]


def _broken_csr(part):
    """A 3 x 3 identity in CSR whose arrays were changed after it was built."""
    X = sparse.csr_matrix(np.eye(3))
    if part == "indptr too short":
        X.indptr = X.indptr[:-1]
    elif part == "indptr not from 0":
        X.indptr[0] = 1
    elif part == "last row past the data":
        X.indptr[-1] = 5  # only the last row: the others are fine
    elif part == "indptr decreasing":
        X.indptr[1], X.indptr[2] = 2, 1
    elif part == "column out of range":
        X.indices[2] = 3
    return X


@pytest.mark.parametrize(
    "part",
    [
        "indptr too short",
        "indptr not from 0",
        "last row past the data",
        "indptr decreasing",
        "column out of range",
    ],
)
def test_a_corrupted_csr_is_refused_before_the_kernels_read_it(part):
    # the compiled kernels do not check bounds: a bad indptr or column index
    # would read or write outside the arrays
    from sklearn_adamlr._sparse import check_csr_indices

    check_csr_indices(sparse.csr_matrix(np.eye(3)))  # a sound one passes
    X = _broken_csr(part)
    with pytest.raises(ValueError, match="X is not a valid CSR matrix"):
        check_csr_indices(X)
    est = AdamLogisticRegression(max_iter=2)
    with pytest.raises(ValueError, match="valid CSR"):
        est.fit(X, np.array([0, 1, 0]))
    assert not hasattr(est, "coef_")
