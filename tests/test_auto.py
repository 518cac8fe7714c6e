"""``solver='auto'``, the default: which solver for which call, and mixed calls."""

import pickle
import warnings

import numpy as np
import pytest
from conftest import standardized
from scipy import sparse
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from sklearn_adamlr import AdamLogisticRegression, available_solvers, get_solver
from sklearn_adamlr._advice import column_moments
from sklearn_adamlr._auto import SMALL_ROWS, choose_solver, scale_spread, uncentred
from sklearn_adamlr._loss import logistic_objective
from sklearn_adamlr._precondition import diagonal
from sklearn_adamlr.solvers._newton import MATRIX_MAX

X, Y = standardized(load_breast_cancer)


@pytest.mark.parametrize(
    "params, data, expected",
    [
        ({}, "dense", "lbfgs"),
        ({}, "csr", "lbfgs"),
        ({}, "float32", "lbfgs"),
        ({"l1_ratio": 1.0}, "dense", "gd"),
        ({"l1_ratio": 0.5}, "csr", "gd"),
        # a weak penalty, a few parameters: newton (see _auto.WEAK_PENALTY)
        ({"C": np.inf}, "dense", "newton"),
        ({"C": 100.0}, "csr", "newton"),
        # not with an L1 part: its coordinate descent crawls there
        ({"C": 100.0, "l1_ratio": 1.0}, "dense", "gd"),
        ({"C": 10.0}, "dense", "lbfgs"),  # alpha 1.8e-4
    ],
)
def test_fit_chooses_lbfgs_or_gd_with_an_l1_part(params, data, expected):
    Xd = {"dense": X, "csr": sparse.csr_matrix(X), "float32": X.astype(np.float32)}
    est = AdamLogisticRegression(max_iter=3000, **params)
    assert est.solver == "auto"
    est.fit(Xd[data], Y)
    assert est.solver_ == expected
    # the same numbers as naming the solver
    named = AdamLogisticRegression(solver=expected, max_iter=3000, **params)
    np.testing.assert_array_equal(est.coef_, named.fit(Xd[data], Y).coef_)


@pytest.mark.parametrize("solver", available_solvers())
def test_a_named_solver_runs_as_named(solver):
    est = AdamLogisticRegression(solver=solver, max_iter=3).fit(X, Y)
    assert est.solver_ == solver
    instance = get_solver(solver)
    assert AdamLogisticRegression(solver=instance, max_iter=3).fit(X, Y).solver_ == (
        solver
    )


def test_partial_fit_chooses_adam_and_resumes_bit_for_bit():
    classes = np.unique(Y)
    chunks = [slice(0, 200), slice(200, 400), slice(400, None)]
    whole = AdamLogisticRegression(random_state=0)
    for rows in chunks:
        whole.partial_fit(X[rows], Y[rows], classes=classes)
    assert whole.solver_ == "adam"
    stopped = AdamLogisticRegression(random_state=0)
    for rows in chunks[:2]:
        stopped.partial_fit(X[rows], Y[rows], classes=classes)
    resumed = pickle.loads(pickle.dumps(stopped))
    resumed.partial_fit(X[chunks[2]], Y[chunks[2]])
    np.testing.assert_array_equal(resumed.coef_, whole.coef_)
    assert resumed.t_ == whole.t_


def test_partial_fit_after_fit_goes_on_with_adams_fresh_state():
    est = AdamLogisticRegression(random_state=0).fit(X, Y)
    assert est.solver_ == "lbfgs"
    fitted = est.coef_.copy()
    # a tiny step: the first steps start from the fitted coefficients
    est.set_params(learning_rate=1e-9).partial_fit(X, Y)
    assert est.solver_ == "adam"
    assert np.abs(est.coef_ - fitted).max() < 1e-6
    # Adam's fresh state: its step count is this pass's minibatches
    assert est.t_ == est._stream.solver_state.t == -(-len(Y) // 200)
    assert est.n_iter_ == est.loss_curve_.__len__()
    # on float32 rows the hand-over keeps float32
    single = AdamLogisticRegression(random_state=0).fit(X.astype(np.float32), Y)
    single.partial_fit(X.astype(np.float32), Y)
    assert single.coef_.dtype == single.intercept_.dtype == np.float32
    # and a named full-batch solver cannot be resumed by another one
    named = AdamLogisticRegression(solver="lbfgs").fit(X, Y)
    with pytest.raises(ValueError, match="cannot continue with Adam"):
        named.set_params(solver="adam").partial_fit(X, Y)


def test_fit_after_partial_fit_starts_afresh_or_warm():
    classes = np.unique(Y)
    est = AdamLogisticRegression(random_state=0).partial_fit(X, Y, classes=classes)
    fresh = AdamLogisticRegression(random_state=0).fit(X, Y)
    np.testing.assert_array_equal(est.fit(X, Y).coef_, fresh.coef_)
    assert est.solver_ == "lbfgs"
    # warm_start: lbfgs from the fitted optimum certifies at once
    est.set_params(warm_start=True).fit(X, Y)
    assert est.n_iter_ <= 2


def test_the_default_lands_on_logistic_regressions_optimum():
    Xw, yw = standardized(load_wine)
    ref = LogisticRegression(tol=1e-10, max_iter=10_000).fit(Xw, yw)
    est = AdamLogisticRegression().fit(Xw, yw)
    # measured: 1.9e-3 of max |coef| at the default tol=5e-5 (22 epochs)
    scale = np.abs(ref.coef_).max()
    assert np.abs(est.coef_ - ref.coef_).max() / scale < 5e-3
    assert est.optimality_ <= est.tol


def test_the_default_warns_on_no_two_feature_subset_of_wine():
    # feature selection and searches fit many small models: default adam
    # warned on 6 of these 78 (gaps up to 8.5e-3); the default (lbfgs) on none
    import itertools
    import warnings

    Xw, yw = standardized(load_wine)
    warned = []
    for pair in itertools.combinations(range(Xw.shape[1]), 2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est = AdamLogisticRegression().fit(Xw[:, pair], yw)
        if caught or not est.optimality_ <= est.tol:
            warned.append(pair)
    assert warned == []


RAW_SETS = {
    "breast_cancer": (load_breast_cancer, "newton"),
    "wine": (load_wine, "newton"),
    # its columns' scales are 5.9 times apart, a mean 7.1 times its spread
    "iris": (load_iris, "newton"),
    "digits": (load_digits, "newton"),  # its rare pixels: 545 times apart
}


@pytest.mark.parametrize("C", [0.01, 1.0])
@pytest.mark.parametrize("name", sorted(RAW_SETS))
def test_the_default_lands_on_the_optimum_on_raw_data(name, C):
    load, expected = RAW_SETS[name]
    X, y = load(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = AdamLogisticRegression(C=C).fit(X, y)
    assert est.solver_ == expected
    ref = LogisticRegression(solver="newton-cholesky", C=C, tol=1e-12, max_iter=1000)
    ref.fit(X, y)
    value = logistic_objective(X, y, est.coef_, est.intercept_, C=C)
    best = logistic_objective(X, y, ref.coef_, ref.intercept_, C=C)
    # measured: at most 4e-10
    assert (value - best) / best <= 1e-8


def test_raw_columns_are_told_apart_from_scaled_ones():
    rng = np.random.RandomState(0)
    Z = rng.normal(size=(5000, 4))
    assert scale_spread(Z, True) < 1.2
    assert scale_spread(Z * [1.0, 1.0, 1.0, 20.0], True) > 10
    # a column far from zero is far from the intercept's scale too
    assert scale_spread(Z + [0.0, 0.0, 30.0, 0.0], True) > 10
    assert scale_spread(Z + [0.0, 0.0, 30.0, 0.0], False) < 40
    # all-zero columns (digits' blank pixels) do not count
    assert scale_spread(np.hstack([Z, np.zeros((5000, 1))]), True) < 1.2
    # a column far from centred, whatever its scale
    assert uncentred(Z) < 1.1
    assert uncentred(Z * 0.1 + [0.0, 0.0, 1.0, 0.0]) > 9
    assert choose_solver(0.0, False, Z * 0.5 + [0.0, 0.0, 2.0, 0.0]) == "newton"
    assert choose_solver(0.0, False, Z * 0.5 + [0.0, 0.0, 1.0, 0.0]) == "lbfgs"
    # a weak penalty: newton on few rows only
    assert choose_solver(0.0, False, Z, alpha=1e-5) == "newton"
    tall = np.random.RandomState(1).normal(size=(SMALL_ROWS + 1, 3))
    assert choose_solver(0.0, False, tall, alpha=1e-5) == "lbfgs"
    # CSR data and partial_fit keep their rules whatever the scales
    assert choose_solver(0.0, False, sparse.csr_matrix(Z * 1e3)) == "lbfgs"
    assert choose_solver(0.0, True, Z * 1e3) == "adam"
    # an L1 part: newton's proximal steps where its Hessian is a matrix
    assert choose_solver(1.0, False, Z * 1e3) == "newton"
    wide = rng.normal(size=(50, MATRIX_MAX)) * np.logspace(-2, 2, MATRIX_MAX)
    assert choose_solver(1.0, False, wide) == "gd"
    assert choose_solver(0.0, False, wide) == "newton"


def test_constant_columns_of_scaled_data_are_not_raw_features():
    # A constant column smaller than the intercept's ones moves the
    # predictions along the intercept's direction: with an intercept it is
    # neither a small scale nor far from centred. Without one, it is the
    # intercept's stand-in and its scale counts; a larger one counts always
    # (test_convergence.test_a_huge_constant_column_is_named).
    rng = np.random.RandomState(0)
    Z = rng.normal(size=(500, 4))
    Z[:, 2] = -0.047
    assert scale_spread(Z, True) < 1.2
    assert scale_spread(Z, False) > 20
    assert scale_spread(Z + [0.0, 0.0, 40.047, 0.0], True) > 30
    assert uncentred(Z) < 1.1  # its spread is exactly 0, not rounding
    # the moments in blocks of fewer rows on wide data (2**22 entries each)
    wide = rng.normal(size=(300, 20_000)) + 3.0
    wide[:, 5] = 0.25
    rms, mean, std = column_moments(wide)
    np.testing.assert_allclose(std, wide.std(axis=0), rtol=1e-10, atol=0)
    np.testing.assert_allclose(mean, wide.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(rms, np.sqrt((wide**2).mean(axis=0)), rtol=1e-12)
    assert std[5] == 0.0
    # CSR in blocks too (10,000 rows: three of 4,096), the sums from zero
    from scipy import sparse

    tall = rng.normal(size=(10_000, 4)) * (rng.uniform(size=(10_000, 4)) < 0.3)
    tall[:, 1] += 2.0 * (tall[:, 1] != 0)
    for X in (sparse.csr_matrix(tall), tall):
        rms, mean, std = column_moments(X)
        np.testing.assert_allclose(mean, tall.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(std, tall.std(axis=0), rtol=1e-10)
        np.testing.assert_allclose(rms, np.sqrt((tall**2).mean(axis=0)), rtol=1e-12)
    assert choose_solver(0.0, False, Z, n_outputs=1) == "lbfgs"
    # digits, standardized on all rows, then split: a fold without a rare
    # pixel's non-zero rows has that column constant (folds 1 and 2 here;
    # their spreads were 47 and 24, and newton ran 2x slower than lbfgs)
    Xd, yd = standardized(load_digits)
    for train, _ in StratifiedKFold(5).split(Xd, yd):
        assert choose_solver(0.0, False, Xd[train], n_outputs=10) == "lbfgs"
        assert diagonal(Xd[train], True, np.float64) is None


def test_a_fit_reads_the_columns_moments_once(monkeypatch):
    # the solver rule and the preconditioner share one read of the sample
    # (40 us of a 1.8 ms default fit on breast_cancer when each read it)
    from sklearn_adamlr import _advice

    reads = []
    original = _advice.column_moments
    monkeypatch.setattr(
        _advice, "column_moments", lambda X: reads.append(X.shape) or original(X)
    )
    X, y = standardized(load_breast_cancer)
    for raw in (False, True):
        reads.clear()
        Xs = X * np.logspace(0, 3, X.shape[1]) if raw else X
        for solver in ("auto", "lbfgs"):
            est = AdamLogisticRegression(solver=solver).fit(Xs, y)
        assert reads == [X.shape, X.shape]  # one for each fit
        assert est._stream.solver_state.precond is not None or not raw


# ------------------------------------------- the rules at their boundaries
# (a mutation run over _auto.py left each of these unchecked)


def _columns(n_features, n_rows=60):
    return np.random.RandomState(0).normal(size=(n_rows, n_features))


def test_a_path_takes_newton_up_to_the_matrix_form():
    # (n_features + 1) * n_outputs parameters: 500 is the matrix form's last
    X = _columns(99)
    assert (X.shape[1] + 1) * 5 == MATRIX_MAX
    assert choose_solver(0.0, False, X, True, 5, path=True) == "newton"
    assert choose_solver(0.0, False, _columns(100), True, 5, path=True) == "lbfgs"
    # standardized digits: 65 x 10 = 650 parameters, beyond it
    digits, _ = standardized(load_digits)
    assert choose_solver(0.0, False, digits, True, 10, path=True) == "lbfgs"
    assert choose_solver(0.0, False, digits, True, 3, path=True) == "newton"
    # not on a path, the same data and penalty: lbfgs
    assert choose_solver(0.0, False, X, True, 5, alpha=1e-2) == "lbfgs"


@pytest.mark.parametrize(
    "n_outputs, alpha, expected",
    [
        (1, 1e-2, "newton"),  # two classes, not weak: proximal Newton
        (1, 1e-5, "gd"),  # two classes under a weak penalty: FISTA
        (3, 1e-2, "gd"),  # more classes: FISTA
    ],
)
def test_a_paths_l1_part_takes_newton_only_for_two_classes_not_weak(
    n_outputs, alpha, expected
):
    X = _columns(5)
    assert choose_solver(1.0, False, X, True, n_outputs, True, alpha) == expected


def test_the_weak_penalty_rule_at_its_boundaries():
    X = _columns(5)
    # alpha strictly below WEAK_PENALTY (1e-4), at most SMALL_ROWS rows
    assert choose_solver(0.0, False, X, True, 1, alpha=0.99e-4) == "newton"
    assert choose_solver(0.0, False, X, True, 1, alpha=1e-4) == "lbfgs"
    rows = np.random.RandomState(2).normal(size=(SMALL_ROWS, 5))
    assert choose_solver(0.0, False, rows, True, 1, alpha=1e-5) == "newton"
    more = np.vstack([rows, rows[:1]])
    assert choose_solver(0.0, False, more, True, 1, alpha=1e-5) == "lbfgs"
