"""Sparse data: lazy updates (see ``sklearn_adamlr._sparse``) and the CSR kernels.

- The compiled CSR path gives the numbers of the numpy reference, lazy or not.
- ``penalty_scale`` is the exact share of an epoch's minibatches that touch
  each feature, for each way of visiting the data.
- Lazy solvers reach the optimum of the objective (and would not without the
  rescaled penalty), and never move a feature that does not occur.
"""

import warnings

import numpy as np
import pytest
from scipy import sparse
from scipy.stats import hypergeom
from sklearn.linear_model import LogisticRegression

from sklearn_adamlr import (
    AdamLogisticRegression,
    _fused,
    _sparse,
    _training,
    available_solvers,
    get_solver,
    logistic_objective,
)

SOLVERS = available_solvers()
LAZY = [s for s in SOLVERS if getattr(get_solver(s), "lazy", False)]
needs_numba = pytest.mark.skipif(not _fused.AVAILABLE, reason="numba not installed")


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
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("shuffle", [False, True, "samples"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compiled_csr_path_matches_numpy_reference(
    monkeypatch, solver, n_classes, shuffle, dtype
):
    X, y = sparse_problem(n=300, d=60, nnz=4, n_classes=n_classes)
    X = X.astype(dtype)
    sw = np.random.RandomState(0).uniform(0.5, 2, size=len(y))
    kw = dict(solver=solver, shuffle=shuffle, batch_size=40, l1_ratio=0.3)

    def fit():
        est = AdamLogisticRegression(random_state=0, max_iter=4, tol=None, **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return est.fit(X, y, sample_weight=sw)

    compiled = fit()
    monkeypatch.setattr(_fused, "AVAILABLE", False)
    reference = fit()
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(compiled.coef_, reference.coef_, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(compiled.loss_curve_, reference.loss_curve_, rtol=rtol)
    # the L1 part gives exact zeros on both paths
    np.testing.assert_array_equal(compiled.coef_ == 0, reference.coef_ == 0)


def _brute_force_share(X, batch_size, shuffle):
    """The share of minibatches containing each feature, by visiting them."""
    n, d = X.shape
    bounds = _training._batches(n, batch_size)
    offsets = range(batch_size) if shuffle else [0]
    hits = np.zeros(d)
    for offset in offsets:
        for b in bounds:
            start, stop, rows = _training._rotated(b, offset, n)
            rows = np.arange(start, stop) if rows is None else rows[start:stop]
            hits[np.unique(X[rows].indices)] += 1
    return hits / (len(offsets) * len(bounds))


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("shuffle", [False, True])
def test_penalty_scale_is_the_share_of_minibatches_touching_a_feature(
    monkeypatch, compiled, shuffle
):
    if compiled and not _fused.AVAILABLE:
        pytest.skip("numba not installed")
    monkeypatch.setattr(_fused, "AVAILABLE", compiled)
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
STOCHASTIC = {
    "adam": dict(learning_rate=0.1, schedule="invscaling", power_t=0.5),
    "minibatch": dict(learning_rate="auto", schedule="invscaling", power_t=0.5),
}


def _gap(solver, shuffle, X, y, C=1.0):
    ref = LogisticRegression(C=C, tol=1e-12, max_iter=100_000).fit(X, y)
    optimum = logistic_objective(X, y, ref.coef_, ref.intercept_, C=C)
    est = AdamLogisticRegression(
        solver=solver,
        C=C,
        max_iter=300,
        tol=None,
        random_state=0,
        shuffle=shuffle,
        batch_size=50,
        **STOCHASTIC[solver],
    ).fit(X, y)
    objective = logistic_objective(X, y, est.coef_, est.intercept_, C=C)
    return (objective - optimum) / optimum


@pytest.mark.parametrize("shuffle", [False, True, "samples"])
@pytest.mark.parametrize("solver", sorted(STOCHASTIC))
def test_lazy_updates_reach_the_optimum(solver, shuffle):
    # each feature is in about 40 % of the minibatches: without the rescaled
    # penalty the L2 part would be 2.5 times too weak
    X, y = sparse_problem()
    assert _gap(solver, shuffle, X, y) < 1e-3  # measured 2e-5 .. 7e-5


# the objective drifts up towards the wrong fixed point: the warning is right
@pytest.mark.filterwarnings("ignore::sklearn_adamlr.RisingLossWarning")
@pytest.mark.parametrize("solver", sorted(STOCHASTIC))
def test_without_the_rescaled_penalty_lazy_updates_miss_the_optimum(
    monkeypatch, solver
):
    X, y = sparse_problem()
    monkeypatch.setattr(
        _training, "penalty_scale", lambda X, batch_size, shuffle: np.ones(X.shape[1])
    )
    assert _gap(solver, "samples", X, y) > 1e-2  # measured about 3e-2


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
    lazy = _fused.Kernel(X, target, None, k, row_scale=np.ones(300))
    dense = _fused.Kernel(X, target, None, k)
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
