"""What a fit that stops short says, word for word: the advice is the fix.

The expected texts are written out here, from the fitted attributes and an
objective computed independently, so that a changed number, a dropped
clause or a wrong remedy fails (a mutation run over ``_advice.py`` found
most of its sentences unchecked).
"""

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import standardized
from scipy import sparse
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning

from sklearn_adamlr import AdamLogisticRegression, duality_gap, logistic_objective
from sklearn_adamlr._advice import (
    centring,
    centring_advice,
    column_moments,
    flat_message,
    not_converged_message,
    scale_advice,
    spread,
)
from sklearn_adamlr._loss import loss_for
from sklearn_adamlr._penalties import ElasticNet
from sklearn_adamlr._problem import Problem
from sklearn_adamlr.solvers import LBFGS, GradientDescent, Newton

X, Y = standardized(load_breast_cancer)

STOPPED = (
    "The fit stopped after max_iter={max_iter} epochs at optimality "
    "{optimality:.3g}, above tol=5e-05 (max-abs of the minimum-norm "
    "subgradient of the objective divided by C * sum(sample_weight); see "
    "tol). Its objective is {objective:.6g} per unit weight, from "
    "{start:.6g} at the start."
)


def _objective(est):
    """The mean log-loss plus ``||w||^2 / (2 C n)``, by formula."""
    z = X @ est.coef_.ravel() + est.intercept_[0]
    loss = np.mean(np.logaddexp(0.0, z) - Y * z)
    return loss + 0.5 * float(np.sum(est.coef_**2)) / (est.C * len(Y))


def _warning(**params):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = AdamLogisticRegression(**params).fit(X, Y)
    messages = [str(w.message) for w in caught if w.category is ConvergenceWarning]
    assert len(messages) == 1, messages
    return est, messages[0]


@pytest.mark.parametrize(
    "params, remedy",
    [
        # a minibatch solver: gd adapts its step where the minibatches stall
        (
            dict(solver="minibatch", max_iter=2, random_state=0),
            " Increase max_iter, or use solver='gd', which adapts its step to "
            "the local smoothness.",
        ),
        # a full-batch one: more epochs
        (dict(solver="gd", max_iter=2), " Increase max_iter."),
        # a step so large that no point beat the start
        (
            dict(solver="gd", learning_rate=200.0, max_iter=1),
            " No point it evaluated was better than the start: the step is "
            "too large for this data. Increase max_iter.",
        ),
    ],
)
def test_a_fit_stopped_at_max_iter_says_where_and_what_to_do(params, remedy):
    est, message = _warning(**params)
    expected = STOPPED.format(
        max_iter=params["max_iter"],
        optimality=est.optimality_,
        objective=_objective(est),
        start=np.log(2.0),
    )
    assert message == expected + remedy


def test_early_stopping_at_max_iter_says_the_score_was_still_improving():
    _, message = _warning(
        solver="adam", early_stopping=True, max_iter=2, n_iter_no_change=100,
        random_state=0,
    )  # fmt: skip
    assert message == (
        "Maximum number of epochs (max_iter=2) reached and the validation "
        "score was still improving. Increase max_iter or n_iter_no_change, "
        "or check validation_scores_."
    )


def test_the_scale_advice_names_the_extreme_columns():
    scales = np.array([1e3, 1.0, 1e-2, 0.0])  # the last one empty
    cure = (
        " Standardize them, e.g. make_pipeline(StandardScaler(), "
        "AdamLogisticRegression())"
    )
    newton = ", or use solver='newton', whose steps do not depend on the scales"
    named = (
        " The features are on very different scales: the largest columns are "
        "0 (RMS 1e+03), 1 (RMS 1), 2 (RMS 0.01), the smallest 2 (RMS 0.01), "
        "1 (RMS 1), 0 (RMS 1e+03): 1e+05 times apart"
    )
    ones = " (the intercept's column of ones counts, at 1)"
    assert scale_advice(scales) == named + ones + "." + cure + newton + "."
    assert scale_advice(scales, newton=False) == named + ones + "." + cure + "."
    assert (
        scale_advice(scales, fit_intercept=False) == named + "." + cure + newton + "."
    )
    # within SCALE_SPREAD (10) of each other and of the intercept's 1: nothing
    assert scale_advice(np.array([3.0, 0.5])) == ""


def test_the_centring_advice_names_the_uncentred_columns():
    # RMS over standard deviation: column 0 sqrt(82) (mean 9), column 1
    # sqrt(5) (mean 2: within UNCENTERED, 3), column 2 centred
    std = np.array([1.0, 1.0, 2.0])
    means = np.array([9.0, 2.0, 0.0])
    scales = np.sqrt(means**2 + std**2)
    named = (
        " The features are far from centred: columns 0 (mean 9, standard deviation 1)."
    )
    assert centring_advice(scales, means, std) == named
    assert centring_advice(scales, None, std) == ""
    assert centring_advice(scales[1:], means[1:], std[1:]) == ""
    # within the scales' spread, the advice is the centring's, with the cure
    assert scale_advice(scales, True, means, True, std).startswith(
        named + " Standardize"
    )
    # without an intercept, the centre does not matter
    assert scale_advice(scales, False, means, True, std) == ""


def test_a_constant_column_counts_in_the_spread_only_above_the_intercepts_scale():
    # with an intercept, a constant column (std 0) moves the predictions
    # along the intercept's direction: one of RMS 0.01 does not count, one
    # of RMS 100 does
    scales, std = np.array([1.0, 0.01, 100.0]), np.array([1.0, 0.0, 0.0])
    assert spread(scales[:2], True, std[:2]) == 1.0
    assert spread(scales, True, std) == 100.0
    # without one, or without the standard deviations, every column counts
    assert spread(scales[:2], False, std[:2]) == 100.0
    assert spread(scales[:2], True) == 100.0
    assert spread(np.zeros(2), False) == 1.0


@pytest.mark.parametrize("solver", ["lbfgs", "newton"])
def test_a_flat_stop_says_how_far_the_newton_model_puts_it(solver):
    est = SimpleNamespace(max_iter=50, tol=5e-5)
    result = SimpleNamespace(optimality=2e-5, gap_estimate=(3e-3, 0.15, 1e-4))
    message = flat_message(est, result, SimpleNamespace(name=solver))
    expected = (
        "The fit stopped after max_iter=50 epochs with its optimality 2e-05 "
        "within tol=5e-05, but the objective is flat there (nearly separable "
        "classes, a weak penalty): a Newton step's model puts it about 0.02 "
        "(relative) above the optimum, where a fit is certified at 0.0001. "
        "Increase max_iter"
    )
    if solver != "newton":
        expected += ", or use solver='newton', whose steps reach it"
    assert message == expected + ", or use a smaller C."


def test_the_scale_advice_at_its_bounds():
    # the intercept's 1 counts: 100 and 20 are 100 apart from it, 5 without
    assert scale_advice(np.array([100.0, 20.0])) != ""
    assert scale_advice(np.array([100.0, 20.0]), fit_intercept=False) == ""
    # exactly SCALE_SPREAD (10) apart is within it
    assert scale_advice(np.array([10.0, 1.0])) == ""
    # a constant column smaller than 1 beside the intercept does not count
    assert scale_advice(np.array([1.0, 0.01]), std=np.array([1.0, 0.0])) == ""
    # three columns named at each end, of five
    scales = np.array([1e4, 1e3, 1e2, 1e1, 1.0])
    assert scale_advice(scales, fit_intercept=False).startswith(
        " The features are on very different scales: the largest columns are "
        "0 (RMS 1e+04), 1 (RMS 1e+03), 2 (RMS 100), the smallest 4 (RMS 1), "
        "3 (RMS 10), 2 (RMS 100): 1e+04 times apart."
    )


def test_the_spread_of_constant_columns():
    # a constant column counts beside the intercept only above its scale 1
    assert spread(np.array([1.5]), True, np.array([0.0])) == 1.5
    assert spread(np.array([0.6]), True, np.array([0.5])) == pytest.approx(1 / 0.6)


def test_a_column_without_spread_against_its_scale():
    # a standard deviation below 1e-12 of the column's RMS is none (the
    # column is constant), above it a ratio
    assert centring(np.array([1e3]), np.array([1e-12]))[0] == 0.0
    assert centring(np.array([1e-3]), np.array([1e-14]))[0] == pytest.approx(1e11)


def test_the_centring_advice_names_the_worst_three_first():
    # columns 1, 3, 0 and 4 far from centred (ratios 5, 9, 3.5, 7), 2 centred
    std = np.ones(5)
    means = np.sqrt(np.array([3.5**2 - 1, 24.0, 0.0, 80.0, 48.0]))
    scales = np.sqrt(means**2 + std**2)
    assert centring_advice(scales, means, std) == (
        " The features are far from centred: columns 3 (mean 8.94, standard "
        "deviation 1), 4 (mean 6.93, standard deviation 1), 1 (mean 4.9, "
        "standard deviation 1)."
    )


def _stopped(optimality, gap_estimate, X, l1_ratio=0.0):
    """``not_converged_message``'s arguments for a fit on ``X`` stopped short."""
    y = (np.arange(len(X)) % 2).astype(np.float64)
    problem = Problem(X, y, None, loss_for(2), ElasticNet(0.01, l1_ratio), True)
    params = np.zeros((X.shape[1] + 1, 1))
    est = SimpleNamespace(max_iter=7, tol=5e-5, fit_intercept=True)
    result = SimpleNamespace(
        optimality=optimality, gap_estimate=gap_estimate, objective=0.5,
        start_objective=np.log(2.0),
    )  # fmt: skip
    return est, result, problem, params


@pytest.mark.parametrize("solver", [LBFGS(), Newton()], ids=repr)
def test_a_stop_at_the_gradients_tol_is_the_flat_message(solver):
    # the gradient within tol and an estimate taken: the flat message, which
    # names newton unless it ran; above tol, or without an estimate, the
    # plain one
    X = np.random.RandomState(0).normal(size=(20, 3))
    flat = (3e-3, 0.15, 1e-4)
    for optimality, estimate, plain in ((5e-5, flat, False), (1e-3, flat, True),
                                        (2e-5, None, True)):  # fmt: skip
        est, result, problem, params = _stopped(optimality, estimate, X)
        message = not_converged_message(est, result, X, (problem, params, solver))
        assert message.startswith("The fit stopped after max_iter=7 epochs ")
        assert (" with its optimality" in message) is not plain
        if not plain:
            named = "or use solver='newton', whose steps reach it" in message
            assert named is (solver.name != "newton")


def test_the_advice_names_newton_only_where_it_can_run():
    # raw columns: newton is named, but not with an L1 part beyond its
    # matrix form (MATRIX_MAX = 500 parameters)
    rng = np.random.RandomState(0)
    newton = ", or use solver='newton', whose steps do not depend on the scales."
    for d, l1_ratio, named in ((3, 0.0, True), (3, 1.0, True), (499, 1.0, True),
                               (500, 1.0, False), (500, 0.0, True)):  # fmt: skip
        X = rng.normal(size=(20, d)) * np.logspace(0, 3, d)
        est, result, problem, params = _stopped(1e-3, None, X, l1_ratio)
        message = not_converged_message(
            est, result, X, (problem, params, GradientDescent())
        )
        assert "very different scales" in message
        assert (newton in message) is named, (d, l1_ratio)


def test_a_stop_short_quotes_the_duality_gaps_bound():
    # the bound on the relative distance, gap / (objective - gap), from the
    # public duality_gap and logistic_objective
    with pytest.warns(ConvergenceWarning) as caught:
        est = AdamLogisticRegression(solver="gd", max_iter=15).fit(X, Y)
    gap = duality_gap(X, Y, est.coef_, est.intercept_)
    objective = logistic_objective(X, Y, est.coef_, est.intercept_)
    assert (
        f" A duality gap puts it at most {gap / (objective - gap):.2g} (relative) "
        "above the optimum (see sklearn_adamlr.duality_gap)."
    ) in str(caught[0].message)


def test_uncentred_columns_within_the_scales_spread_are_named():
    # column 0 of mean 9 (its RMS 9.06, within 10 of the intercept's 1)
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 3))
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    X[:, 0] += 9.0
    est, result, problem, params = _stopped(1e-3, None, X)
    message = not_converged_message(est, result, X, (problem, params, Newton()))
    assert message.endswith(
        " The features are far from centred: columns 0 (mean 9, standard "
        "deviation 1). Standardize them, e.g. make_pipeline(StandardScaler(), "
        "AdamLogisticRegression()), or use solver='newton', whose steps do not "
        "depend on the scales. Increase max_iter."
    )


@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_the_columns_moments_by_formula(fmt):
    # rms, mean and standard deviation of each column, over several blocks of
    # rows (4,096 at most) and for one row; a constant column's spread is 0
    rng = np.random.RandomState(0)
    X = rng.normal(size=(9000, 3)) * [1.0, 50.0, 0.0] + [3.0, -2.0, 7.0]
    X[rng.uniform(size=X.shape) < 0.3] = 0.0
    X[:, 2] = 7.0
    for data in (X, X[:1]):
        given = sparse.csr_matrix(data) if fmt == "csr" else data
        rms, mean, std = column_moments(given)
        np.testing.assert_allclose(rms, np.sqrt((data**2).mean(axis=0)), rtol=1e-12)
        np.testing.assert_allclose(mean, data.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(std, data.std(axis=0), rtol=1e-9, atol=1e-12)
        if fmt == "dense":
            assert std[2] == 0.0  # exactly, from the first row's shift
