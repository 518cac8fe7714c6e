"""Bad input, divergence and numeric extremes: clear errors, nothing half-changed.

Every case runs for every registered solver (third-party ones included, see
``conftest.py``). When the estimator was fitted before the failing call, its
pickled bytes must be identical before and after the call: a failed ``fit``
or ``partial_fit`` leaves it exactly as it was.
"""

import pickle
import warnings

import numpy as np
import pytest
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_adamlr import (
    AdamLogisticRegression,
    AdamLogisticRegressionCV,
    RisingLossWarning,
    available_solvers,
    get_solver,
)

SOLVERS = available_solvers()
RNG = np.random.RandomState(0)
X = RNG.normal(size=(60, 3))
Y = (X[:, 0] + 0.5 * RNG.normal(size=60) > 0).astype(int)
Y3 = np.arange(60) % 3
CLASSES = np.array([0, 1])


def _with(array, index, value, dtype=float):
    out = np.array(array, dtype=dtype)
    out[index] = value
    return out


def _csr_with(array, attribute, index, value):
    """CSR ``array`` with one entry of its index array changed after it was built."""
    out = sparse.csr_matrix(array)
    getattr(out, attribute)[index] = value
    return out


def _fitted(solver, X=X, y=Y):
    est = AdamLogisticRegression(solver=solver, random_state=0, max_iter=5, tol=None)
    return est.partial_fit(X, y, classes=np.unique(y))


# ------------------------------------------------------------------ bad input

# (name, X, y, sample_weight, exception, regex on the gist of the message).
# Each row runs at fit and at partial_fit, on a fresh and on a fitted
# estimator.
BAD_DATA = [
    ("X NaN", _with(X, (0, 0), np.nan), Y, None, ValueError, "Input X contains NaN"),
    (
        "X inf",
        _with(X, (0, 0), np.inf),
        Y,
        None,
        ValueError,
        "Input X contains infinity",
    ),
    ("X -inf", _with(X, (5, 2), -np.inf), Y, None, ValueError, "contains infinity"),
    ("X 0 samples", X[:0], Y[:0], None, ValueError, r"0 sample\(s\)"),
    ("X 0 features", X[:, :0], Y, None, ValueError, r"0 feature\(s\)"),
    ("X 1-D", X[:, 0], Y, None, ValueError, "Expected 2D array, got 1D array"),
    ("X complex", X + 1j, Y, None, ValueError, "Complex data not supported"),
    (
        "X strings",
        np.full(X.shape, "a"),
        Y,
        None,
        ValueError,
        "could not convert string to float",
    ),
    # scipy checks neither: the compiled kernels would write out of bounds
    (
        "CSR index too large",
        _csr_with(X, "indices", 0, 3),
        Y,
        None,
        ValueError,
        r"column indices must be in \[0, 3\), but they range from 0 to 3",
    ),
    (
        "CSR index negative",
        _csr_with(X, "indices", 4, -1),
        Y,
        None,
        ValueError,
        r"must be in \[0, 3\), but they range from -1 to 2",
    ),
    (
        "CSR indptr decreasing",
        _csr_with(X, "indptr", 1, 7),
        Y,
        None,
        ValueError,
        "its indptr must .* never decrease",
    ),
    ("y NaN", X, _with(Y, 0, np.nan), None, ValueError, "Input y contains NaN"),
    ("y inf", X, _with(Y, 0, np.inf), None, ValueError, "Input y contains infinity"),
    (
        "y continuous",
        X,
        RNG.normal(size=60),
        None,
        ValueError,
        "Unknown label type: continuous",
    ),
    (
        "y wrong length",
        X,
        Y[:-1],
        None,
        ValueError,
        r"inconsistent numbers of samples: \[60, 59\]",
    ),
    (
        "sw wrong length",
        X,
        Y,
        np.ones(59),
        ValueError,
        r"sample_weight.shape == \(59,\), expected \(60,\)",
    ),
    (
        "sw 2-D",
        X,
        Y,
        np.ones((60, 1)),
        ValueError,
        "Sample weights must be 1D",
    ),
    (
        "sw NaN",
        X,
        Y,
        _with(np.ones(60), 0, np.nan),
        ValueError,
        "sample_weight contains NaN",
    ),
    (
        "sw inf",
        X,
        Y,
        _with(np.ones(60), 0, np.inf),
        ValueError,
        "sample_weight contains infinity",
    ),
    (
        "sw negative",
        X,
        Y,
        _with(np.ones(60), 0, -1.0),
        ValueError,
        "Negative values in data passed to `sample_weight`",
    ),
    (
        "sw all zeros",
        X,
        Y,
        np.zeros(60),
        ValueError,
        "at least one non-zero",
    ),
]


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize(
    "name, X_bad, y_bad, sw, exc, match", BAD_DATA, ids=[row[0] for row in BAD_DATA]
)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize("fitted", [False, True], ids=["fresh", "fitted"])
def test_bad_data(solver, fitted, method, name, X_bad, y_bad, sw, exc, match):
    est = _fitted(solver) if fitted else AdamLogisticRegression(solver=solver)
    kwargs = {"sample_weight": sw}
    if method == "partial_fit" and not fitted:
        kwargs["classes"] = CLASSES
    before = pickle.dumps(est)
    with pytest.raises(exc, match=match):
        getattr(est, method)(X_bad, y_bad, **kwargs)
    assert pickle.dumps(est) == before


def test_single_class_is_refused_by_fit_not_by_a_partial_fit_chunk():
    # fit learns the classes from y, so one class is an error; a stream
    # declares its classes up front, and one chunk of a single class is fine.
    with pytest.raises(ValueError, match="only one class: np.int64\\(0\\)|: 0"):
        AdamLogisticRegression().fit(X, np.zeros(60, dtype=int))
    with pytest.raises(ValueError, match="only one class"):
        AdamLogisticRegression().partial_fit(X, np.zeros(60), classes=[0])
    est = AdamLogisticRegression().partial_fit(X, np.zeros(60), classes=CLASSES)
    assert np.isfinite(est.coef_).all()


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("fitted", [False, True], ids=["fresh", "fitted"])
def test_single_class_at_fit(solver, fitted):
    est = _fitted(solver) if fitted else AdamLogisticRegression(solver=solver)
    before = pickle.dumps(est)
    with pytest.raises(ValueError, match="at least 2 classes.*only one class"):
        est.fit(X, np.ones(60))
    assert pickle.dumps(est) == before


# (name, bad X, regex) for every prediction method of a fitted estimator.
BAD_PREDICT = [
    ("NaN", _with(X, (0, 0), np.nan), "Input X contains NaN"),
    ("inf", _with(X, (0, 0), np.inf), "Input X contains infinity"),
    ("1-D", X[0], "Expected 2D array, got 1D array"),
    ("0 samples", X[:0], r"0 sample\(s\)"),
    ("complex", X + 1j, "Complex data not supported"),
    ("strings", np.full(X.shape, "a"), "not compatible with arrays of bytes/strings"),
    (
        "CSR index",
        _csr_with(X, "indices", 0, 3),
        r"column indices must be in \[0, 3\), but they range from 0 to 3",
    ),
    (
        "features",
        X[:, :2],
        "X has 2 features, but AdamLogisticRegression is expecting 3",
    ),
]
PREDICT_METHODS = ["predict", "predict_proba", "predict_log_proba", "decision_function"]


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize(
    "name, X_bad, match", BAD_PREDICT, ids=[row[0] for row in BAD_PREDICT]
)
def test_predict_rejects_bad_x_and_leaves_the_model(solver, name, X_bad, match):
    est = _fitted(solver)
    before = pickle.dumps(est)
    for method in PREDICT_METHODS:
        with pytest.raises(ValueError, match=match):
            getattr(est, method)(X_bad)
    assert pickle.dumps(est) == before


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("method", PREDICT_METHODS + ["score"])
def test_predict_before_fit(solver, method):
    args = (X, Y) if method == "score" else (X,)
    with pytest.raises(NotFittedError, match="is not fitted yet"):
        getattr(AdamLogisticRegression(solver=solver), method)(*args)


# (name, arguments of partial_fit after a first call with classes [0, 1],
# regex). The first row is a first call.
BAD_ORDER = [
    (
        "no classes on the first call",
        None,
        "classes must be passed on the first call to partial_fit",
    ),
    (
        "classes changed",
        dict(X=X, y=Y, classes=[0, 1, 2]),
        r"`classes=.*\[0, 1, 2\].*` is not the same as on the first call",
    ),
    (
        "unseen label",
        dict(X=X, y=_with(Y, 0, 7, dtype=int)),
        r"y contains labels not in classes \[0, 1\]: \[7\]",
    ),
    (
        "fewer features",
        dict(X=X[:, :2], y=Y),
        "X has 2 features, but AdamLogisticRegression is expecting 3",
    ),
    (
        "more features",
        dict(X=np.hstack([X, X]), y=Y),
        "X has 6 features, but AdamLogisticRegression is expecting 3",
    ),
]


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize(
    "name, kwargs, match", BAD_ORDER, ids=[row[0] for row in BAD_ORDER]
)
def test_calls_in_the_wrong_order(solver, name, kwargs, match):
    if kwargs is None:
        est = AdamLogisticRegression(solver=solver)
        kwargs = dict(X=X, y=Y)
    else:
        est = _fitted(solver)
    before = pickle.dumps(est)
    with pytest.raises(ValueError, match=match):
        est.partial_fit(**kwargs)
    assert pickle.dumps(est) == before


def _continue(est, X_next):
    """``est`` after one more partial_fit on ``X_next``, and again on ``X``."""
    est = pickle.loads(pickle.dumps(est))
    est.partial_fit(X_next, Y)
    snapshot = (est.coef_.copy(), est.intercept_.copy(), list(est.loss_curve_))
    # a further call shows that the solver state carried over identically too
    est.partial_fit(X, Y)
    return snapshot, (est.coef_, est.intercept_, est.loss_curve_, est.t_)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize(
    "first, later", [(np.float64, np.float32), (np.float32, np.float64)]
)
def test_a_later_chunk_in_another_dtype_is_cast_to_the_first(solver, first, later):
    # Decision: cast, as SGDClassifier does; the model keeps the dtype of
    # its first chunk. The result must equal that of feeding the chunk
    # already cast.
    est = _fitted(solver, X=X.astype(first))
    X_later = X.astype(later)
    got = _continue(est, X_later)
    expected = _continue(est, X_later.astype(first))
    assert got[1][0].dtype == first and got[1][1].dtype == first
    for a, b in zip(got[0] + got[1], expected[0] + expected[1], strict=True):
        np.testing.assert_array_equal(a, b)


# A bad value for every constrained hyperparameter.
BAD_PARAMS = [
    ("C", -1.0),
    ("C", 0.0),
    ("C", np.nan),
    ("l1_ratio", 2.0),
    ("l1_ratio", -0.1),
    ("fit_intercept", "yes"),
    ("class_weight", "even"),
    ("solver", "no-such-solver"),
    ("solver", 3),
    ("learning_rate", "fast"),
    ("learning_rate", 0.0),
    ("learning_rate", np.inf),
    ("learning_rate", np.nan),
    ("schedule", "cosine"),
    ("power_t", -1.0),
    ("batch_size", 0),
    ("batch_size", 1.5),
    ("max_iter", 0),
    ("tol", -1e-4),
    ("n_iter_no_change", 0),
    ("early_stopping", "no"),
    ("validation_fraction", 1.0),
    ("shuffle", "rows"),
    ("random_state", "seed"),
    ("warm_start", 2),
    ("average", "yes"),
    ("verbose", -1),
    ("momentum", 1.0),
    ("momentum", -0.1),
    ("nesterovs_momentum", None),
    ("beta_1", 1.0),
    ("beta_2", -0.1),
    ("epsilon", 0.0),
]


def test_every_constrained_parameter_has_a_bad_value_here():
    assert {p for p, _ in BAD_PARAMS} == set(
        AdamLogisticRegression._parameter_constraints
    )


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize("param, value", BAD_PARAMS)
def test_bad_hyperparameter_names_the_parameter(solver, method, param, value):
    est = AdamLogisticRegression(solver=solver).set_params(**{param: value})
    kwargs = {"classes": CLASSES} if method == "partial_fit" else {}
    with pytest.raises(InvalidParameterError, match=f"The '{param}' parameter"):
        getattr(est, method)(X, Y, **kwargs)
    # a bad value given later must not damage a fitted estimator either
    est = _fitted(solver if param != "solver" else "adam")
    before = pickle.dumps(est)
    est.set_params(**{param: value})
    with pytest.raises(InvalidParameterError, match=f"The '{param}' parameter"):
        getattr(est, method)(X, Y)
    est.set_params(**{param: _fitted("adam").get_params()[param]})
    if param != "solver":
        assert pickle.dumps(est) == before


@pytest.mark.parametrize("solver", SOLVERS)
def test_negative_weights_are_refused_and_zero_weights_drop_samples(solver):
    # Decision (documented in fit's and partial_fit's docstrings): negative
    # weights make the objective non-convex and are refused; a zero weight
    # removes its sample.
    with pytest.raises(ValueError, match="Negative values"):
        AdamLogisticRegression(solver=solver).fit(X, Y, sample_weight=-np.ones(60))
    assert "Negative weights raise a ValueError" in AdamLogisticRegression.fit.__doc__
    assert "Negative weights raise" in AdamLogisticRegression.partial_fit.__doc__
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


def test_weights_that_sum_below_one_are_fitted_not_refused():
    # Only a zero total is refused ("nothing to learn from"): weights of
    # 1e-3 each (a total of 0.06) are C scaled by 1e-3, per scikit-learn's
    # objective C * sum(sw * loss) + penalty
    light = AdamLogisticRegression(solver="newton", tol=1e-10)
    light.fit(X, Y, sample_weight=np.full(60, 1e-3))
    scaled = AdamLogisticRegression(solver="newton", C=1e-3, tol=1e-10).fit(X, Y)
    # the same problem, each solved to tol=1e-10: measured 3.5e-18 apart
    np.testing.assert_allclose(light.coef_, scaled.coef_, rtol=1e-12, atol=1e-15)
    assert abs(light.coef_).max() > 1e-3  # a model, not zeros


@pytest.mark.parametrize("solver", SOLVERS)
def test_class_weights_that_zero_every_sample_are_refused(solver):
    est = _fitted(solver)
    before = pickle.dumps(est)
    est.set_params(class_weight={0: 0.0, 1: 0.0})
    with pytest.raises(ValueError, match="sum to zero"):
        est.fit(X, Y)
    est.set_params(class_weight=None)
    assert pickle.dumps(est) == before


@pytest.mark.parametrize("weight", [-1.0, np.nan, np.inf])
def test_class_weights_must_be_finite_and_non_negative(weight):
    # before: -1 raised "the features are too large" for the automatic step,
    # NaN "the weights sum to zero", inf a divergence that asked for a
    # smaller learning_rate
    est = _fitted("lbfgs")
    before = pickle.dumps(est)
    est.set_params(class_weight={0: weight, 1: 1.0})
    with pytest.raises(ValueError, match=r"class_weight must be finite and non-neg"):
        est.fit(X, Y)
    with pytest.raises(ValueError, match=r"got -?(1\.0|nan|inf) for class 0\."):
        AdamLogisticRegressionCV(Cs=2, cv=2, class_weight={0: weight}).fit(X, Y)
    est.set_params(class_weight=None)
    assert pickle.dumps(est) == before


# ------------------------------------------------------------------ divergence

DIVERGING = {
    # (learning_rate, feature scale)
    "adam": (1e300, 1e300),
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
        with pytest.raises(ValueError, match=r"diverged at epoch 2\b.*smaller"):
            est.partial_fit(X * scale, Y)
        est.set_params(learning_rate="auto")
        assert pickle.dumps(est) == before
    fresh = AdamLogisticRegression(solver=solver, learning_rate=lr)
    with pytest.raises(ValueError, match=r"diverged at epoch 1\b.*learning_rate"):
        fresh.partial_fit(X * scale, Y, classes=CLASSES)
    assert not hasattr(fresh, "coef_")
    with pytest.raises(ValueError, match=r"diverged at epoch \d+.*scale the features"):
        est.set_params(learning_rate=lr).fit(X * scale, Y)
    est.set_params(learning_rate="auto")
    assert pickle.dumps(est) == before
    assert np.isfinite(est.coef_).all() and np.isfinite(est.loss_curve_).all()


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_huge_unscaled_features_with_the_auto_step(solver, method):
    # With features of 1e200 the smoothness constant behind the auto step
    # overflows (gd, minibatch) or Adam's squared gradient does: either way a
    # ValueError that says to scale the features, and the estimator unchanged.
    est = _fitted(solver)
    before = pickle.dumps(est)
    kwargs = {} if method == "fit" else {"classes": CLASSES}
    target = est if method == "fit" else AdamLogisticRegression(solver=solver)
    # and no numpy RuntimeWarning before it (the columns' moments overflowed
    # with three, found by a newcomer's run of the test suite)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match="[Ss]cale the features") as info:
            getattr(target, method)(X * 1e200, Y, **kwargs)
    assert "epoch 1" in str(info.value)
    assert pickle.dumps(est) == before
    if method == "partial_fit":
        assert not hasattr(target, "coef_")


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
    ) as record:
        est.fit(X, Y)
    # once per run, not once per epoch
    assert sum(w.category is RisingLossWarning for w in record) == 1
    curve = np.array(est.loss_curve_)
    assert np.isfinite(curve).all() and np.isfinite(est.coef_).all()
    assert (np.diff(curve[-5:]) > 0).all() and curve[-1] > 1.01 * curve.min()


def _unconverged_fits():
    """Calls that warn, each named by its warning: fit, a pipeline, searches."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    short = AdamLogisticRegression(max_iter=2)
    search = GridSearchCV(short, {"C": [1.0]}, cv=2)
    path = AdamLogisticRegressionCV(Cs=2, cv=2, max_iter=2)
    warm = AdamLogisticRegression(warm_start=True, tol=None).fit(X, Y)
    return [
        (ConvergenceWarning, lambda: short.fit(X, Y)),
        (ConvergenceWarning, lambda: make_pipeline(short).fit(X, Y)),
        (ConvergenceWarning, lambda: search.fit(X, Y)),
        (ConvergenceWarning, lambda: path.fit(X, Y)),
        (UserWarning, lambda: warm.fit(X[:, :2], Y)),
    ]


def test_warnings_name_the_users_line_not_the_packages():
    # A fixed stacklevel named scikit-learn's fit wrapper (sklearn/base.py),
    # whatever the user's call; each warning now names the first frame
    # outside the package, scikit-learn and joblib: here, the lambdas above.
    for category, call in _unconverged_fits():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        named = [w for w in caught if w.category is category]
        assert named, category
        assert {w.filename for w in named} == {__file__}, call
        assert {w.lineno for w in named} == {call.__code__.co_firstlineno}


# With n <= 200 the default minibatch is one full batch with Nesterov momentum
# 0.9 at step 1 / L: its objective oscillates while it converges (the former
# rule fired here every ~15 epochs); the rule now asks for half the progress
# to be given back.
@pytest.mark.parametrize("solver", SOLVERS)
def test_no_rising_loss_warning_on_a_good_run(solver):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RisingLossWarning)
        AdamLogisticRegression(
            solver=solver, random_state=0, max_iter=50, tol=None
        ).fit(X, Y)


# ------------------------------------------------------------- numeric extremes

# The largest finite values are near 1.8e308 and 3.4e38; features and logits
# stay one factor of 2 to 3 below, so that a sum of two of them is finite.
EXTREMES = [(np.float64, 1e300), (np.float32, 1e38)]


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("dtype, big", EXTREMES)
def test_extreme_features_and_logits_give_proper_probabilities(
    solver, n_classes, dtype, big
):
    y = Y if n_classes == 2 else Y3
    est = _fitted(solver, X=X.astype(dtype), y=y)
    # Logits of +-big: coefficients of +-1 on features of +-big.
    coef = [[1.0, 0.0, 0.0]] if n_classes == 2 else [[1, 0, 0], [-1, 1, 0], [0, -1, 0]]
    est.coef_ = np.array(coef, dtype=dtype)
    est.intercept_ = np.zeros(len(coef), dtype=dtype)
    Xe = np.array(
        [[big, 0, 0], [-big, 0, 0], [0, big, 0], [0, -big, big], [0, 0, 0]],
        dtype=dtype,
    )
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        raw = est.decision_function(Xe)
        proba = est.predict_proba(Xe)
        log_proba = est.predict_log_proba(Xe)
        pred = est.predict(Xe)
    assert np.isfinite(raw).all() and np.abs(raw).max() == big
    assert proba.dtype == dtype and np.isfinite(log_proba).all()
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    assert np.all(log_proba <= 0)
    np.testing.assert_array_equal(pred, est.classes_[np.argmax(proba, axis=1)])
    if n_classes == 2:
        np.testing.assert_array_equal(proba[:2, 1], [1, 0])
        np.testing.assert_array_equal(log_proba[:2, 0], [-dtype(big), 0])


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("dtype, big", EXTREMES)
def test_extreme_features_give_finite_loss_and_gradient(n_classes, dtype, big):
    from sklearn_adamlr import _kernels
    from sklearn_adamlr._loss import loss_for, objective
    from sklearn_adamlr._penalties import ElasticNet

    # Each row has a logit of +-big and the wrong label: a loss of about big.
    Xe = np.array([[big, 0.0], [-big, 1.0], [1.0, -big]], dtype=dtype)
    loss = loss_for(n_classes)
    params = np.zeros((3, loss.n_outputs(n_classes)), dtype=dtype)
    params[0, 0] = 1.0
    params[1, -1] = -1.0
    target = loss.encode(np.array([0, 1, 0]), dtype)
    sw = np.array([1.0, 2.0, 0.5], dtype=dtype)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        value, grad = objective(params, Xe, target, sw, loss, ElasticNet(0.1, 0.5))
        assert np.isfinite(value) and np.isfinite(grad).all()
        assert value > big / 10 and np.abs(grad).max() > big / 10
        if _kernels.AVAILABLE:
            # the compiled training kernel agrees on the data term
            data, data_grad = objective(params, Xe, target, sw, loss, ElasticNet(0, 0))
            sw_sum = float(sw.sum(dtype=np.float64))
            fused_grad = np.empty_like(params)
            total = _kernels.loss_gradient(
                Xe, None, 0, 3, params, target, sw, 1 / sw_sum, fused_grad
            )
            assert np.isfinite(total) and np.isfinite(fused_grad).all()
            np.testing.assert_allclose(total / sw_sum, data, rtol=1e-6)
            np.testing.assert_allclose(fused_grad, data_grad, rtol=1e-6)


@pytest.mark.parametrize("solver", ["minibatch", "thirdparty_plain_sgd"])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("dtype, big", EXTREMES)
def test_training_steps_at_extreme_logits_stay_finite(solver, n_classes, dtype, big):
    # A training epoch (the compiled or numpy gradient, the penalty and the
    # step) on logits of +-big: with a step of 1 / big the update is O(1).
    # (Adam and gd square the gradient, which overflows here: see
    # test_huge_unscaled_features_with_the_auto_step.)
    y = Y if n_classes == 2 else Y3
    est = _fitted(solver, X=X.astype(dtype), y=y)
    est.coef_ = np.zeros_like(est.coef_)
    est.coef_[:, 0] = 1.0 if n_classes == 2 else [1.0, -1.0, 0.0]
    Xe = np.array([[big, 0, 0], [-big, 0, 0], [1, 0, 0], [0, 1, 1]], dtype=dtype)
    ye = y[[0, 1, 2, 3]]
    for layout in (Xe, np.asfortranarray(Xe)):  # compiled and numpy paths
        fitted = pickle.loads(pickle.dumps(est)).set_params(learning_rate=1 / big)
        with warnings.catch_warnings(), np.errstate(all="raise"):
            warnings.simplefilter("error")
            fitted.partial_fit(layout, ye)
        assert np.isfinite(fitted.loss_curve_).all()
        assert np.isfinite(fitted.coef_).all() and fitted.coef_.dtype == dtype


def test_labels_are_checked_unless_they_are_integers(monkeypatch):
    # A 1-d array of integers (or booleans) is always binary or multiclass:
    # fit_inputs skips scikit-learn's type_of_target there (84 us of a 2 ms
    # fit); any other labels still go through it.
    from sklearn_adamlr import _inputs

    checked = []
    original = _inputs.check_classification_targets
    monkeypatch.setattr(
        _inputs,
        "check_classification_targets",
        lambda y: checked.append(np.asarray(y).dtype.kind) or original(y),
    )
    y = (X[:, 0] > 0).astype(int)
    for labels in (y, y.astype(np.uint8), y.astype(bool)):
        AdamLogisticRegression().fit(X, labels)
    assert checked == []
    strings = np.array(["a", "b"])[y]
    for labels in (y.astype(float), strings, strings.astype(object)):
        AdamLogisticRegression().fit(X, labels)
    assert checked == ["f", "U", "O"]
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        AdamLogisticRegression().fit(X, y + 0.5 * X[:, 1])
