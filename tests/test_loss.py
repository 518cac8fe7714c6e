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
    gradient_from_raw,
    lipschitz_constant,
    loss_for,
    objective,
    raw_prediction,
    row_maxima,
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


# ------------------------------------------- against formulas written here
# (mutation testing found that no test pinned these: see docs/architecture.rst)


def _log_loss_by_hand(X, y_index, coef, intercept):
    """Per-sample log-loss of a linear model, sigmoid for one row, else softmax."""
    z = np.asarray(X @ coef.T) + intercept
    if coef.shape[0] == 1:
        z = z[:, 0]
        return np.logaddexp(0.0, z) - y_index * z
    top = z.max(axis=1, keepdims=True)
    lse = top[:, 0] + np.log(np.exp(z - top).sum(axis=1))
    return lse - z[np.arange(len(z)), y_index]


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_logistic_objective_is_sklearns_objective(n_classes, weighted, fmt):
    from sklearn_adamlr import logistic_objective

    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 4))
    labels = np.array(["b", "c", "a"])[:n_classes]
    y_index = rng.randint(n_classes, size=30)
    y = labels[y_index]
    rows = 1 if n_classes == 2 else n_classes
    coef, intercept = rng.normal(size=(rows, 4)), rng.normal(size=rows)
    sw = rng.uniform(0.5, 2.0, size=30) if weighted else None
    classes = np.sort(labels)
    # class indices in sorted order, as the estimators encode them
    index = np.searchsorted(classes, y)
    data = _log_loss_by_hand(X, index, coef, intercept)
    data = data.sum() if sw is None else np.dot(sw, data)
    penalty = 0.5 * 0.7 * (coef**2).sum() + 0.3 * np.abs(coef).sum()
    Xin = sparse.csr_matrix(X) if fmt == "csr" else X
    kw = dict(l1_ratio=0.3, sample_weight=sw)
    value = logistic_objective(Xin, y, coef, intercept, C=2.5, **kw)
    np.testing.assert_allclose(value, 2.5 * data + penalty, rtol=1e-13)
    # C defaults to 1; classes given explicitly (a superset in a stream's
    # chunk) change nothing when they are y's; C=inf drops the penalty
    default = logistic_objective(Xin, y, coef, intercept, **kw)
    np.testing.assert_allclose(default, data + penalty, rtol=1e-13)
    given = logistic_objective(Xin, y, coef, intercept, C=2.5, classes=classes, **kw)
    assert given == value
    unpenalised = logistic_objective(Xin, y, coef, intercept, C=np.inf, **kw)
    np.testing.assert_allclose(unpenalised, data, rtol=1e-13)
    # float32 coefficients are evaluated in float64
    single = logistic_objective(
        Xin, y, coef.astype(np.float32), intercept.astype(np.float32), C=2.5, **kw
    )
    exact = 2.5 * _log_loss_by_hand(
        X, index, coef.astype(np.float32).astype(float),
        intercept.astype(np.float32).astype(float),
    )  # fmt: skip
    exact = exact.sum() if sw is None else np.dot(sw, exact)
    c32 = coef.astype(np.float32).astype(float)
    exact += 0.5 * 0.7 * (c32**2).sum() + 0.3 * np.abs(c32).sum()
    np.testing.assert_allclose(single, exact, rtol=1e-13)


def test_logistic_objective_takes_the_classes_of_a_chunk():
    # a chunk of a stream may miss a class: with classes given, y's labels
    # keep their place among all the classes
    from sklearn_adamlr import logistic_objective

    rng = np.random.RandomState(1)
    X = rng.normal(size=(10, 3))
    coef, intercept = rng.normal(size=(3, 3)), rng.normal(size=3)
    y = np.array([0, 2] * 5)  # class 1 absent
    value = logistic_objective(X, y, coef, intercept, classes=[0, 1, 2])
    expected = _log_loss_by_hand(X, y, coef, intercept).sum()
    expected += 0.5 * (coef**2).sum()
    np.testing.assert_allclose(value, expected, rtol=1e-13)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_scaled_objective_divides_by_the_weight_sum(n_classes):
    rng = np.random.RandomState(2)
    X = rng.normal(size=(25, 3))
    y_index = rng.randint(n_classes, size=25)
    rows = 1 if n_classes == 2 else n_classes
    params = rng.normal(size=(4, rows))
    sw = rng.uniform(0.2, 3.0, size=25)
    loss = loss_for(n_classes)
    target = loss.encode(y_index, np.float64)
    penalty = ElasticNet(alpha=0.1, l1_ratio=0.4)
    coef, intercept = params[:3].T, params[3]
    data = _log_loss_by_hand(X, y_index, coef, intercept)
    pen = 0.1 * (0.5 * 0.6 * (coef**2).sum() + 0.4 * np.abs(coef).sum())
    for weights, expected in ((None, data.mean()), (sw, np.dot(sw, data) / sw.sum())):
        value, _ = objective(params, X, target, weights, loss, penalty)
        np.testing.assert_allclose(value, expected + pen, rtol=1e-13)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_probabilities_are_the_sigmoid_or_softmax(n_classes):
    rng = np.random.RandomState(3)
    rows = 1 if n_classes == 2 else n_classes
    raw = rng.normal(size=(20, rows)) * 5
    loss = loss_for(n_classes)
    if n_classes == 2:
        positive = 1.0 / (1.0 + np.exp(-raw[:, 0]))
        expected = np.column_stack([1.0 - positive, positive])
    else:
        e = np.exp(raw - raw.max(axis=1, keepdims=True))
        expected = e / e.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(loss.predict_proba(raw), expected, rtol=1e-13)
    np.testing.assert_allclose(
        loss.predict_log_proba(raw), np.log(expected), rtol=1e-12, atol=1e-15
    )


def test_the_loss_sum_is_accumulated_in_float64():
    # a million float32 losses of 0.1 summed in float32 drift by about 1e-3
    # relative; the sum is returned in float64
    raw = np.zeros((1_000_000, 1), dtype=np.float32)
    target = np.zeros(1_000_000, dtype=np.float32)
    grad = np.empty_like(raw)
    loss = loss_for(2)
    value = loss.loss_gradient(raw, target, None, grad)
    pointwise = np.float64(np.float32(np.log(2.0)))
    np.testing.assert_allclose(value, 1_000_000 * pointwise, rtol=1e-9)
    weighted = loss.loss_gradient(raw, target, np.ones(1_000_000, np.float32), grad)
    np.testing.assert_allclose(weighted, 1_000_000 * pointwise, rtol=1e-9)


def test_encode_gives_the_binary_target_in_the_dtype_asked_for():
    # the kernels read the binary target in X's dtype; the softmax's target
    # stays the class index
    index = np.array([0, 1, 1, 0])
    for dtype in (np.float32, np.float64):
        target = loss_for(2).encode(index, dtype)
        assert target.dtype == dtype
        np.testing.assert_array_equal(target, index)
        np.testing.assert_array_equal(loss_for(3).encode(index, dtype), index)


def test_inverse_scaling_defaults_to_the_estimators_power_t():
    from sklearn_adamlr import AdamLogisticRegression, InverseScaling

    assert InverseScaling().power_t == AdamLogisticRegression().power_t == 0.5
    assert InverseScaling()(0.1, 100) == 0.1 / 100**0.5


@pytest.mark.parametrize("fmt", ["dense", "csr"])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_raw_prediction_and_gradient_with_and_without_an_intercept(fmt, fit_intercept):
    rng = np.random.RandomState(5)
    X = rng.normal(size=(12, 3))
    params = rng.normal(size=(3 + fit_intercept, 2))
    grad_raw = rng.normal(size=(12, 2))
    Xin = sparse.csr_matrix(X) if fmt == "csr" else X
    expected = X @ params[:3] + (params[3] if fit_intercept else 0.0)
    np.testing.assert_allclose(raw_prediction(Xin, params, 3), expected, rtol=1e-14)
    out = np.empty_like(params)
    gradient_from_raw(Xin, grad_raw, 3, 0.5, out)
    full = np.hstack([X, np.ones((12, 1))]) if fit_intercept else X
    np.testing.assert_allclose(out, 0.5 * full.T @ grad_raw, rtol=1e-14)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_lipschitz_constant_is_the_top_eigenvalue(fit_intercept, weighted):
    # not centred, so that the intercept's cross terms matter; row blocks of
    # 7, so that the Gram matrix is summed over blocks
    rng = np.random.RandomState(6)
    X = rng.normal(size=(50, 6)) + 3.0
    sw = rng.uniform(0.5, 2.0, size=50) if weighted else np.ones(50)
    A = np.hstack([X, np.ones((50, 1))]) if fit_intercept else X
    expected = 0.25 * np.linalg.eigvalsh(A.T @ (sw[:, None] * A))[-1] / sw.sum()
    weights = sw if weighted else None
    dense = lipschitz_constant(X, weights, fit_intercept, 0.25, block=7)
    np.testing.assert_allclose(dense, expected, rtol=1e-12)
    # sparse: Lanczos to tol=1e-3, enlarged by 2 % to stay an upper bound
    lanczos = lipschitz_constant(sparse.csr_matrix(X), weights, fit_intercept, 0.25)
    assert expected <= lanczos <= 1.03 * expected


def test_stationarity_tells_zero_coefficients_from_others():
    pen = ElasticNet(alpha=1.0, l1_ratio=0.5)  # l1 = 0.5
    # at zero: the gradient inside [-l1, l1] is stationary, beyond it by the
    # excess; away from zero (1.0 included): |g + l1 sign(w)|
    assert pen.stationarity(np.array([[0.0]]), np.array([[0.3]])) == 0.0
    assert pen.stationarity(np.array([[0.0]]), np.array([[-0.8]])) == pytest.approx(0.3)
    assert pen.stationarity(np.array([[1.0]]), np.array([[-0.2]])) == pytest.approx(0.3)
    assert pen.stationarity(np.array([[-1.0]]), np.array([[0.5]])) == 0.0


def test_log_probabilities_stay_finite_for_large_and_mixed_logits():
    # each row shifted by its own maximum: a shared shift (or none) sends a
    # row of small logits to log(0), or a row of large ones to overflow
    raw = np.array([[800.0, 799.0, 790.0], [0.0, 1.0, -1.0], [-700.0, -701.0, -705.0]])
    log_p = loss_for(3).predict_log_proba(raw)
    shifted = raw - raw.max(axis=1, keepdims=True)
    expected = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(log_p, expected, rtol=1e-14, atol=1e-300)
    binary = loss_for(2).predict_log_proba(np.array([[800.0], [-800.0], [0.0]]))
    assert np.isfinite(binary).all()
    np.testing.assert_allclose(binary[2], np.log([0.5, 0.5]), rtol=1e-15)
    np.testing.assert_allclose(binary[0], [-800.0, 0.0], rtol=1e-15)


def test_the_softmax_loss_sum_is_accumulated_in_float64():
    raw = np.zeros((1_000_000, 3), dtype=np.float32)
    target = np.zeros(1_000_000, dtype=np.intp)
    grad = np.empty_like(raw)
    value = loss_for(3).loss_gradient(raw, target, None, grad)
    pointwise = np.float64(np.float32(np.log(3.0)))
    np.testing.assert_allclose(value, 1_000_000 * pointwise, rtol=1e-9)


@pytest.mark.parametrize("n, n_classes", [(60, 3), (30, 3), (60, 40)])
@pytest.mark.parametrize("contiguous", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_softmax_loss_and_gradient_row_by_row(n, n_classes, contiguous, dtype):
    # The loss takes rows' maxima column by column (up to 32 classes, 16 rows
    # a class or more), sums by products with ones, and its own class by
    # flat indices (numpy's reductions along a short last axis cost a call
    # per row); here each row is checked with math's own sums, and a
    # grad_out that is a strided view takes the general indexing.
    import math

    rng = np.random.RandomState(4)
    raw = (rng.normal(size=(n, n_classes)) * 30).astype(dtype)
    target = rng.randint(n_classes, size=n)
    sw = rng.uniform(0.1, 3.0, size=n).astype(dtype)
    buffer = np.zeros((n, 2 * n_classes), dtype=dtype)
    grad = buffer[:, ::2] if not contiguous else buffer[:, :n_classes].copy()
    assert grad.flags.c_contiguous == contiguous
    value = MultinomialLogLoss.loss_gradient(raw, target, sw, grad)
    expected_value = 0.0
    for i in range(n):
        z = [float(v) for v in raw[i]]
        top = max(z)
        total = math.fsum(math.exp(v - top) for v in z)
        expected_value += float(sw[i]) * (top + math.log(total) - z[target[i]])
        for j in range(n_classes):
            p = math.exp(z[j] - top) / total
            expected = float(sw[i]) * (p - (j == target[i]))
            # float32: its own rounding of z, p and the weight
            tolerance = 1e-12 if dtype == np.float64 else 2e-6
            assert grad[i, j] == pytest.approx(expected, abs=tolerance)
    rel = 1e-12 if dtype == np.float64 else 1e-6
    assert value == pytest.approx(expected_value, rel=rel)
    proba = MultinomialLogLoss.predict_proba(raw)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=rel)
    # the shift is the row's own maximum, not only some number (any shift
    # gives the same loss where nothing overflows)
    np.testing.assert_array_equal(row_maxima(raw), [max(row) for row in raw])


def test_the_intercepts_gradient_sums_each_class_over_the_rows():
    rng = np.random.RandomState(5)
    X = rng.normal(size=(50, 4))
    grad_raw = rng.normal(size=(50, 3))
    out = np.empty((5, 3))
    gradient_from_raw(X, grad_raw, 4, 0.5, out)
    for j in range(3):
        assert out[4, j] == pytest.approx(0.5 * sum(grad_raw[:, j]), rel=1e-13)
        assert out[:4, j] == pytest.approx(0.5 * X.T @ grad_raw[:, j], rel=1e-13)
