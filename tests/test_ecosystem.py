"""Pipeline, model selection, cloning, pickling and metadata routing."""

import joblib
import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import UnsetMetadataPassedError
from sklearn.metrics import accuracy_score, make_scorer
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.multiclass import OneVsRestClassifier
from sklearn.multioutput import MultiOutputClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_adamlr import AdamLogisticRegression

X, Y = load_breast_cancer(return_X_y=True)
SW = np.random.RandomState(0).randint(1, 4, size=len(Y)).astype(float)


def test_pipeline_with_scaler():
    pipe = make_pipeline(StandardScaler(), AdamLogisticRegression(random_state=0))
    pipe.fit(X, Y)
    assert pipe.score(X, Y) > 0.97
    assert pipe.predict_proba(X).shape == (len(Y), 2)


def test_grid_search_over_solver_C_and_learning_rate_in_processes():
    pipe = make_pipeline(StandardScaler(), AdamLogisticRegression(random_state=0))
    grid = GridSearchCV(
        pipe,
        {
            "adamlogisticregression__solver": ["gd", "adam", "minibatch"],
            "adamlogisticregression__C": [0.1, 1.0],
            "adamlogisticregression__learning_rate": ["auto", 0.01],
        },
        cv=3,
        n_jobs=2,
    ).fit(X, Y)
    assert len(grid.cv_results_["params"]) == 12
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()
    assert grid.best_score_ > 0.95


def test_cross_validate_clone_and_joblib(tmp_path):
    est = AdamLogisticRegression(solver="gd", random_state=0)
    pipe = make_pipeline(StandardScaler(), est)
    scores = cross_validate(pipe, X, Y, cv=3)["test_score"]
    assert scores.mean() > 0.95
    fitted = pipe.fit(X, Y)
    twin = clone(fitted)
    assert twin.get_params()["adamlogisticregression__solver"] == "gd"
    assert not hasattr(twin[-1], "coef_")
    path = tmp_path / "model.joblib"
    joblib.dump(fitted, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))


def test_metadata_routing_through_pipeline_and_grid_search():
    with sklearn.config_context(enable_metadata_routing=True):
        est = AdamLogisticRegression(
            solver="gd", random_state=0, tol=1e-10
        ).set_fit_request(sample_weight=True)
        pipe = make_pipeline(StandardScaler().set_fit_request(sample_weight=False), est)
        pipe.fit(X, Y, sample_weight=SW)
        unweighted = make_pipeline(
            StandardScaler(), AdamLogisticRegression(solver="gd", tol=1e-10)
        ).fit(X, Y)
        # the weights reached the estimator: the model differs from the unweighted
        assert not np.allclose(pipe[-1].coef_, unweighted[-1].coef_)
        # a scorer that requests the weights scores with them, through the
        # same routing, on every scikit-learn version we support
        scorer = make_scorer(accuracy_score).set_score_request(sample_weight=True)
        grid = GridSearchCV(
            pipe, {"adamlogisticregression__C": [0.1, 1.0]}, cv=3, scoring=scorer
        )
        grid.fit(X, Y, sample_weight=SW)
        assert np.isfinite(grid.cv_results_["mean_test_score"]).all()
        # the refit on the whole data got the weights too
        best_C = grid.best_params_["adamlogisticregression__C"]
        refit = clone(pipe).set_params(adamlogisticregression__C=best_C)
        refit.fit(X, Y, sample_weight=SW)
        np.testing.assert_allclose(grid.best_estimator_[-1].coef_, refit[-1].coef_)


def test_partial_fit_request_routes_through_a_meta_estimator():
    Xs = StandardScaler().fit_transform(X)
    Y2 = np.column_stack([Y, 1 - Y])
    with sklearn.config_context(enable_metadata_routing=True):
        est = AdamLogisticRegression(random_state=0, shuffle=False)
        est.set_partial_fit_request(sample_weight=True)
        multi = MultiOutputClassifier(est)
        multi.partial_fit(Xs, Y2, classes=[[0, 1], [0, 1]], sample_weight=SW)
        plain = AdamLogisticRegression(random_state=0, shuffle=False)
        plain.partial_fit(Xs, Y, classes=[0, 1], sample_weight=SW)
        np.testing.assert_array_equal(multi.estimators_[0].coef_, plain.coef_)
        # without a request, sklearn refuses to guess
        with pytest.raises(UnsetMetadataPassedError, match="sample_weight"):
            MultiOutputClassifier(AdamLogisticRegression()).partial_fit(
                Xs, Y2, classes=[[0, 1], [0, 1]], sample_weight=SW
            )


def test_sample_weight_without_routing_and_unrequested_with_routing():
    # routing off: the step__param convention of Pipeline
    legacy = make_pipeline(
        StandardScaler(), AdamLogisticRegression(solver="gd", tol=1e-10)
    ).fit(X, Y, adamlogisticregression__sample_weight=SW)
    with sklearn.config_context(enable_metadata_routing=True):
        routed = make_pipeline(
            StandardScaler().set_fit_request(sample_weight=False),
            AdamLogisticRegression(solver="gd", tol=1e-10).set_fit_request(
                sample_weight=True
            ),
        ).fit(X, Y, sample_weight=SW)
        np.testing.assert_array_equal(routed[-1].coef_, legacy[-1].coef_)
        # routing on and nothing requested: an error, not weights silently lost
        with pytest.raises(UnsetMetadataPassedError, match="sample_weight"):
            make_pipeline(StandardScaler(), AdamLogisticRegression()).fit(
                X, Y, sample_weight=SW
            )


def test_partial_fit_request_survives_grid_search_and_routes_in_one_vs_rest():
    # Pipeline and GridSearchCV have no partial_fit of their own; what they
    # must do is keep the request through clone, so that the tuned model can
    # then be streamed by a meta-estimator that routes partial_fit.
    Xs = StandardScaler().fit_transform(X)
    with sklearn.config_context(enable_metadata_routing=True):
        est = (
            AdamLogisticRegression(random_state=0, shuffle=False)
            .set_fit_request(sample_weight=True)
            .set_partial_fit_request(sample_weight=True)
            .set_score_request(sample_weight=True)
        )
        grid = GridSearchCV(
            make_pipeline(StandardScaler().set_fit_request(sample_weight=False), est),
            {"adamlogisticregression__C": [0.1, 1.0]},
            cv=3,
        ).fit(X, Y, sample_weight=SW)
        assert np.isfinite(grid.cv_results_["mean_test_score"]).all()
        tuned = grid.best_estimator_[-1]
        requests = tuned.get_metadata_routing().partial_fit.requests
        assert requests["sample_weight"] is True
        ovr = OneVsRestClassifier(clone(tuned))
        ovr.partial_fit(Xs, Y, classes=[0, 1], sample_weight=SW)
        plain = clone(tuned).partial_fit(Xs, Y, classes=[0, 1], sample_weight=SW)
        np.testing.assert_array_equal(ovr.estimators_[0].coef_, plain.coef_)
        # the weights made a difference
        unweighted = clone(tuned).partial_fit(Xs, Y, classes=[0, 1])
        assert not np.array_equal(unweighted.coef_, plain.coef_)


def test_clone_keeps_every_parameter_and_no_fitted_state():
    est = AdamLogisticRegression(
        solver="minibatch", C=0.3, schedule="invscaling", batch_size=32, random_state=7
    )
    est.partial_fit(X[:100], Y[:100], classes=[0, 1])
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    fitted_attrs = [k for k in vars(twin) if k.endswith("_") and not k.startswith("_")]
    assert fitted_attrs == []
    assert not hasattr(twin, "_stream")


def test_joblib_round_trip_resumes_a_stream_exactly(tmp_path):
    Xs = StandardScaler().fit_transform(X)
    kw = dict(solver="adam", random_state=0, batch_size=50)
    chunks = [(Xs[i::3], Y[i::3]) for i in range(3)]
    straight = AdamLogisticRegression(**kw)
    for Xc, yc in chunks:
        straight.partial_fit(Xc, yc, classes=[0, 1])
    est = AdamLogisticRegression(**kw).partial_fit(*chunks[0], classes=[0, 1])
    path = tmp_path / "stream.joblib"
    joblib.dump(est, path)
    est = joblib.load(path)
    for Xc, yc in chunks[1:]:
        est.partial_fit(Xc, yc)
    np.testing.assert_array_equal(est.coef_, straight.coef_)
    assert est.loss_curve_ == straight.loss_curve_


def test_select_from_model_keeps_every_feature_of_an_l1_model():
    from sklearn.feature_selection import SelectFromModel

    Xs = StandardScaler().fit_transform(X)
    model = AdamLogisticRegression(solver="gd", l1_ratio=1.0, C=0.1)
    assert model.penalty == "l1" and "penalty" not in model.get_params()
    selector = SelectFromModel(model).fit(Xs, Y)
    # scikit-learn's threshold for an L1 model, 1e-5, not the mean: all 8
    # non-zero coefficients (the 'mean' kept 6)
    coef = selector.estimator_.coef_
    assert selector.get_support().sum() == np.count_nonzero(coef) == 8
    assert AdamLogisticRegression(l1_ratio=0.5).penalty == "elasticnet"
    assert AdamLogisticRegression().penalty == "l2"
    assert AdamLogisticRegression(C=np.inf, l1_ratio=1.0).penalty is None


def test_the_default_l1_fit_has_the_optimums_support():
    # solver='auto' takes gd's proximal steps with an L1 part: at C=0.01 the
    # optimum keeps 2 features; lbfgs, adam and saga at the default tol keep
    # 3 (measured: a third coefficient of 1.4e-4 to 0.13), minibatch 2 or 3
    from sklearn.feature_selection import SelectFromModel
    from test_parity import l1_reference

    Xs = StandardScaler().fit_transform(X)
    coef, _ = l1_reference(Xs, Y, 0.01, 1.0, np.ones(len(Y)))
    model = AdamLogisticRegression(l1_ratio=1.0, C=0.01)
    selector = SelectFromModel(model).fit(Xs, Y)
    assert selector.estimator_.solver_ == "gd"
    np.testing.assert_array_equal(selector.get_support(), coef.ravel() != 0)
    assert selector.get_support().sum() == 2
