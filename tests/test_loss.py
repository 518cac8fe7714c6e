"""The maths: gradients, the binary/multinomial link, extreme values."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from sklearn_adamlr._loss import (
    BinaryLogLoss,
    MultinomialLogLoss,
    lipschitz_constant,
    objective,
)
from sklearn_adamlr._penalties import ElasticNet


def _problem(seed, n, d, n_classes, weighted):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, d))
    y = rng.randint(n_classes, size=n)
    sw = rng.uniform(0.1, 3.0, size=n) if weighted else None
    loss = BinaryLogLoss() if n_classes == 2 else MultinomialLogLoss()
    k = loss.n_outputs(n_classes)
    params = rng.normal(size=(d + 1, k))
    return X, loss.encode(y, X.dtype), sw, loss, params


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_classes=st.sampled_from([2, 3, 5]),
    weighted=st.booleans(),
    alpha=st.floats(0.0, 2.0),
)
def test_gradient_matches_finite_differences(seed, n_classes, weighted, alpha):
    X, target, sw, loss, params = _problem(seed, 20, 4, n_classes, weighted)
    penalty = ElasticNet(alpha=alpha, l1_ratio=0.0)
    _, grad = objective(params, X, target, sw, loss, penalty)
    eps = 1e-6
    numeric = np.empty_like(params)
    for idx in np.ndindex(params.shape):
        plus, minus = params.copy(), params.copy()
        plus[idx] += eps
        minus[idx] -= eps
        f_plus, _ = objective(plus, X, target, sw, loss, penalty)
        f_minus, _ = objective(minus, X, target, sw, loss, penalty)
        numeric[idx] = (f_plus - f_minus) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_sparse_and_dense_gradients_agree():
    X, target, sw, loss, params = _problem(0, 30, 5, 3, True)
    X[X < 0.5] = 0
    penalty = ElasticNet(alpha=0.1, l1_ratio=0.0)
    dense = objective(params, X, target, sw, loss, penalty)
    csr = objective(params, sparse.csr_matrix(X), target, sw, loss, penalty)
    assert dense[0] == pytest.approx(csr[0], rel=1e-12)
    np.testing.assert_allclose(dense[1], csr[1], rtol=1e-12)


@settings(max_examples=50, deadline=None, derandomize=True)
@given(
    z=st.lists(st.floats(-1e300, 1e300), min_size=1, max_size=20),
    seed=st.integers(0, 1000),
)
def test_binary_equals_two_class_multinomial(z, seed):
    z = np.asarray(z)
    y = np.random.RandomState(seed).randint(2, size=len(z))
    g_bin = np.empty((len(z), 1))
    g_multi = np.empty((len(z), 2))
    binary = BinaryLogLoss.loss_gradient(z[:, None], y.astype(float), None, g_bin)
    raw = np.column_stack([np.zeros_like(z), z])
    multi = MultinomialLogLoss.loss_gradient(raw, y, None, g_multi)
    assert binary == pytest.approx(multi, rel=1e-12, abs=1e-12)
    # The multinomial gradient for class 1 is the binary gradient.
    np.testing.assert_allclose(g_multi[:, 1], g_bin[:, 0], atol=1e-12)
    np.testing.assert_allclose(
        BinaryLogLoss.predict_proba(z[:, None]),
        MultinomialLogLoss.predict_proba(raw),
        atol=1e-12,
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_loss_finite_at_huge_logits(dtype, sign):
    big = 1e300 if dtype == np.float64 else 1e38
    z = np.array([[sign * big], [0.0]], dtype=dtype)
    raw_multi = np.array([[sign * big, 0.0, -sign * big], [0, 0, 0]], dtype=dtype)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        for target in (0, 1):
            g = np.empty_like(z)
            value = BinaryLogLoss.loss_gradient(
                z, np.array([target, target], dtype=dtype), None, g
            )
            assert np.isfinite(value) and np.isfinite(g).all()
            proba = BinaryLogLoss.predict_proba(z)
            assert np.all((proba >= 0) & (proba <= 1))
            np.testing.assert_allclose(proba.sum(axis=1), 1)
            assert (BinaryLogLoss.predict_log_proba(z) <= 0).all()
        g = np.empty_like(raw_multi)
        value = MultinomialLogLoss.loss_gradient(raw_multi, np.array([2, 0]), None, g)
        assert np.isfinite(value) and np.isfinite(g).all()
        proba = MultinomialLogLoss.predict_proba(raw_multi)
        np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)


def test_binary_loss_value_at_huge_logit_is_exact():
    # log(1 + exp(1e300)) - 0 * 1e300 is 1e300, and for the right class it is 0.
    g = np.empty((2, 1))
    value = BinaryLogLoss.loss_gradient(
        np.array([[1e300], [1e300]]), np.array([0.0, 1.0]), None, g
    )
    assert value == 1e300
    np.testing.assert_array_equal(g.ravel(), [1.0, 0.0])


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_lipschitz_constant_bounds_the_hessian(fit_intercept):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(50, 4)) * [1, 2, 3, 4]
    sw = rng.uniform(0.5, 2, size=50)
    L = lipschitz_constant(X, sw, fit_intercept, 0.25)
    Xa = np.column_stack([X, np.ones(50)]) if fit_intercept else X
    exact = 0.25 * np.linalg.eigvalsh(Xa.T @ (Xa * sw[:, None]))[-1] / sw.sum()
    assert L == pytest.approx(exact, rel=1e-10)
    # the sparse path (Lanczos) is an upper bound within a few percent
    L_sparse = lipschitz_constant(sparse.csr_matrix(X), sw, fit_intercept, 0.25)
    assert exact <= L_sparse <= 1.05 * exact


def test_l1_prox_gives_exact_zeros_and_no_nan():
    pen = ElasticNet(alpha=1.0, l1_ratio=1.0)
    w = np.array([[0.0], [0.05], [-0.05], [1.0]])
    with np.errstate(all="raise"):
        pen.prox(w, 0.1)
    np.testing.assert_array_equal(w.ravel(), [0.0, 0.0, 0.0, 0.9])


def test_elastic_net_value_and_stationarity_from_their_definitions():
    # written from the formulas, not from the package's helpers (a mutant
    # that starts the value at 1.0 survived every other test)
    pen = ElasticNet(alpha=2.0, l1_ratio=0.25)
    w = np.array([[0.0], [1.5], [-2.0]])
    l2, l1 = 2.0 * 0.75, 2.0 * 0.25
    assert pen.value(w) == pytest.approx(0.5 * l2 * 6.25 + l1 * 3.5, rel=1e-15)
    assert ElasticNet(alpha=0.0, l1_ratio=0.5).value(w) == 0.0
    g = np.array([[0.2], [-0.7], [0.1]])
    # zero coefficient: |0.2| - 0.5 < 0 -> 0; nonzero: |g + l1 sign(w)|
    expected = max(0.0, abs(-0.7 + 0.5), abs(0.1 - 0.5))
    assert pen.stationarity(w, g) == pytest.approx(expected, rel=1e-15)
    assert ElasticNet(alpha=1.0, l1_ratio=0.0).stationarity(w, g) == 0.7
