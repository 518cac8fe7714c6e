"""Properties that make training fast, checked without timing anything.

- The compiled (numba) path and the numpy reference give the same numbers.
- float32 stays float32; sparse stays sparse.
- fit never copies X: peak memory stays far below X's size.
"""

import tracemalloc
import warnings

import numpy as np
import pytest
from conftest import REFERENCE, compiled_solvers, spy_engines
from scipy import sparse
from sklearn.datasets import make_classification

from sklearn_adamlr import AdamLogisticRegression, _kernels, available_solvers

SOLVERS = available_solvers()
needs_numba = pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba not installed")


@needs_numba
@pytest.mark.parametrize("solver", compiled_solvers())
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("shuffle", [False, "blocks", True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compiled_path_matches_numpy_reference(
    monkeypatch, solver, n_classes, shuffle, dtype
):
    X, y = make_classification(
        n_samples=333,
        n_features=7,
        n_informative=4,
        n_classes=n_classes,
        random_state=0,
    )
    X = X.astype(dtype)
    sw = np.random.RandomState(0).uniform(0.5, 2, size=len(y))
    kw = dict(solver=solver, shuffle=shuffle, batch_size=50, l1_ratio=0.3)
    ran = spy_engines(monkeypatch)
    compiled = AdamLogisticRegression(random_state=0, max_iter=4, tol=None, **kw)
    compiled.fit(X, y, sample_weight=sw)
    # the compiled path ran, then the reference alone
    assert ran and REFERENCE not in ran
    ran.clear()
    monkeypatch.setattr(_kernels, "AVAILABLE", False)
    reference = AdamLogisticRegression(random_state=0, max_iter=4, tol=None, **kw)
    reference.fit(X, y, sample_weight=sw)
    assert set(ran) == {REFERENCE}
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(compiled.coef_, reference.coef_, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(compiled.loss_curve_, reference.loss_curve_, rtol=rtol)
    assert compiled.t_ == reference.t_


@pytest.mark.parametrize("solver", SOLVERS)
def test_float32_end_to_end(solver):
    X, y = make_classification(n_samples=300, n_features=5, random_state=0)
    est = AdamLogisticRegression(solver=solver, max_iter=5, random_state=0)
    est.fit(X.astype(np.float32), y)
    assert est.coef_.dtype == est.intercept_.dtype == np.float32
    assert est.decision_function(X.astype(np.float32)).dtype == np.float32
    est.partial_fit(X.astype(np.float32), y)
    assert est.coef_.dtype == np.float32


def _warm_up(solver, X, y):
    """Load (or compile) the numba kernels that ``fit`` will use on ``X``.

    Loading them is a one-time cost of the process, of several MB, that is
    not what these tests measure.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        AdamLogisticRegression(solver=solver, max_iter=1).fit(X[:50], y[:50])


def _peak_during(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("shuffle", ["blocks", True])
def test_fit_does_not_copy_dense_X(solver, shuffle):
    X, y = make_classification(n_samples=40_000, n_features=100, random_state=0)
    assert X.flags.c_contiguous and X.dtype == np.float64
    est = AdamLogisticRegression(solver=solver, shuffle=shuffle, max_iter=2, tol=None)
    _warm_up(solver, X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peak = _peak_during(lambda: est.fit(X, y))
    # X is 32 MB. What fit allocates is O(n) for the labels (about ten
    # arrays of n numbers: classes, indices, targets), O(batch_size * d) for
    # buffers and gd's 4,096-row block for the Lipschitz constant: ~6 MB.
    assert peak < 0.25 * X.nbytes, peak


@pytest.mark.parametrize("solver", SOLVERS)
def test_fit_keeps_sparse_X_sparse(solver):
    rng = np.random.RandomState(0)
    # 10 random columns a row (density 0.002), built directly: scipy's
    # sparse.random took 15 s for this shape, once per solver.
    n, d, per_row = 20_000, 5_000, 10
    X = sparse.csr_matrix(
        (rng.uniform(size=n * per_row), rng.randint(d, size=n * per_row),
         np.arange(0, n * per_row + 1, per_row)),
        shape=(n, d),
    )  # fmt: skip
    X.sum_duplicates()
    y = rng.randint(2, size=n)
    dense_size = X.shape[0] * X.shape[1] * 8
    est = AdamLogisticRegression(solver=solver, max_iter=2, tol=None)
    _warm_up(solver, X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peak = _peak_during(lambda: est.fit(X, y))
    # densifying would take 800 MB; the sparse matrix itself is ~2.4 MB
    assert peak < 0.01 * dense_size
    assert peak < 4 * (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes)
