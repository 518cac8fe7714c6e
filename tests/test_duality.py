"""duality_gap: an upper bound on the distance to the optimum, zero there.

The references are scikit-learn's own fits at tol=1e-12 (lbfgs for L2,
saga for L1 and elastic net), not the package's solvers; the objective is
``logistic_objective``, which test_loss checks against scikit-learn's.
"""

import warnings

import numpy as np
import pytest
from scipy import sparse
from sklearn.datasets import load_breast_cancer, load_digits, load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from sklearn_adamlr import (
    AdamLogisticRegression,
    _engines,
    _estimator,
    duality_gap,
    logistic_objective,
)


def _problem(n_classes, weighted, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(150, 6)) * [1, 2, 0.5, 1, 3, 1]
    y = (X[:, 0] + X[:, 1] - X[:, 4] + rng.normal(size=150) > 0).astype(int)
    if n_classes == 3:
        y = y + (X[:, 2] > 0.5)
    sw = rng.uniform(0.2, 3.0, size=150) if weighted else None
    return X, y, sw


def _reference(X, y, sw, C, l1_ratio, fit_intercept):
    if l1_ratio == 0:
        model = LogisticRegression(C=C, tol=1e-12, max_iter=100_000)
    else:
        model = LogisticRegression(
            C=C, l1_ratio=l1_ratio, solver="saga", tol=1e-12, max_iter=100_000
        )
        if "penalty" in LogisticRegression().get_params():  # scikit-learn < 1.8
            model.set_params(penalty="elasticnet")
    model.set_params(fit_intercept=fit_intercept)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, y, sample_weight=sw)


@pytest.mark.parametrize("fmt", ["dense", "csr"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("l1_ratio", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_bounds_the_distance_to_the_optimum_and_vanishes_there(
    n_classes, l1_ratio, weighted, fit_intercept, fmt
):
    X, y, sw = _problem(n_classes, weighted)
    C = 0.5
    ref = _reference(X, y, sw, C, l1_ratio, fit_intercept)
    Xf = sparse.csr_matrix(X) if fmt == "csr" else X
    kw = dict(C=C, l1_ratio=l1_ratio, sample_weight=sw)
    optimum = logistic_objective(X, y, ref.coef_, ref.intercept_, **kw)
    gap = duality_gap(
        Xf, y, ref.coef_, ref.intercept_, fit_intercept=fit_intercept, **kw
    )
    # at the optimum (up to the reference's own tolerance): measured at most
    # 7.4e-12 relative over these cases
    assert 0 <= gap <= 3e-11 * optimum
    rng = np.random.RandomState(1)
    for size in (1e-3, 1e-1, 1.0, 10.0):
        # points near and far: every one's bound covers its distance, i.e.
        # the dual value stays below the optimum
        coef = ref.coef_ + size * rng.normal(size=ref.coef_.shape)
        intercept = (
            ref.intercept_ + size * rng.normal(size=ref.intercept_.shape)
            if fit_intercept
            else ref.intercept_
        )
        value = logistic_objective(X, y, coef, intercept, **kw)
        bound = duality_gap(Xf, y, coef, intercept, fit_intercept=fit_intercept, **kw)
        assert value - bound <= optimum * (1 + 1e-12)
        assert bound < np.inf


@pytest.mark.parametrize(
    "load, C, measured",
    [
        # the bound over the true distance at gd's default fit, measured
        (load_breast_cancer, 1.0, 2.6),
        (load_iris, 1.0, 4.9),
        (load_iris, 0.01, 1.1),
    ],
)
def test_is_close_to_the_true_distance_at_a_default_fit(load, C, measured):
    X, y = load(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    ref = _reference(X, y, None, C, 0.0, True)
    optimum = logistic_objective(X, y, ref.coef_, ref.intercept_, C=C)
    clf = AdamLogisticRegression(solver="gd", C=C).fit(X, y)
    value = logistic_objective(X, y, clf.coef_, clf.intercept_, C=C)
    gap = duality_gap(X, y, clf.coef_, clf.intercept_, C=C)
    assert value - optimum <= gap <= 1.2 * measured * (value - optimum)


def test_flags_what_the_gradient_certificate_misses_on_raw_digits(monkeypatch):
    # Raw digits at C=1 are nearly separable: the objective is small and
    # flat, and on the gradient alone (the certificate's gap estimate off)
    # gd meets tol 5.0e-2 (relative) above the optimum. The bound says so:
    # 1.1 (relative), where the gradient certificate said 4.7e-5.
    monkeypatch.setattr(_engines.Engine, "gap_share", np.inf)
    # and without the preconditioner, which keeps gd above tol here (1.4e-3)
    monkeypatch.setattr(_estimator, "diagonal", lambda *args: None)
    X, y = load_digits(return_X_y=True)
    clf = AdamLogisticRegression(solver="gd", C=1.0).fit(X, y)
    assert clf.optimality_ <= clf.tol
    value = logistic_objective(X, y, clf.coef_, clf.intercept_)
    gap = duality_gap(X, y, clf.coef_, clf.intercept_)
    assert gap / (value - gap) > 0.5


def test_float32_and_the_degenerate_cases():
    X, y, _ = _problem(2, False)
    ref = _reference(X, y, None, 1.0, 0.0, True)
    optimum = logistic_objective(X, y, ref.coef_, ref.intercept_)
    X32 = sparse.csr_matrix(X.astype(np.float32))
    coef, intercept = ref.coef_ + 0.01, ref.intercept_ + 0.01
    gap = duality_gap(X, y, coef, intercept)
    gap32 = duality_gap(X32, y, coef.astype(np.float32), intercept.astype(np.float32))
    # float32 products: 4.5e-8 of the optimum apart, measured
    assert abs(gap32 - gap) <= 2e-7 * optimum
    assert duality_gap(X, y, ref.coef_, ref.intercept_, C=np.inf) == np.inf
    with pytest.raises(ValueError, match="fit_intercept=False"):
        duality_gap(X, y, ref.coef_, ref.intercept_, fit_intercept=False)


def test_balancing_keeps_distributions_and_meets_the_totals_exactly():
    # the intercept's condition, met after Newton's shift to the last
    # rounding: each row stays a distribution, nothing turns negative
    from sklearn_adamlr._duality import _balance

    rng = np.random.RandomState(0)
    # (weights of 1e-3: shortfalls that sum to less than 1)
    for k, scale in ((2, 1.0), (3, 1.0), (7, 1.0), (3, 1e-3)):
        P = rng.dirichlet(np.full(k, 0.3), size=200)
        P[:5] = np.eye(k)[rng.randint(k, size=5)]  # certain rows, exact zeros
        s = scale * rng.uniform(0.1, 2.0, size=200)
        totals = s @ rng.dirichlet(np.ones(k), size=200)
        balanced = _balance(P, s, totals)
        assert np.all(balanced >= 0)
        np.testing.assert_allclose(balanced.sum(axis=1), 1.0, rtol=0, atol=1e-15)
        np.testing.assert_allclose(s @ balanced, totals, rtol=1e-14)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_an_overflow_gives_inf_not_a_warning(n_classes):
    # the ConvergenceWarning of a fit quotes the bound: numpy's overflow
    # warnings must not join it (three classes: Newton's solve for the
    # intercept raised LinAlgError on the NaN Hessian)
    X, y, _ = _problem(n_classes, False)
    k = 1 if n_classes == 2 else 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gap = duality_gap(X * 1e200, y, np.ones((k, 6)) * 1e200, np.zeros(k))
    assert gap == np.inf


def test_the_intercept_shifts_meet_their_totals():
    # The dual point's condition sum_i s_i (Y_i - Q_i) = 0, met first by
    # shifting the raw predictions: Newton in a bracket that doubles (two
    # classes), damped Newton (more); _balance then removes the rounding
    from scipy.special import expit, softmax

    from sklearn_adamlr._duality import _binary_shift, _softmax_shift

    rng = np.random.RandomState(0)
    s = rng.uniform(0.1, 2.0, size=300)
    for offset in (0.0, 30.0, -30.0):  # the bracket has to grow either way
        z = rng.normal(size=300) * 2 + offset
        for share in (1e-3, 0.3, 0.5, 0.97):
            total = share * s.sum()
            delta = _binary_shift(z, s, total)
            # measured within 3e-15 relative
            assert s @ expit(z + delta) == pytest.approx(total, rel=1e-12)
    # no shift meets a total of 0 or of every weight: none is taken
    assert _binary_shift(z, s, 0.0) == _binary_shift(z, s, s.sum()) == 0.0
    for k in (3, 5):
        raw = rng.normal(size=(300, k)) * 3 + rng.normal(size=k) * 5
        totals = s.sum() * rng.dirichlet(np.ones(k))
        delta = _softmax_shift(raw, s, totals)
        # measured within 2e-13 relative
        np.testing.assert_allclose(s @ softmax(raw + delta, axis=1), totals, rtol=1e-10)


def _dual_value(X, Y, s, Q, t, l1, l2):
    """``D`` at ``t (s / S) (Y - Q)``, from the module's formula (no intercept)."""
    R = Y + t * (Q - Y)
    if Y.shape[1] == 1:
        R = np.hstack([R, 1 - R])
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(R > 0, R * np.log(R), 0.0).sum(axis=1)
    v = X.T @ (t * (s / s.sum())[:, None] * (Y - Q))
    if l2 == 0:
        return s @ entropy / s.sum() if np.abs(v).max() <= l1 * (1 + 1e-12) else -np.inf
    return s @ entropy / s.sum() - (np.maximum(np.abs(v) - l1, 0) ** 2).sum() / (2 * l2)


@pytest.mark.parametrize(
    "n_classes, l1_ratio", [(2, 0.0), (3, 0.0), (2, 0.5), (2, 1.0), (3, 1.0)]
)
def test_the_bound_takes_the_duals_best_scale(n_classes, l1_ratio):
    # Without an intercept the dual point is t (s / S) (Y - Q) at the model's
    # probabilities Q, for the t in [0, t_max] (1, or where ||X^T theta||_inf
    # reaches l1 without an L2 part) that maximises D: the bound is the
    # objective minus the best D over that segment, here on a fine grid
    X, y, sw = _problem(n_classes, True)
    C = 0.05
    rng = np.random.RandomState(1)
    k = 1 if n_classes == 2 else n_classes
    coef = rng.normal(size=(k, X.shape[1])) * 0.3
    Z = X @ coef.T
    if k == 1:
        Q = 1 / (1 + np.exp(-Z))
        Y = y[:, None].astype(float)
    else:
        Q = np.exp(Z - Z.max(axis=1, keepdims=True))
        Q /= Q.sum(axis=1, keepdims=True)
        Y = np.eye(k)[y]
    S = sw.sum()
    alpha = 1 / (C * S)
    l1, l2 = alpha * l1_ratio, alpha * (1 - l1_ratio)
    v = np.abs(X.T @ ((sw / S)[:, None] * (Y - Q))).max()
    t_max = 1.0 if l2 > 0 or v <= l1 else l1 / v
    grid = np.linspace(0.0, t_max, 20_001)
    best = max(_dual_value(X, Y, sw, Q, t, l1, l2) for t in grid)
    objective = logistic_objective(
        X, y, coef, np.zeros(k), C=C, l1_ratio=l1_ratio, sample_weight=sw
    ) / (C * S)
    gap = duality_gap(
        X, y, coef, np.zeros(k), C=C, l1_ratio=l1_ratio, sample_weight=sw,
        fit_intercept=False,
    ) / (C * S)  # fmt: skip
    # the best t is inside the segment here (0.07 to 0.08 of it), or at the
    # end that the L1 part sets
    assert (t_max < 1) == (l1_ratio == 1.0)
    # measured within 6e-9 of the grid's best (its spacing: 5e-5 of t_max)
    assert gap == pytest.approx(objective - best, rel=1e-8, abs=1e-12)


def test_classes_absent_from_y_keep_their_rows():
    # a chunk of a stream without class 1: the model's three rows, the
    # labels' positions in `classes`. Inferred from y ({0, 2}), class 2 was
    # scored as class 1, silently: now an error that says to pass classes
    X, y, _ = _problem(3, False)
    keep = y != 1
    ref = _reference(X, y, None, 1.0, 0.0, True)
    coef, intercept = ref.coef_, ref.intercept_
    gap = duality_gap(X[keep], y[keep], coef, intercept, classes=[0, 1, 2])
    objective = logistic_objective(X[keep], y[keep], coef, intercept, classes=[0, 1, 2])
    # the objective from its formula, class 2 in the third column
    Z = X[keep] @ coef.T + intercept
    expected = (
        np.logaddexp.reduce(Z, axis=1) - Z[np.arange(keep.sum()), y[keep]]
    ).sum()
    expected += 0.5 * (coef**2).sum()
    assert objective == pytest.approx(expected, rel=1e-12)
    assert 0 < gap < objective
    for f in (duality_gap, logistic_objective):
        with pytest.raises(ValueError, match="2 distinct labels but coef is for 3"):
            f(X[keep], y[keep], coef, intercept)
        with pytest.raises(ValueError, match=r"not in it: \[2\]"):
            f(X[keep], y[keep], coef[:2], intercept[:2], classes=[0, 1])
    # the labels' positions in classes: sorted, as classes_ is
    with pytest.raises(ValueError, match="sorted and unique"):
        logistic_objective(X, y, coef, intercept, classes=[2, 1, 0])
    # one label, one row (two classes): which of the two it is must be said
    with pytest.raises(ValueError, match="1 distinct label but coef is for 2"):
        logistic_objective(X[:5], np.ones(5), coef[:1], intercept[:1])
    assert np.isfinite(
        logistic_objective(X[:5], np.ones(5), coef[:1], intercept[:1], classes=[0, 1])
    )
