"""scikit-learn's callbacks (``sklearn.callback``, 1.9+): each epoch a subtask."""

import pickle
import warnings

import numpy as np
import pytest
from conftest import standardized
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_adamlr import (
    AdamLogisticRegression,
    available_solvers,
    logistic_objective,
)

callback = pytest.importorskip("sklearn.callback")

X, Y = standardized(load_breast_cancer)


class StopAfter:
    """Asks to stop after ``n`` epochs; records the epochs' fitted estimators."""

    def __init__(self, n):
        self.n = n
        self.fitted = []

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context, *, fitted_estimator):
        if context.task_name != "epoch":
            return False
        self.fitted.append(fitted_estimator)
        return len(self.fitted) >= self.n


@pytest.mark.parametrize("solver", available_solvers())
def test_scoring_monitor_logs_one_row_per_epoch(solver):
    monitor = callback.ScoringMonitor(scoring="neg_log_loss")
    est = AdamLogisticRegression(solver=solver, random_state=0, max_iter=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a third-party solver may not converge
        est.set_callbacks(monitor).fit(X, Y)
    rows = monitor.get_logs().data
    assert len(rows) == est.n_iter_
    assert [row["task_id"] for row in rows] == list(range(est.n_iter_))
    assert {row["task_name"] for row in rows} == {"epoch"}
    # each row scored the model of its epoch: the loss curve's trend, and
    # the last row the last epoch's point (returned when it converged)
    losses = [-row["neg_log_loss"] for row in rows]
    assert losses[-1] < losses[0]
    if est.optimality_ <= est.tol:
        assert losses[-1] == pytest.approx(log_loss(Y, est.predict_proba(X)))


def test_the_callbacks_get_the_fits_sample_weight():
    # fit's sample_weight reaches the callbacks as metadata, so the monitor
    # scores the weighted loss (measured 0.0552 here, unweighted 0.0519)
    sw = np.random.RandomState(0).uniform(0.1, 3.0, size=len(Y))
    monitor = callback.ScoringMonitor(scoring="neg_log_loss")
    est = AdamLogisticRegression(random_state=0).set_callbacks(monitor)
    est.fit(X, Y, sample_weight=sw)
    assert est.optimality_ <= est.tol  # the last row scored the model returned
    last = -monitor.get_logs().data[-1]["neg_log_loss"]
    proba = est.predict_proba(X)
    assert last == pytest.approx(log_loss(Y, proba, sample_weight=sw), rel=1e-12)
    assert last != pytest.approx(log_loss(Y, proba), rel=1e-3)


def test_a_callback_stops_the_fit_and_the_best_point_is_returned():
    stop = StopAfter(4)
    # minibatch measures each epoch's end by a pass of its own
    est = AdamLogisticRegression(solver="minibatch", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a requested stop is no failure
        est.set_callbacks(stop).fit(X, Y)
    assert est.n_iter_ == 4 and len(stop.fitted) == 4
    assert est.optimality_ > est.tol
    # each epoch's fitted estimator is the model of its own epoch
    objectives = [
        logistic_objective(X, Y, model.coef_, model.intercept_, C=1.0)
        for model in stop.fitted
    ]
    assert len(set(objectives)) == 4
    assert stop.fitted[0].predict(X).shape == Y.shape
    # the returned point is the epoch of lowest objective
    best = stop.fitted[int(np.argmin(objectives))]
    np.testing.assert_array_equal(est.coef_, best.coef_)
    # the same fit without the callback goes on
    plain = AdamLogisticRegression(solver="minibatch", random_state=0).fit(X, Y)
    assert plain.n_iter_ > 4


def test_callbacks_set_inside_a_pipeline_inside_a_grid_search_log():
    monitor = callback.ScoringMonitor(scoring="accuracy")
    inner = AdamLogisticRegression(solver="lbfgs").set_callbacks(monitor)
    search = GridSearchCV(
        make_pipeline(StandardScaler(), inner),
        {"adamlogisticregression__C": [0.1, 1.0]},
        cv=2,
    )
    search.fit(X, Y)
    rows = monitor.get_logs().data
    # 2 candidates x 2 folds, and the refit: every fit's epochs
    fits = {row["task_id_path"][:-1] for row in rows}
    assert len(fits) == 5
    assert all(row["task_name"] == "epoch" for row in rows)


def test_partial_fit_reports_its_epoch():
    monitor = callback.ScoringMonitor(scoring="accuracy")
    Xi, yi = standardized(load_iris)
    est = AdamLogisticRegression(random_state=0).set_callbacks(monitor)
    for _ in range(3):
        est.partial_fit(Xi, yi, classes=[0, 1, 2])
    logs = monitor.get_logs(select="all")
    assert [len(log.data) for log in logs] == [1, 1, 1]


def test_callbacks_change_no_number():
    plain = AdamLogisticRegression(random_state=0).fit(X, Y)
    monitor = callback.ScoringMonitor(scoring="accuracy")
    watched = AdamLogisticRegression(random_state=0).set_callbacks(monitor).fit(X, Y)
    np.testing.assert_array_equal(plain.coef_, watched.coef_)
    assert plain.loss_curve_ == watched.loss_curve_
    # and the fitted estimator pickles with its callbacks
    assert pickle.loads(pickle.dumps(watched)).n_iter_ == watched.n_iter_


def test_a_failed_fit_with_callbacks_changes_nothing_and_tears_them_down():
    pytest.importorskip("rich")
    est = AdamLogisticRegression(solver="lbfgs").fit(X, Y)
    before = est.coef_.copy()
    bar = callback.ProgressBar()
    est.set_callbacks(bar).set_params(solver="minibatch", learning_rate=1e300)
    with pytest.raises(ValueError, match="Training diverged"):
        est.fit(X * 1e200, Y)
    np.testing.assert_array_equal(est.coef_, before)
    # the fit's context was closed: nothing of it is left on the estimator
    assert not hasattr(est, "_callback_fit_ctx")
    assert est._skl_callbacks == [bar]


def test_the_progress_bar_follows_the_epochs(capsys):
    pytest.importorskip("rich")
    est = AdamLogisticRegression(solver="gd").set_callbacks(callback.ProgressBar())
    est.fit(X, Y)
    assert "AdamLogisticRegression - fit" in capsys.readouterr().out


class _Context:
    """Stands in for a scikit-learn callback context: records the calls."""

    def __init__(self, stop_after=None):
        self.calls, self.stop_after, self.ends = [], stop_after, 0

    def subcontext(self, task_name):
        self.calls.append(("subcontext", task_name))
        return self

    def call_on_fit_task_begin(self, **kwargs):
        self.calls.append(("begin", sorted(kwargs)))

    def call_on_fit_task_end(self, **kwargs):
        self.calls.append(("end", sorted(kwargs)))
        self.ends += 1
        fitted = kwargs.get("reconstruction_attributes")
        if fitted is not None:
            self.fitted = fitted()  # evaluated now, on the live point
        return self.stop_after is not None and self.ends >= self.stop_after


def test_the_callback_monitor_alone():
    from types import SimpleNamespace

    from sklearn_adamlr._callbacks import SklearnCallbacks

    context = _Context(stop_after=2)
    params = np.zeros((3, 1))
    monitor = SklearnCallbacks(
        context, "est", "X", "y", None, lambda p: {"coef_": p[:2].T.copy()}
    )
    loop = SimpleNamespace(params=params)
    monitor.begin(loop)
    monitor.before_epoch(loop)
    params[:2] = 1.0
    assert monitor.after_epoch(loop, SimpleNamespace(epoch=1)) is None
    # the fitted attributes are those of the point at the epoch's end
    np.testing.assert_array_equal(context.fitted["coef_"], [[1.0, 1.0]])
    monitor.before_epoch(loop)
    stop = monitor.after_epoch(loop, SimpleNamespace(epoch=2))
    assert stop.requested and not stop.converged and "epoch 2" in stop.message
    monitor.end()
    kinds = [call[0] for call in context.calls]
    epoch = ["subcontext", "begin", "end"]
    assert kinds == ["begin", *epoch, *epoch, "end"]
    assert ("subcontext", "epoch") in context.calls
    arguments = ["X", "estimator", "metadata", "y"]
    assert context.calls[0] == ("begin", arguments)
    assert context.calls[3] == (
        "end",
        sorted([*arguments, "reconstruction_attributes"]),
    )
    assert context.calls[-1] == ("end", arguments)  # the fit's: no row of its own
