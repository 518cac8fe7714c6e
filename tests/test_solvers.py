"""The solver registry and what every registered solver must do."""

import dataclasses

import numpy as np
import pytest
from conftest import standardized
from scipy import sparse
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_adamlr import (
    AdamLogisticRegression,
    Solver,
    available_solvers,
    get_solver,
    register_solver,
    unregister_solver,
)
from sklearn_adamlr.solvers import Adam

SOLVERS = available_solvers()


def test_third_party_solver_trains_through_the_estimator():
    X, y = standardized(load_breast_cancer)
    # tol=None: the batch stays at 200 (the certificate would grow it)
    clf = AdamLogisticRegression(
        solver="thirdparty_plain_sgd", random_state=0, tol=None, max_iter=100
    )
    clf.fit(X, y)
    assert clf.score(X, y) > 0.97
    assert clf.t_ == clf.n_iter_ * 3  # 569 samples in batches of 200


def test_duplicate_name_is_refused():
    class Other(Solver):
        name = "adam"

    with pytest.raises(ValueError, match="already registered"):
        register_solver(Other)


def test_register_and_unregister():
    @register_solver
    class Tmp(Solver):
        name = "tmp_solver_for_test"

    assert "tmp_solver_for_test" in available_solvers()
    unregister_solver("tmp_solver_for_test")
    assert "tmp_solver_for_test" not in available_solvers()


def test_unknown_name_lists_the_registered_solvers():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(
        InvalidParameterError, match=r"'adam', 'gd', 'lbfgs', 'minibatch'"
    ):
        AdamLogisticRegression(solver="newton-cg").fit(X, y)


def test_solver_instance_is_used_as_given():
    X, y = standardized(load_breast_cancer)
    by_instance = AdamLogisticRegression(
        solver=Adam(beta_1=0.5), random_state=0, max_iter=5, tol=None
    ).fit(X, y)
    by_name = AdamLogisticRegression(
        solver="adam", beta_1=0.5, random_state=0, max_iter=5, tol=None
    ).fit(X, y)
    np.testing.assert_array_equal(by_instance.coef_, by_name.coef_)


def test_get_solver_passes_declared_hyperparameters_only():
    solver = get_solver("minibatch", {"momentum": 0.5, "beta_1": 0.1})
    assert solver.momentum == 0.5
    assert not hasattr(solver, "beta_1")


class _Bare(Solver):
    """A solver on the base class's defaults (not registered)."""

    name = "bare_for_test"
    hyperparameters = ("momentum",)


def test_the_base_solver_takes_its_declared_hyperparameters_only():
    assert _Bare(momentum=0.3).momentum == 0.3
    with pytest.raises(TypeError, match="unexpected hyperparameter 'beta_1'"):
        _Bare(beta_1=0.1)


def test_the_base_solvers_auto_step_is_one_over_the_expected_smoothness():
    # the default a third-party solver gets (Gower et al.'s 1 / L_b), for
    # a fit with tol and for one without
    class Smoothness:
        def expected(self, batch_size):
            return 4.0 * batch_size

    assert _Bare().auto_learning_rate(Smoothness(), 5) == 1 / 20
    assert _Bare().stream_learning_rate(Smoothness(), 5) == 1 / 20


@pytest.mark.parametrize("not_a_solver", [int, Adam(), "adam"])
def test_only_a_solver_subclass_registers(not_a_solver):
    with pytest.raises(TypeError, match="expects a Solver subclass"):
        register_solver(not_a_solver)


def test_capabilities_are_shared_and_frozen():
    # every solver without its own declaration shares the base class's
    # instance: a solver that changed it would change theirs
    assert _Bare.capabilities is Solver.capabilities
    with pytest.raises(dataclasses.FrozenInstanceError):
        _Bare.capabilities.lazy = True


@pytest.mark.parametrize("name", ["", 3, None])
def test_a_solver_needs_a_non_empty_string_name(name):
    unnamed = type("Unnamed", (Solver,), {"name": name})
    with pytest.raises(ValueError, match="must be a non-empty string"):
        register_solver(unnamed)


# Relative gaps to the optimum of default fits, as measured (breast_cancer,
# C=0.01); each test allows twice as much. adam and the third-party solver
# do not certify at l1_ratio=1 in 1000 epochs (they warn).
L1_GAPS = {
    ("adam", 1.0): 3.6e-5, ("adam", 0.5): 2.4e-8,
    ("gd", 1.0): 2.2e-6, ("gd", 0.5): 2e-8,
    ("minibatch", 1.0): 4.4e-7, ("minibatch", 0.5): 3.8e-8,
    ("saga", 1.0): 2.7e-6, ("saga", 0.5): 1.4e-8,
    ("thirdparty_plain_sgd", 1.0): 5.7e-5, ("thirdparty_plain_sgd", 0.5): 1e-7,
}  # fmt: skip


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_l1_gives_exact_zeros_and_the_l1_optimum(solver, l1_ratio):
    # With default settings every solver lands near the L1 / elastic-net
    # optimum (a momentum solver whose velocity undid the prox once settled
    # 30 % to 90 % above it) and its zeros are exact: 27 of the optimum's 28
    # at l1_ratio=1, all 17 at 0.5 (measured).
    from sklearn_adamlr import logistic_objective

    X, y = standardized(load_breast_cancer)
    kw = dict(C=0.01, l1_ratio=l1_ratio)
    optimum = AdamLogisticRegression(solver="gd", tol=1e-10, max_iter=5000, **kw)
    optimum.fit(X, y)
    clf = AdamLogisticRegression(solver=solver, random_state=0, **kw).fit(X, y)
    assert np.isfinite(clf.coef_).all()

    def objective(est):
        return logistic_objective(X, y, est.coef_, est.intercept_, **kw)

    gap = objective(clf) / objective(optimum) - 1
    bound = L1_GAPS.get((solver, l1_ratio), 1e-2)  # another registered solver
    assert gap <= 2 * bound
    n_zeros = (optimum.coef_ == 0).sum()
    assert n_zeros >= 10
    assert (clf.coef_ == 0).sum() >= n_zeros - 3


@pytest.mark.parametrize("solver", SOLVERS)
def test_string_labels_and_multiclass_shapes(solver):
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])
    labels = names[y]
    clf = AdamLogisticRegression(solver=solver, random_state=0).fit(X, labels)
    assert clf.coef_.shape == (3, 4)
    assert clf.intercept_.shape == (3,)
    # the labels are only names: the same model as on the class indices,
    # predicting the names of the same classes
    by_index = AdamLogisticRegression(solver=solver, random_state=0).fit(X, y)
    np.testing.assert_array_equal(clf.coef_, by_index.coef_)
    np.testing.assert_array_equal(clf.predict(X), names[by_index.predict(X)])
    assert np.mean(clf.predict(X) == labels) > 0.9
    binary = AdamLogisticRegression(solver=solver, random_state=0)
    binary.fit(X[y > 0], np.where(y[y > 0] == 1, -1, 1))
    assert binary.coef_.shape == (1, 4)
    np.testing.assert_array_equal(binary.classes_, [-1, 1])
    # the positive class is the larger label, +1: its decision is positive
    # where it is predicted
    decision = binary.decision_function(X[y > 0])
    np.testing.assert_array_equal(
        binary.predict(X[y > 0]), np.where(decision > 0, 1, -1)
    )


@pytest.mark.parametrize("solver", SOLVERS)
def test_dense_sparse_and_float32_inputs(solver):
    X, y = standardized(load_breast_cancer)
    # An explicit step: 'auto' estimates L exactly for dense X and by Lanczos
    # (a slight overestimate) for sparse X.
    kw = dict(
        solver=solver,
        random_state=0,
        max_iter=20,
        tol=None,
        shuffle=False,
        learning_rate=0.01,
    )
    dense = AdamLogisticRegression(**kw).fit(X, y)
    for Xs in (sparse.csr_matrix(X), sparse.csc_matrix(X)):
        sp = AdamLogisticRegression(**kw).fit(Xs, y)
        np.testing.assert_allclose(sp.coef_, dense.coef_, rtol=1e-8, atol=1e-10)
    single = AdamLogisticRegression(**kw).fit(X.astype(np.float32), y)
    assert single.coef_.dtype == np.float32
    assert single.intercept_.dtype == np.float32
    # without an intercept too: its zeros are float32 like coef_
    bare = AdamLogisticRegression(**kw, fit_intercept=False)
    bare.fit(X.astype(np.float32), y)
    assert bare.coef_.dtype == bare.intercept_.dtype == np.float32
    assert not bare.intercept_.any()
    np.testing.assert_allclose(single.coef_, dense.coef_, rtol=1e-2, atol=1e-3)
    # and from fitted coefficients: a warm-started refit (a mutant that
    # packed them as float64 made every later fit float64, and lived)
    single.set_params(warm_start=True).fit(X.astype(np.float32), y)
    assert single.coef_.dtype == single.intercept_.dtype == np.float32


def test_convergence_warning_when_max_iter_is_reached():
    from sklearn.exceptions import ConvergenceWarning

    X, y = standardized(load_breast_cancer)
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        AdamLogisticRegression(max_iter=2, random_state=0).fit(X, y)


def test_loss_curve_is_the_objective_per_epoch():
    from sklearn_adamlr import logistic_objective

    X, y = standardized(load_breast_cancer)
    clf = AdamLogisticRegression(solver="gd", C=1.0, tol=1e-10, max_iter=3000)
    clf.fit(X, y)
    assert len(clf.loss_curve_) == clf.n_iter_
    final = logistic_objective(X, y, clf.coef_, clf.intercept_, C=1.0)
    # loss_curve_ is the objective divided by C * sum(sample_weight)
    assert clf.loss_curve_[-1] == pytest.approx(final / len(y), rel=1e-9)


def test_gd_is_full_batch_from_its_automatic_step_one_over_l():
    # Written from the definitions, not the package's helpers: for two
    # classes the loss's curvature is at most 1/4, so L is a quarter of the
    # largest eigenvalue of [X, 1]^T [X, 1] / n, plus the L2 part of the
    # objective divided by C * n, 1 / (C * n).
    X, y = standardized(load_breast_cancer)
    n = len(X)
    A = np.hstack([X, np.ones((n, 1))])
    L = 0.25 * np.linalg.eigvalsh(A.T @ A / n)[-1] + 1.0 / n
    est = AdamLogisticRegression(solver="gd", max_iter=3, tol=None).fit(X, y)
    assert est.learning_rate_ == pytest.approx(1.0 / L, rel=1e-10)
    # full batch: batch_size and shuffle change nothing, to the last bit
    other = AdamLogisticRegression(
        solver="gd", max_iter=3, tol=None, batch_size=7, shuffle=True,
        random_state=5,
    ).fit(X, y)  # fmt: skip
    np.testing.assert_array_equal(est.coef_, other.coef_)
    assert est.t_ == other.t_ == 3


@pytest.mark.parametrize("n_classes", [2, 3])
def test_predict_log_proba_is_the_log_of_predict_proba_and_stays_finite(n_classes):
    # From the scores, independently: the log-softmax of [0, s] (binary) or
    # of s. Far from the boundary predict_proba underflows to 0; its log
    # must not be -inf (log-sum-exp, not log of the probabilities).
    X, y = standardized(load_iris)
    y = y if n_classes == 3 else (y > 0).astype(int)
    est = AdamLogisticRegression(C=10.0).fit(X, y)
    far = np.vstack([X, 200 * X[:3]])  # scores of hundreds
    scores = est.decision_function(far).reshape(len(far), -1)
    if n_classes == 2:
        scores = np.hstack([np.zeros_like(scores), scores])
    top = scores.max(axis=1, keepdims=True)
    expected = scores - top - np.log(np.exp(scores - top).sum(axis=1, keepdims=True))
    log_proba = est.predict_log_proba(far)
    assert log_proba.shape == (len(far), n_classes)
    np.testing.assert_allclose(log_proba, expected, rtol=1e-12, atol=1e-12)
    assert np.isfinite(log_proba).all()
    assert (est.predict_proba(far) == 0).any()  # the case that needs it
    near = log_proba[: len(X)]
    # (binary predict_proba takes 1 - p: measured at most 1.7e-16 apart)
    np.testing.assert_allclose(np.exp(near), est.predict_proba(X), atol=1e-15)
