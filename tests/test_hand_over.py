"""The hand-over (``sklearn_adamlr._hand_over``): a certified ``fit`` of adam or
minibatch stops its minibatch steps where the batch would first grow, and the
full-batch solver that ``'auto'`` picks finishes from the best point.

The optimum is scikit-learn's (``LogisticRegression`` at ``tol=1e-12``), and
the objective is written here from its definition.
"""

import pickle
import warnings

import numpy as np
import pytest
from conftest import standardized
from scipy import sparse
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from sklearn_adamlr import AdamLogisticRegression

HANDING_OVER = ["adam", "minibatch"]


def _objective(X, y, coef, intercept, C=1.0):
    """``C * sum(logloss) + ||w||^2 / 2`` of a binary model."""
    z = X @ coef.ravel() + intercept[0]
    signed = np.where(y == 1, z, -z)
    return C * np.logaddexp(0.0, -signed).sum() + 0.5 * coef.ravel() @ coef.ravel()


def _gap(X, y, est, C=1.0):
    ref = LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(X, y)
    optimum = _objective(X, y, ref.coef_, ref.intercept_, C)
    return (_objective(X, y, est.coef_, est.intercept_, C) - optimum) / optimum


def _fit(X, y, **params):
    est = AdamLogisticRegression(random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return est.fit(X, y)


@pytest.mark.parametrize("solver", HANDING_OVER)
def test_standardized_data_finish_with_lbfgs_at_the_optimum(solver):
    # breast_cancer: 569 rows, minibatches of 200, so the batch would grow
    X, y = standardized(load_breast_cancer)
    est = _fit(X, y, solver=solver)
    assert est.solver_ == f"{solver}+lbfgs"
    assert est.optimality_ <= est.tol
    # measured: 2.5e-6 (adam) and 1.7e-5 (minibatch); lbfgs on its own 2.0e-5
    assert abs(_gap(X, y, est)) < 4e-5
    assert len(est.loss_curve_) == est.n_iter_


@pytest.mark.parametrize("solver", HANDING_OVER)
def test_raw_data_finish_with_newton_without_a_warning(solver):
    # on their own, both stop 0.6 to 1.0 above the optimum here, and warn
    X, y = load_breast_cancer(return_X_y=True)
    est = _fit(X, y, solver=solver)
    assert est.solver_ == f"{solver}+newton"
    # measured: -1.6e-8 for both (below lbfgs's optimum at tol=1e-12, which
    # stops short on raw data; newton certifies at 1e-8 of the objective)
    assert abs(_gap(X, y, est)) < 3e-8


def test_an_l1_part_finishes_with_fista_and_exact_zeros():
    X, y = standardized(load_breast_cancer)
    est = _fit(X, y, solver="adam", l1_ratio=1.0, C=0.1)
    assert est.solver_ == "adam+gd"
    assert est.optimality_ <= est.tol
    assert 0 < np.count_nonzero(est.coef_ == 0) < X.shape[1]


def test_csr_and_float32_hand_over_too():
    X, y = standardized(load_breast_cancer)
    dense = _fit(X, y, solver="adam")
    for data in (sparse.csr_matrix(X), X.astype(np.float32)):
        est = _fit(data, y, solver="adam")
        assert est.solver_ == "adam+lbfgs"
        # the same optimum, to the certificate (measured: CSR 2.4e-13,
        # float32 4.8e-5)
        np.testing.assert_allclose(est.coef_, dense.coef_, rtol=0, atol=1e-4)


def test_verbose_says_where_the_steps_hand_over(capsys):
    X, y = standardized(load_breast_cancer)
    est = AdamLogisticRegression(solver="adam", random_state=0, verbose=1).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    (note,) = [i for i, line in enumerate(lines) if "hand over" in line]
    assert lines[note].endswith("the minibatch steps hand over to full-batch steps.")
    # the epochs are numbered on across the hand-over, to n_iter_
    numbers = [
        int(line.split(",")[0].split()[1]) for line in lines if line[:6] == "Epoch "
    ]
    assert numbers == list(range(1, est.n_iter_ + 1))
    assert lines[-1].startswith("Converged: optimality ")


@pytest.mark.parametrize(
    "params",
    [
        dict(tol=None, max_iter=30),  # no certificate: no stall response
        dict(early_stopping=True),  # the validation score stops the fit
    ],
)
def test_no_hand_over_without_the_certificate(params):
    X, y = standardized(load_breast_cancer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = AdamLogisticRegression(solver="adam", random_state=0, **params).fit(X, y)
    assert est.solver_ == "adam"


def test_no_hand_over_where_the_batch_is_the_whole_data():
    # wine: 178 rows, one minibatch of them all; adam's own full-batch steps
    X, y = standardized(load_wine)
    assert _fit(X, y, solver="adam").solver_ == "adam"


def test_no_epoch_left_for_the_finish_keeps_the_minibatch_result():
    X, y = standardized(load_breast_cancer)
    first = _fit(X, y, solver="adam")
    handed_at = first.n_iter_ - 1  # at least one full-batch epoch ran
    with pytest.warns(ConvergenceWarning):
        est = AdamLogisticRegression(solver="adam", random_state=0, max_iter=3).fit(
            X, y
        )
    assert handed_at > 3
    assert est.solver_ == "adam" and est.n_iter_ == 3


def _handed_at(X, y, capsys):
    """The epoch whose stall handed over, from the verbose log.

    (its notes print before its line)
    """
    AdamLogisticRegression(solver="adam", random_state=0, verbose=1).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    (note,) = [i for i, line in enumerate(lines) if "hand over" in line]
    return int(lines[note + 1].split(",")[0].split()[1])


def test_a_hand_over_at_the_last_epoch_keeps_the_minibatch_result(capsys):
    X, y = standardized(load_breast_cancer)
    handed_at = _handed_at(X, y, capsys)
    with pytest.warns(ConvergenceWarning):
        est = AdamLogisticRegression(
            solver="adam", random_state=0, max_iter=handed_at
        ).fit(X, y)
    # no epoch left for the full-batch steps: adam's own result, and a warning
    assert est.solver_ == "adam" and est.n_iter_ == handed_at


def test_partial_fit_after_the_fit_goes_on_with_adams_state():
    X, y = standardized(load_breast_cancer)
    est = _fit(X, y, solver="adam")
    t = est.t_
    assert t > 0 and est._stream.solver_state.m is not None
    coef = est.coef_.copy()
    resumed = pickle.loads(pickle.dumps(est))
    est.partial_fit(X, y)
    resumed.partial_fit(X, y)
    assert est.solver_ == "adam"
    # one epoch of 3 minibatches on the clock of the minibatch steps
    assert est.t_ == t + 3
    assert not np.array_equal(est.coef_, coef)
    np.testing.assert_array_equal(est.coef_, resumed.coef_)


def test_a_failed_finish_changes_nothing(monkeypatch):
    from sklearn_adamlr.solvers._lbfgs import LBFGS

    X, y = standardized(load_breast_cancer)
    est = _fit(X, y, solver="adam")
    before = pickle.dumps(est)

    def fails(self, params):
        raise RuntimeError("the full-batch solver failed")

    monkeypatch.setattr(LBFGS, "init_state", fails)
    with pytest.raises(RuntimeError, match="full-batch solver failed"):
        est.fit(X[::-1], y[::-1])
    assert pickle.dumps(est) == before


def test_the_finish_keeps_to_max_iter_and_reports_the_fits_start(capsys):
    # one full-batch epoch left: the fit stops at max_iter in all, and its
    # warning quotes the objective where the minibatch steps started
    # (log 2 at zero)
    X, y = standardized(load_breast_cancer)
    handed_at = _handed_at(X, y, capsys)
    with pytest.warns(ConvergenceWarning, match=r"from 0\.693147 at the start"):
        est = AdamLogisticRegression(
            solver="adam", random_state=0, max_iter=handed_at + 1
        ).fit(X, y)
    assert est.solver_ == "adam+lbfgs"
    assert est.n_iter_ == len(est.loss_curve_) == handed_at + 1


def test_the_finish_follows_auto_on_a_weak_penalty():
    # 1 / (C n) below 1e-4 on small data: 'auto' takes newton, so does the
    # finish (see _auto.WEAK_PENALTY)
    X, y = standardized(load_breast_cancer)
    est = _fit(X, y, solver="adam", C=1e4)
    assert est.solver_ == "adam+newton"
    assert est.optimality_ <= est.tol


def test_the_finish_starts_from_the_minibatch_steps_best_point(monkeypatch):
    from sklearn_adamlr import _estimator, _hand_over

    seen = {}

    def finish(estimator, inputs, problem, solver, params, first, *args):
        seen["first"], seen["last"] = first, params.copy()
        return _hand_over.finish(estimator, inputs, problem, solver, params, first,
                                 *args)  # fmt: skip

    def fresh_run(estimator, problem, solver, params, **kw):
        seen["start"] = params.copy()
        return original(estimator, problem, solver, params, **kw)

    original = _hand_over.fresh_run
    monkeypatch.setattr(_estimator, "finish", finish)
    monkeypatch.setattr(_hand_over, "fresh_run", fresh_run)
    X, y = standardized(load_breast_cancer)
    _fit(X, y, solver="adam")
    best = seen["first"].best_params
    # the last minibatch iterate is not the best one here
    assert best is not None and not np.array_equal(best, seen["last"])
    np.testing.assert_array_equal(seen["start"], best)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_the_finish_is_autos_choice_for_the_same_fit(fit_intercept):
    # uncentred columns: newton with an intercept (its coupling to their
    # means), lbfgs without one, as a plain default fit chooses
    X, y = standardized(load_breast_cancer)
    X = X + 5.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        auto = AdamLogisticRegression(fit_intercept=fit_intercept).fit(X, y)
        est = AdamLogisticRegression(
            solver="adam", fit_intercept=fit_intercept, random_state=0
        ).fit(X, y)
    assert auto.solver_ == ("newton" if fit_intercept else "lbfgs")
    assert est.solver_ == f"adam+{auto.solver_}"
