"""``AdamLogisticRegressionCV``: the path over C against LogisticRegressionCV."""

import pickle
import warnings

import numpy as np
import pytest
from conftest import standardized
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from sklearn_adamlr import (
    AdamLogisticRegression,
    AdamLogisticRegressionCV,
    logistic_objective,
)
from sklearn_adamlr._loss import loss_for
from sklearn_adamlr._path import fit_path

X, Y = standardized(load_breast_cancer)
CV = StratifiedKFold(5)


def _reference(X, y, Cs=10, l1_ratios=(0.0,), **kw):
    return LogisticRegressionCV(
        Cs=Cs, cv=CV, l1_ratios=l1_ratios, scoring="accuracy",
        use_legacy_attributes=False, tol=1e-10, max_iter=10_000, **kw,
    ).fit(X, y)  # fmt: skip


@pytest.mark.parametrize("load", [load_breast_cancer, load_wine])
def test_the_search_matches_logistic_regression_cv(load):
    X, y = standardized(load)
    ref = _reference(X, y)
    est = AdamLogisticRegressionCV(Cs=10, cv=CV).fit(X, y)
    np.testing.assert_allclose(est.Cs_, ref.Cs_)
    assert est.scores_.shape == ref.scores_.shape == (5, 1, 10)
    # the same folds and optima: accuracies equal but where a held-out
    # sample sits on the boundary (measured: all equal on breast_cancer and
    # wine)
    assert np.abs(est.scores_ - ref.scores_).max() <= 1e-3
    assert est.C_ == ref.C_
    assert est.coefs_paths_.shape == (5, 1, 10, est.coef_.shape[0], X.shape[1] + 1)
    assert est.n_iter_.shape == (5, 1, 10)
    # the refit lands on the same model
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=0, atol=1e-3)
    assert est.score(X, y) == pytest.approx(ref.score(X, y), abs=0.01)


def test_l1_ratios_match_saga_on_the_same_grid():
    X, y = standardized(load_breast_cancer)
    grid = dict(Cs=[0.01, 0.1, 1.0], l1_ratios=[0.5, 1.0])
    ref = LogisticRegressionCV(
        cv=CV, solver="saga", tol=1e-8, max_iter=20_000, scoring="accuracy",
        use_legacy_attributes=False, **grid,
    ).fit(X, y)  # fmt: skip
    est = AdamLogisticRegressionCV(cv=CV, **grid).fit(X, y)
    assert est.scores_.shape == ref.scores_.shape == (5, 2, 3)
    assert (est.C_, est.l1_ratio_) == (ref.C_, ref.l1_ratio_)
    # Every fit is at least as low as saga's: saga hit its 20,000 epochs on
    # some (fold 1, l1_ratio=1, C=1: 37.9062 against ours 37.8967, one
    # held-out sample apart in accuracy; every other score equal).
    folds = list(CV.split(X, y))
    excess = []
    for f, (train, _) in enumerate(folds):
        for i, l1_ratio in enumerate(grid["l1_ratios"]):
            for j, C in enumerate(grid["Cs"]):
                values = [
                    logistic_objective(
                        X[train],
                        y[train],
                        p[:, :-1],
                        p[:, -1],
                        C=C,
                        l1_ratio=l1_ratio,
                    )  # fmt: skip
                    for p in (est.coefs_paths_[f, i, j], ref.coefs_paths_[f, i, j])
                ]
                excess.append(values[0] / values[1] - 1)
    # The folds' fits certify a model decrease of at most 1e-4 of the
    # objective (the first-order share; newton's own 1e-8 is the refit's):
    # measured at most 1.5e-6 above saga's (2e-9 at 1e-8).
    assert max(excess) <= 3e-6
    assert np.abs(est.scores_ - ref.scores_).max() <= 1 / 113 + 1e-12
    assert np.count_nonzero(est.scores_ != ref.scores_) <= 1


def test_warm_starts_take_fewer_epochs_than_cold_fits():
    Cs = np.logspace(-4, 4, 10)
    template = AdamLogisticRegression()
    loss_target = Y.astype(float)
    loss = loss_for(2)
    warm = fit_path(template, X, loss_target, None, loss, 2, Cs, 0.0)
    assert warm.solvers == ["newton"] * 10  # a path's rule (see _auto)
    cold = [AdamLogisticRegression(C=C, solver="newton").fit(X, Y).n_iter_ for C in Cs]
    # measured: 43 Newton steps along the path against 88 cold (lbfgs: 1,012
    # epochs against 1,375)
    assert warm.n_iter.sum() <= 0.6 * sum(cold)
    assert warm.converged.all()
    # each fit is the cold fit's optimum, in objective (the weak penalties'
    # coefficients are large and loosely determined)
    for C, params in zip(Cs, warm.params, strict=True):
        cold_fit = AdamLogisticRegression(C=C, solver="newton").fit(X, Y)
        value = logistic_objective(X, Y, params[None, :-1, 0], params[-1], C=C)
        best = logistic_objective(X, Y, cold_fit.coef_, cold_fit.intercept_, C=C)
        assert abs(value - best) <= 1e-7 * best


def test_in_a_pipeline_under_cross_validate_with_strings_and_weights():
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    model = make_pipeline(StandardScaler(), AdamLogisticRegressionCV(Cs=4, cv=3))
    scores = cross_validate(model, X, names, cv=3)["test_score"]
    assert scores.mean() > 0.9
    sw = np.random.RandomState(0).uniform(0.5, 2.0, len(y))
    est = AdamLogisticRegressionCV(Cs=4, cv=3).fit(X, names, sample_weight=sw)
    assert list(est.classes_) == list(names[[0, 50, 100]])
    assert est.coef_.shape == (3, 4)
    assert set(est.predict(X)) <= set(names)
    # weights matter: integer weights equal repeated rows
    w = np.random.RandomState(1).randint(1, 3, len(y))
    a = AdamLogisticRegressionCV(Cs=[1.0], cv=3, tol=1e-8).fit(X, y, sample_weight=w)
    b = AdamLogisticRegressionCV(Cs=[1.0], cv=3, tol=1e-8).fit(
        np.repeat(X, w, axis=0), np.repeat(y, w)
    )
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=0, atol=1e-5)


def test_refit_false_averages_the_folds():
    est = AdamLogisticRegressionCV(Cs=5, cv=CV, refit=False).fit(X, Y)
    best = est.scores_.reshape(5, -1).argmax(axis=1)
    assert est.C_ == pytest.approx(est.Cs_[best].mean())
    mean = est.coefs_paths_[np.arange(5), 0, best, 0, :-1].mean(axis=0)
    np.testing.assert_allclose(est.coef_[0], mean)
    # the pair's other half and the folds' solver, without a refit
    assert est.l1_ratio_ == 0.0
    assert est.solver_ == "newton"


def test_a_failed_fit_changes_nothing():
    est = AdamLogisticRegressionCV(Cs=3, cv=3).fit(X, Y)
    before = pickle.dumps(est)
    with pytest.raises(ValueError, match="Cs must be positive"):
        est.set_params(Cs=[-1.0, 1.0]).fit(X, Y)
    est.set_params(Cs=3)
    with pytest.raises(ValueError):
        est.fit(X[:, :3] * np.nan, Y)
    assert pickle.dumps(est) == before

    # a failure mid-search, after the new data's checks set n_features_in_
    def failing(estimator, X, y):
        raise RuntimeError("the scorer failed")

    with pytest.raises(RuntimeError, match="the scorer failed"):
        est.set_params(scoring=failing).fit(X[:, :5], Y)
    est.set_params(scoring=None)
    assert pickle.dumps(est) == before


def test_non_converged_fits_warn_once():
    with pytest.warns(ConvergenceWarningType, match="of the search's fits"):
        AdamLogisticRegressionCV(Cs=3, cv=3, max_iter=2).fit(X, Y)


from sklearn.exceptions import ConvergenceWarning as ConvergenceWarningType  # noqa: E402


def test_sklearn_check_estimator():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarningType)
        check_estimator(AdamLogisticRegressionCV(Cs=3, cv=3))


def test_folds_in_parallel_give_the_same_search():
    one = AdamLogisticRegressionCV(Cs=4, cv=CV).fit(X, Y)
    two = AdamLogisticRegressionCV(Cs=4, cv=CV, n_jobs=2).fit(X, Y)
    np.testing.assert_array_equal(one.scores_, two.scores_)
    np.testing.assert_array_equal(one.coef_, two.coef_)


def test_metadata_routes_to_the_splitter_and_the_scorer():
    import sklearn
    from sklearn.metrics import get_scorer
    from sklearn.model_selection import GroupKFold

    groups = np.arange(len(Y)) % 5
    sw = np.random.RandomState(0).uniform(0.5, 2.0, len(Y))
    with sklearn.config_context(enable_metadata_routing=True):
        scorer = get_scorer("accuracy").set_score_request(sample_weight=True)
        est = AdamLogisticRegressionCV(Cs=3, cv=GroupKFold(5), scoring=scorer)
        est.fit(X, Y, sample_weight=sw, groups=groups)
        # the splitter got the groups: each fold holds out one group
        folds = list(GroupKFold(5).split(X, Y, groups))
        assert est.scores_.shape == (5, 1, 3)
        # the scorer got the held-out rows' weights
        train, test = folds[0]
        model = AdamLogisticRegression(C=est.Cs_[0])
        coef = est.coefs_paths_[0, 0, 0]
        model.classes_, model.n_features_in_ = est.classes_, X.shape[1]
        model.coef_, model.intercept_ = coef[:, :-1], coef[:, -1]
        expected = get_scorer("accuracy")(
            model, X[test], Y[test], sample_weight=sw[test]
        )
        assert est.scores_[0, 0, 0] == pytest.approx(expected)
        unweighted = get_scorer("accuracy")(model, X[test], Y[test])
        assert abs(unweighted - expected) > 1e-3  # the weights mattered
    # without routing, groups are refused as sklearn's estimators refuse them
    with pytest.raises(ValueError, match="groups"):
        AdamLogisticRegressionCV(Cs=3).fit(X, Y, groups=groups)


def test_score_is_the_scoring_of_the_refit_model():
    import sklearn
    from sklearn.metrics import get_scorer, log_loss

    sw = np.random.RandomState(1).exponential(size=len(Y))
    est = AdamLogisticRegressionCV(Cs=3, cv=CV, scoring="neg_log_loss").fit(X, Y)
    proba = est.predict_proba(X)
    assert est.score(X, Y) == pytest.approx(-log_loss(Y, proba), rel=1e-12)
    weighted = -log_loss(Y, proba, sample_weight=sw)
    assert est.score(X, Y, sample_weight=sw) == pytest.approx(weighted, rel=1e-12)
    assert abs(weighted + log_loss(Y, proba)) > 1e-3  # the weights matter here
    # the default: accuracy
    default = AdamLogisticRegressionCV(Cs=3, cv=CV).fit(X, Y)
    right = default.predict(X) == Y
    assert default.score(X, Y) == right.mean()
    assert default.score(X, Y, sample_weight=sw) == pytest.approx(
        np.average(right, weights=sw), rel=1e-12
    )
    # routed: score's weights reach a scorer that asks for them
    with sklearn.config_context(enable_metadata_routing=True):
        est.set_params(
            scoring=get_scorer("neg_log_loss").set_score_request(sample_weight=True)
        )
        assert est.score(X, Y, sample_weight=sw) == pytest.approx(weighted, rel=1e-12)
        # the default scorer (accuracy) routed as well
        assert default.score(X, Y) == right.mean()
    # without routing, other metadata are refused, as scikit-learn's are
    with pytest.raises(ValueError, match="score"):
        est.score(X, Y, groups=np.zeros(len(Y)))


@pytest.mark.parametrize("load", [load_breast_cancer, load_wine])
def test_held_out_accuracy_matches_logistic_regression_cv(load):
    from sklearn.model_selection import train_test_split

    X, y = standardized(load)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    ref = LogisticRegressionCV(
        Cs=10, cv=CV, l1_ratios=(0.0,), scoring="accuracy",
        use_legacy_attributes=False,
    ).fit(X_train, y_train)  # fmt: skip
    est = AdamLogisticRegressionCV(Cs=10, cv=CV).fit(X_train, y_train)
    # the chosen C's mean score within 1e-3 of LogisticRegressionCV's best
    # (at its defaults), and the same accuracy on the held-out 30% within
    # 0.01 (measured: equal C and accuracy on both)
    assert est.scores_.mean(axis=0).max() >= ref.scores_.mean(axis=0).max() - 1e-3
    assert abs(est.score(X_test, y_test) - ref.score(X_test, y_test)) <= 0.01


def test_the_folds_certify_at_the_first_order_share_and_the_refit_at_its_own(
    monkeypatch,
):
    # the folds' newton fits only give scores: a model decrease within 1e-4
    # of the objective; the refit, the model returned, newton's own 1e-8
    from sklearn_adamlr import _certify

    shares = []
    original = _certify.Certificate.begin

    def begin(self, loop):
        original(self, loop)
        shares.append(self.gap_share)

    monkeypatch.setattr(_certify.Certificate, "begin", begin)
    est = AdamLogisticRegressionCV(Cs=[0.1, 1.0], cv=CV).fit(X, Y)
    assert est.solver_ == "newton"
    assert shares == [1e-4] * 10 + [1e-8]


# ------------------------------------- the search's settings reach its fits
# (a mutation run over _cv.py and _path.py found each of them unchecked)


def test_class_weight_is_the_sample_weight_of_each_class():
    cw = {0: 3.0, 1: 0.5}
    by_class = AdamLogisticRegressionCV(Cs=3, cv=CV, class_weight=cw).fit(X, Y)
    weighted = AdamLogisticRegressionCV(Cs=3, cv=CV).fit(
        X, Y, sample_weight=np.where(Y == 0, 3.0, 0.5)
    )
    np.testing.assert_allclose(by_class.coefs_paths_, weighted.coefs_paths_, atol=1e-12)
    np.testing.assert_allclose(by_class.coef_, weighted.coef_, atol=1e-12)
    plain = AdamLogisticRegressionCV(Cs=3, cv=CV).fit(X, Y)
    assert np.abs(plain.coefs_paths_ - by_class.coefs_paths_).max() > 0.1


def test_fit_intercept_solver_and_tol_reach_the_fits():
    est = AdamLogisticRegressionCV(Cs=3, cv=CV, fit_intercept=False).fit(X, Y)
    assert est.coefs_paths_.shape == (5, 1, 3, 1, X.shape[1])
    assert np.all(est.intercept_ == 0)
    # the refit lands on the optimum without an intercept (measured 5e-9 above
    # a fit at tol=1e-10, in objective)
    best = AdamLogisticRegression(C=est.C_, fit_intercept=False, tol=1e-10).fit(X, Y)
    values = [
        logistic_objective(X, Y, m.coef_, np.zeros(1), C=est.C_) for m in (est, best)
    ]
    assert values[0] == pytest.approx(values[1], rel=1e-8)
    est = AdamLogisticRegressionCV(Cs=[0.1, 1.0], cv=CV, solver="gd").fit(X, Y)
    assert est.solver_ == "gd"
    # a tighter tol: more epochs for every path (measured 102 and 131 in all
    # at 1e-2 and 1e-8 on 3 Cs)
    loose = AdamLogisticRegressionCV(Cs=3, cv=CV, tol=1e-2).fit(X, Y)
    tight = AdamLogisticRegressionCV(Cs=3, cv=CV, tol=1e-8).fit(X, Y)
    assert tight.n_iter_.sum() > 1.2 * loose.n_iter_.sum()


def test_a_stochastic_solvers_search_is_reproducible():
    kw = dict(Cs=[0.1, 1.0], cv=3, solver="adam", random_state=0, max_iter=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarningType)
        one = AdamLogisticRegressionCV(**kw).fit(X, Y)
        two = AdamLogisticRegressionCV(**kw).fit(X, Y)
        other = AdamLogisticRegressionCV(**{**kw, "random_state": 1}).fit(X, Y)
    np.testing.assert_array_equal(one.coefs_paths_, two.coefs_paths_)
    np.testing.assert_array_equal(one.coef_, two.coef_)
    assert not np.array_equal(one.coefs_paths_, other.coefs_paths_)


@pytest.mark.parametrize(
    "grid, message",
    [
        ({"Cs": [0.0, 1.0]}, "Cs must be positive"),
        ({"l1_ratios": [1.5]}, r"l1_ratios must be values in \[0, 1\]"),
        ({"l1_ratios": [-0.1]}, r"l1_ratios must be values in \[0, 1\]"),
        ({"l1_ratios": []}, r"l1_ratios must be values in \[0, 1\]"),
    ],
)
def test_a_grid_outside_the_parameters_domain_is_refused(grid, message):
    with pytest.raises(ValueError, match=message):
        AdamLogisticRegressionCV(cv=3, **grid).fit(X, Y)


def test_float32_data_stay_float32():
    est = AdamLogisticRegressionCV(Cs=3, cv=CV).fit(X.astype(np.float32), Y)
    assert est.coefs_paths_.dtype == est.coef_.dtype == np.float32


def test_the_path_starts_each_fit_from_its_neighbours(monkeypatch):
    # From the third C on, the start is the last two solutions' line
    # extrapolated in log C; the refit starts from the folds' mean at the
    # chosen C; raw features take fit's preconditioner (lbfgs)
    from sklearn_adamlr import _cv, _path

    starts, preconds = [], []
    original = _path.fresh_run

    def fresh_run(template, problem, solver, params, **kw):
        starts.append(params.copy())
        preconds.append(problem.precond)
        return original(template, problem, solver, params, **kw)

    monkeypatch.setattr(_path, "fresh_run", fresh_run)
    Cs = np.array([0.01, 0.1, 1.0, 10.0])
    loss_target = Y.astype(float)
    path = fit_path(AdamLogisticRegression(), X, loss_target, None, loss_for(2), 2,
                    Cs, 0.0)  # fmt: skip
    fits = path.params
    np.testing.assert_array_equal(starts[0], 0.0)
    np.testing.assert_array_equal(starts[1], fits[0])
    for i in (2, 3):
        ratio = np.log(Cs[i] / Cs[i - 1]) / np.log(Cs[i - 1] / Cs[i - 2])
        expected = fits[i - 1] + ratio * (fits[i - 1] - fits[i - 2])
        np.testing.assert_allclose(starts[i], expected, rtol=1e-12, atol=1e-15)
    assert all(p is None for p in preconds)  # standardized: none
    # raw breast_cancer under lbfgs: the preconditioner at every C
    raw, y = load_breast_cancer(return_X_y=True)
    preconds.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarningType)
        fit_path(AdamLogisticRegression(solver="lbfgs", max_iter=3), raw,
                 y.astype(float), None, loss_for(2), 2, Cs[:2], 0.0)  # fmt: skip
    assert len(preconds) == 2 and all(p is not None for p in preconds)
    # the refit: from the mean of the folds' solutions at the chosen C
    calls = []
    original_path = _cv.fit_path

    def spy(*args, **kw):
        calls.append(kw.get("start"))
        return original_path(*args, **kw)

    monkeypatch.setattr(_cv, "fit_path", spy)
    est = AdamLogisticRegressionCV(Cs=3, cv=CV).fit(X, Y)
    best = int(np.argmax(est.scores_.mean(axis=0).ravel()))
    mean = est.coefs_paths_[:, 0, best, 0].mean(axis=0)
    np.testing.assert_allclose(calls[-1].ravel(), mean, rtol=1e-12)
    assert all(start is None for start in calls[:-1])  # the folds' paths


def test_the_warning_counts_the_fits_that_stopped_short():
    # 3 folds x 3 Cs and the refit, none certified in one epoch
    with pytest.warns(ConvergenceWarningType, match="^10 of the search's fits"):
        AdamLogisticRegressionCV(Cs=3, cv=3, max_iter=1).fit(X, Y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarningType)
        AdamLogisticRegressionCV(Cs=3, cv=3).fit(X, Y)


def test_an_l1_path_under_a_weak_penalty_takes_fista_not_newton():
    # (see _auto's path rule: newton's coordinate descent crawls there)
    Cs = np.array([1.0, 1e4])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarningType)
        path = fit_path(AdamLogisticRegression(max_iter=3), X, Y.astype(float),
                        None, loss_for(2), 2, Cs, 1.0)  # fmt: skip
    assert path.solvers == ["newton", "gd"]
