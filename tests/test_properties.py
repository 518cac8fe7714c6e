"""Properties of the model and the solvers, checked by hypothesis."""

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from sklearn.datasets import make_classification

from sklearn_adamlr import AdamLogisticRegression, available_solvers
from sklearn_adamlr._loss import loss_for, objective
from sklearn_adamlr._penalties import ElasticNet

SETTINGS = settings(max_examples=15, deadline=None, derandomize=True)
seeds = st.integers(0, 2**16)


def _data(seed, n_classes=2, n_samples=40, n_features=4):
    return make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=3,
        n_redundant=0,
        n_classes=n_classes,
        random_state=seed,
    )


def assert_same_model(a, b, rtol):
    """Coefficients and intercepts equal to ``rtol`` of the largest parameter.

    Element-wise relative checks are wrong for parameters near zero: at the
    optimum, rounding in the objective moves every parameter by about
    sqrt(eps) times the scale of the model, whatever its own size.
    """
    pa = np.concatenate([a.coef_.ravel(), a.intercept_])
    pb = np.concatenate([b.coef_.ravel(), b.intercept_])
    assert np.abs(pa - pb).max() <= rtol * np.abs(pb).max()


def _gd(**kw):
    return AdamLogisticRegression(solver="gd", tol=1e-10, max_iter=3000, **kw)


@SETTINGS
@given(
    seed=seeds,
    n_classes=st.sampled_from([2, 3]),
    C=st.floats(0.01, 100.0),
    l1_ratio=st.floats(0.0, 1.0),
    weighted=st.booleans(),
)
def test_smooth_gradient_matches_finite_differences(
    seed, n_classes, C, l1_ratio, weighted
):
    X, y = _data(seed, n_classes)
    rng = np.random.RandomState(seed)
    sw = rng.uniform(0.1, 2.0, size=len(y)) if weighted else None
    loss = loss_for(n_classes)
    params = rng.normal(size=(X.shape[1] + 1, loss.n_outputs(n_classes)))
    sw_sum = len(y) if sw is None else sw.sum()
    penalty = ElasticNet(alpha=1 / (C * sw_sum), l1_ratio=l1_ratio)
    target = loss.encode(y, X.dtype)
    d = X.shape[1]

    def smooth(p):
        # the objective minus its L1 part, whose gradient `objective` returns
        value, _ = objective(p, X, target, sw, loss, penalty)
        return value - penalty.l1 * np.abs(p[:d]).sum()

    _, grad = objective(params, X, target, sw, loss, penalty)
    eps = 1e-6
    for idx in np.ndindex(params.shape):
        plus, minus = params.copy(), params.copy()
        plus[idx] += eps
        minus[idx] -= eps
        numeric = (smooth(plus) - smooth(minus)) / (2 * eps)
        assert abs(numeric - grad[idx]) <= 1e-5 * max(1.0, abs(grad[idx]))


@SETTINGS
@given(seed=seeds, n_classes=st.sampled_from([2, 3]))
def test_gd_is_invariant_to_sample_order(seed, n_classes):
    X, y = _data(seed, n_classes)
    perm = np.random.RandomState(seed).permutation(len(y))
    a = _gd().fit(X, y)
    b = _gd().fit(X[perm], y[perm])
    assert_same_model(a, b, rtol=1e-7)


@SETTINGS
@given(seed=seeds, n_classes=st.sampled_from([2, 3]))
def test_integer_weights_equal_repeated_rows(seed, n_classes):
    X, y = _data(seed, n_classes)
    sw = np.random.RandomState(seed).randint(0, 4, size=len(y))
    if len(np.unique(y[sw > 0])) < n_classes:
        sw[:] = 1
    a = _gd().fit(X, y, sample_weight=sw)
    rows = np.repeat(np.arange(len(y)), sw)
    b = _gd().fit(X[rows], y[rows])
    assert_same_model(a, b, rtol=1e-7)


@SETTINGS
@given(seed=seeds, scale=st.floats(0.1, 10.0), C=st.floats(0.1, 10.0))
def test_scaling_weights_equals_scaling_C(seed, scale, C):
    X, y = _data(seed)
    sw = np.random.RandomState(seed).uniform(0.5, 2.0, size=len(y))
    a = _gd(C=C).fit(X, y, sample_weight=scale * sw)
    b = _gd(C=C * scale).fit(X, y, sample_weight=sw)
    assert_same_model(a, b, rtol=1e-7)


@SETTINGS
@given(
    seed=seeds,
    n_classes=st.sampled_from([2, 3, 4]),
    solver=st.sampled_from(available_solvers()),
)
def test_probabilities_are_consistent_with_predict(seed, n_classes, solver):
    X, y = _data(seed, n_classes)
    est = AdamLogisticRegression(solver=solver, random_state=seed, max_iter=20)
    est.fit(X, y)
    proba = est.predict_proba(X * 100)  # far from the data: saturated rows
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(
        est.classes_[np.argmax(proba, axis=1)], est.predict(X * 100)
    )


@pytest.mark.parametrize("solver", available_solvers())
@pytest.mark.parametrize("shuffle", ["blocks", True, False])
@settings(max_examples=3, deadline=None, derandomize=True)
@given(seed=seeds)
def test_same_random_state_gives_a_bit_identical_model(solver, shuffle, seed):
    X, y = _data(seed, 3)
    kw = dict(solver=solver, random_state=seed, max_iter=15, tol=None, shuffle=shuffle)
    a = AdamLogisticRegression(**kw).fit(X, y)
    b = AdamLogisticRegression(**kw).fit(X, y)
    assert np.array_equal(a.coef_, b.coef_)
    assert np.array_equal(a.intercept_, b.intercept_)
    assert a.loss_curve_ == b.loss_curve_


@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_threads_give_the_results_of_one(fmt):
    # No shared module state: fits at once equal each fit alone. The compiled
    # kernels release the GIL, so on CSR data the lazy (adam, minibatch with
    # L1), scaled (minibatch) and saga kernels really run side by side.
    X, y = _data(0, 3, n_samples=1500, n_features=60)
    if fmt == "csr":
        X = sparse.csr_matrix(np.where(np.abs(X) > 1.0, X, 0.0))
    configs = [
        dict(solver="adam", random_state=1, max_iter=20, tol=None),
        dict(solver="minibatch", random_state=2, max_iter=20, tol=None),
        dict(solver="minibatch", random_state=3, max_iter=20, tol=None,
             l1_ratio=0.5),
        dict(solver="saga", random_state=4, max_iter=20, tol=None),
    ]  # fmt: skip
    alone = [AdamLogisticRegression(**kw).fit(X, y).coef_ for kw in configs]
    together = [None] * len(configs)

    def work(i):
        together[i] = AdamLogisticRegression(**configs[i]).fit(X, y).coef_

    for _ in range(3):
        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for mine, ref in zip(together, alone, strict=True):
            assert np.array_equal(mine, ref)


@settings(max_examples=10, deadline=None, derandomize=True)
@given(
    seed=seeds,
    n_classes=st.sampled_from([2, 3]),
    C=st.floats(0.05, 5.0),
    l1_ratio=st.floats(0.2, 1.0),
)
def test_l1_solution_meets_the_optimality_conditions(seed, n_classes, C, l1_ratio):
    # The L1 part has no gradient, so check the subgradient conditions at gd's
    # solution: g_j = -l1 * sign(w_j) where w_j != 0, |g_j| <= l1 where
    # w_j == 0 (g the smooth part's gradient), and g = 0 for the intercept.
    X, y = _data(seed, n_classes)
    est = _gd(C=C, l1_ratio=l1_ratio).fit(X, y)
    loss = loss_for(n_classes)
    penalty = ElasticNet(alpha=1 / (C * len(y)), l1_ratio=l1_ratio)
    # packed as the training loop packs them: (n_features + 1, n_outputs)
    params = np.ascontiguousarray(np.vstack([est.coef_.T, est.intercept_[None, :]]))
    _, grad = objective(params, X, loss.encode(y, X.dtype), None, loss, penalty)
    d, w, g = X.shape[1], params[: X.shape[1]], grad[: X.shape[1]]
    tol = 1e-6
    nonzero = w != 0
    assert np.abs(g[nonzero] + penalty.l1 * np.sign(w[nonzero])).max(initial=0) <= tol
    assert np.abs(g[~nonzero]).max(initial=0) <= penalty.l1 + tol
    assert np.abs(grad[d]).max() <= tol
    # the prox gives exact zeros, not tiny values: every coordinate whose
    # gradient is well inside the threshold is exactly 0
    assert np.all(w[np.abs(g) < 0.9 * penalty.l1] == 0)
