"""Bad input, divergence and numeric extremes: clear errors, nothing half-changed.

Every case runs for every registered solver. When the estimator was fitted
before the failing call, its pickled bytes must be identical before and after
the call: a failed ``fit`` or ``partial_fit`` leaves it exactly as it was.
"""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_adamlr import (
    AdamLogisticRegression,
    RisingLossWarning,
    available_solvers,
    get_solver,
)

SOLVERS = available_solvers()
RNG = np.random.RandomState(0)
X = RNG.normal(size=(60, 3))
Y = (X[:, 0] + 0.5 * RNG.normal(size=60) > 0).astype(int)
CLASSES = np.array([0, 1])


def _with(array, index, value, dtype=float):
    out = np.array(array, dtype=dtype)
    out[index] = value
    return out


# (name, method, args, kwargs, exception, message regex)
BAD_INPUT = [
    (
        "X NaN",
        "fit",
        (_with(X, (0, 0), np.nan), Y),
        {},
        ValueError,
        "Input X contains NaN",
    ),
    (
        "X inf",
        "fit",
        (_with(X, (0, 0), np.inf), Y),
        {},
        ValueError,
        "Input X contains infinity",
    ),
    (
        "X NaN partial",
        "partial_fit",
        (_with(X, (0, 0), np.nan), Y),
        {"classes": CLASSES},
        ValueError,
        "Input X contains NaN",
    ),
    ("X 0 samples", "fit", (X[:0], Y[:0]), {}, ValueError, "0 sample"),
    ("X 0 features", "fit", (X[:, :0], Y), {}, ValueError, "0 feature"),
    ("X 1-D", "fit", (X[:, 0], Y), {}, ValueError, "Expected 2D array"),
    ("X complex", "fit", (X + 1j, Y), {}, ValueError, "Complex data not supported"),
    (
        "X strings",
        "fit",
        (np.full(X.shape, "a"), Y),
        {},
        ValueError,
        "could not convert string to float",
    ),
    ("y NaN", "fit", (X, _with(Y, 0, np.nan)), {}, ValueError, "Input y contains NaN"),
    (
        "y inf",
        "fit",
        (X, _with(Y, 0, np.inf)),
        {},
        ValueError,
        "Input y contains infinity",
    ),
    (
        "y continuous",
        "fit",
        (X, RNG.normal(size=60)),
        {},
        ValueError,
        "Unknown label type: continuous",
    ),
    ("y single class", "fit", (X, np.zeros(60)), {}, ValueError, "only one class"),
    (
        "y wrong length",
        "fit",
        (X, Y[:-1]),
        {},
        ValueError,
        "inconsistent numbers of samples",
    ),
    (
        "sw wrong shape",
        "fit",
        (X, Y),
        {"sample_weight": np.ones(59)},
        ValueError,
        r"sample_weight.shape == \(59,\), expected \(60,\)",
    ),
    (
        "sw NaN",
        "fit",
        (X, Y),
        {"sample_weight": _with(np.ones(60), 0, np.nan)},
        ValueError,
        "sample_weight contains NaN",
    ),
    (
        "sw negative",
        "fit",
        (X, Y),
        {"sample_weight": _with(np.ones(60), 0, -1.0)},
        ValueError,
        "Negative values in data passed to `sample_weight`",
    ),
    (
        "sw all zeros",
        "fit",
        (X, Y),
        {"sample_weight": np.zeros(60)},
        ValueError,
        "at least one non-zero|sum to zero",
    ),
]


def _fitted(solver):
    est = AdamLogisticRegression(solver=solver, random_state=0, max_iter=5, tol=None)
    return est.partial_fit(X, Y, classes=CLASSES)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize(
    "name, method, args, kwargs, exc, match",
    BAD_INPUT,
    ids=[case[0] for case in BAD_INPUT],
)
@pytest.mark.parametrize("fitted", [False, True], ids=["fresh", "fitted"])
def test_bad_input(solver, fitted, name, method, args, kwargs, exc, match):
    est = _fitted(solver) if fitted else AdamLogisticRegression(solver=solver)
    if method == "partial_fit" and fitted:
        kwargs = {}
    before = pickle.dumps(est)
    with pytest.raises(exc, match=match):
        getattr(est, method)(*args, **kwargs)
    assert pickle.dumps(est) == before


@pytest.mark.parametrize("solver", SOLVERS)
def test_predict_rejects_bad_x_and_leaves_the_model(solver):
    est = _fitted(solver)
    before = pickle.dumps(est)
    for bad, match in [
        (_with(X, (0, 0), np.nan), "Input X contains NaN"),
        (_with(X, (0, 0), np.inf), "Input X contains infinity"),
        (X[0], "Expected 2D array"),
        (X[:, :2], "X has 2 features, but AdamLogisticRegression is expecting 3"),
    ]:
        for method in ("predict", "predict_proba", "decision_function"):
            with pytest.raises(ValueError, match=match):
                getattr(est, method)(bad)
    assert pickle.dumps(est) == before


@pytest.mark.parametrize("solver", SOLVERS)
def test_wrong_call_order(solver):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        AdamLogisticRegression(solver=solver).predict(X)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        AdamLogisticRegression(solver=solver).partial_fit(X, Y)

    est = _fitted(solver)
    before = pickle.dumps(est)
    with pytest.raises(ValueError, match="is not the same as on the first call"):
        est.partial_fit(X, Y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match=r"labels not in classes \[0, 1\]: \[7\]"):
        est.partial_fit(X, _with(Y, 0, 7, dtype=int))
    with pytest.raises(ValueError, match="X has 2 features, but .* is expecting 3"):
        est.partial_fit(X[:, :2], Y)
    assert pickle.dumps(est) == before

    # A later chunk in another dtype is cast to the first chunk's dtype.
    est.partial_fit(X.astype(np.float32), Y)
    assert est.coef_.dtype == np.float64


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize(
    "param, value",
    [
        ("C", -1.0),
        ("l1_ratio", 2.0),
        ("learning_rate", "fast"),
        ("beta_1", 1.0),
        ("batch_size", 0),
        ("max_iter", 0),
        ("momentum", -0.1),
        ("schedule", "cosine"),
    ],
)
def test_bad_hyperparameter_names_the_parameter(solver, param, value):
    est = AdamLogisticRegression(solver=solver, **{param: value})
    with pytest.raises(InvalidParameterError, match=f"The '{param}' parameter"):
        est.fit(X, Y)


@pytest.mark.parametrize("solver", SOLVERS)
def test_negative_weights_are_refused_and_zero_weights_drop_samples(solver):
    # Decision: negative weights have no meaning for a log-likelihood and are
    # refused; a zero weight removes its sample.
    with pytest.raises(ValueError, match="Negative values"):
        AdamLogisticRegression(solver=solver).fit(X, Y, sample_weight=-np.ones(60))
    sw = np.ones(60)
    sw[:10] = 0
    kw = dict(
        solver=solver,
        random_state=0,
        max_iter=3,
        tol=None,
        shuffle=False,
        batch_size=60,
    )
    a = AdamLogisticRegression(**kw).fit(X, Y, sample_weight=sw)
    b = AdamLogisticRegression(**kw).fit(X[10:], Y[10:])
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-10)


# ------------------------------------------------------------------ divergence

DIVERGING = {
    # (learning_rate, feature scale)
    "adam": (1e300, 1e300),
    "gd": (1e30, 1e300),
    "minibatch": (1e30, 1e300),
    "thirdparty_plain_sgd": (1e30, 1e300),
}


@pytest.mark.parametrize("solver", SOLVERS)
def test_divergence_is_an_error_and_rolls_back(solver):
    # a step of lr * gradient ~ 1e330 overflows whatever the BLAS does
    lr, scale = DIVERGING.get(solver, (1e30, 1e300))
    est = _fitted(solver)
    before = pickle.dumps(est)
    if not get_solver(solver).full_batch:
        # gd is left out here: after its first step, its step size adapts to
        # the data and no longer follows a changed learning_rate.
        est.set_params(learning_rate=lr)
        with pytest.raises(ValueError, match=r"diverged at epoch \d+.*smaller"):
            est.partial_fit(X * scale, Y)
        est.set_params(learning_rate="auto")
        assert pickle.dumps(est) == before
    fresh = AdamLogisticRegression(solver=solver, learning_rate=lr)
    with pytest.raises(ValueError, match=r"diverged at epoch 1.*learning_rate"):
        fresh.partial_fit(X * scale, Y, classes=CLASSES)
    assert not hasattr(fresh, "coef_")
    with pytest.raises(ValueError, match=r"diverged at epoch \d+.*scale the features"):
        est.set_params(learning_rate=lr).fit(X * scale, Y)
    est.set_params(learning_rate="auto")
    assert pickle.dumps(est) == before
    assert np.isfinite(est.coef_).all() and np.isfinite(est.loss_curve_).all()


@pytest.mark.parametrize("solver", ["minibatch", "thirdparty_plain_sgd", "gd"])
def test_rising_loss_warns_and_names_the_learning_rate(solver):
    # The L2 part has curvature 1 / (C * n) = 1 / 60: a step of 150 is 2.5
    # times that, so each full-batch step multiplies the coefficients by about
    # -1.5. The loss climbs for many epochs while staying finite.
    est = AdamLogisticRegression(
        solver=solver,
        learning_rate=150.0,
        max_iter=30,
        tol=None,
        shuffle=False,
        momentum=0.0,
        nesterovs_momentum=False,
        batch_size=60,
    )
    with pytest.warns(
        RisingLossWarning, match="learning_rate=150.0 is probably too large"
    ):
        est.fit(X, Y)
    assert np.isfinite(est.loss_curve_).all()


def test_no_rising_loss_warning_on_a_good_run():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RisingLossWarning)
        for solver in ("adam", "gd"):
            AdamLogisticRegression(solver=solver, random_state=0).fit(X, Y)


# ------------------------------------------------------------- numeric extremes


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("dtype, big", [(np.float64, 1e300), (np.float32, 1e36)])
def test_extreme_features_and_logits_stay_finite(solver, dtype, big):
    est = _fitted(solver)
    # Logits of +-big: a coefficient of 1 on a feature of +-big.
    est.coef_ = np.array([[1.0, 0.0, 0.0]], dtype=dtype)
    est.intercept_ = np.zeros(1, dtype=dtype)
    Xe = np.array([[big, 0, 0], [-big, 0, 0], [0, big, big], [0, 0, 0]], dtype=dtype)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        proba = est.predict_proba(Xe)
        log_proba = est.predict_log_proba(Xe)
        assert np.all((proba >= 0) & (proba <= 1))
        np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
        np.testing.assert_array_equal(proba[:2, 1], [1, 0])
        assert np.all(log_proba <= 0)
        np.testing.assert_array_equal(est.predict(Xe), np.argmax(proba, axis=1))


@pytest.mark.parametrize("dtype, big", [(np.float64, 1e300), (np.float32, 1e36)])
def test_extreme_features_give_finite_loss_and_gradient(dtype, big):
    from sklearn_adamlr._loss import MultinomialLogLoss, loss_for, objective
    from sklearn_adamlr._penalties import ElasticNet

    Xe = np.array([[big, 0.0], [-big, 1.0], [1.0, -big]], dtype=dtype)
    for n_classes in (2, 3):
        loss = loss_for(n_classes)
        k = loss.n_outputs(n_classes)
        params = np.zeros((3, k), dtype=dtype)
        params[0, 0] = 1.0
        target = loss.encode(np.array([1, 0, n_classes - 1]), dtype)
        with warnings.catch_warnings(), np.errstate(all="raise"):
            warnings.simplefilter("error")
            value, grad = objective(params, Xe, target, None, loss, ElasticNet(0.1, 0))
        assert np.isfinite(value) and np.isfinite(grad).all()
        assert isinstance(loss, MultinomialLogLoss) == (n_classes == 3)
