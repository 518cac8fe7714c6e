"""The training loop's spine and each of its policies, one at a time.

Each policy (a monitor, see ``sklearn_adamlr._monitors``) is driven here on
its own, through a real loop on a small problem or a stand-in loop, and
checked against numbers computed independently of the package.
"""

import os
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import standardized
from scipy.special import expit
from sklearn.datasets import load_breast_cancer

from sklearn_adamlr import RisingLossWarning, _hessian, get_solver
from sklearn_adamlr._certify import (
    MIN_RATE_SCALE,
    NEAR,
    Certificate,
    NewtonStep,
    SecantStep,
    StallResponse,
)
from sklearn_adamlr._loss import loss_for
from sklearn_adamlr._monitors import (
    GrowBatch,
    Monitor,
    Restart,
    ScaleStep,
    SetStep,
    Stop,
    TakeDirection,
)
from sklearn_adamlr._penalties import ElasticNet
from sklearn_adamlr._policies import (
    IterateAverage,
    RisingLossWatch,
    ValidationStop,
    VerboseLog,
    rising,
)
from sklearn_adamlr._problem import Problem
from sklearn_adamlr._schedules import Constant
from sklearn_adamlr._training import Loop, run

X, Y = standardized(load_breast_cancer)
X = np.ascontiguousarray(X[:200])
Y = Y[:200]
D = X.shape[1]


def _loop(solver="gd", batch_size=None, tol=1e-5, alpha=0.0, l1_ratio=0.0):
    loss = loss_for(2)
    problem = Problem(
        X=X,
        target=loss.encode(Y, X.dtype),
        sample_weight=None,
        loss=loss,
        penalty=ElasticNet(alpha=alpha, l1_ratio=l1_ratio),
        fit_intercept=True,
    )
    solver = get_solver(solver)
    params = np.zeros((D + 1, 1))
    return Loop(
        problem,
        solver,
        params,
        solver.init_state(params),
        learning_rate=0.1,
        schedule=Constant(),
        t=0,
        batch_size=batch_size or len(Y),
        mode=False,
        rng=np.random.RandomState(0),
        tol=tol,
        rate_scale=1.0,
        rate_for_batch=lambda size: 0.1 * size / len(Y),
    )


def _report(epoch=1, objective=1.0, params=None):
    return SimpleNamespace(
        epoch=epoch,
        objective=objective,
        params=params,
        optimality=None,
        validation_score=None,
        notes=[],
        elapsed=0.0,
    )


def _gradient(params):
    """The mean log-loss gradient, written here from the formula."""
    residual = expit(X @ params[:D, 0] + params[D, 0]) - Y
    return np.r_[X.T @ residual, residual.sum()] / len(Y)


# ------------------------------------------------------------- the spine


class _Script(Monitor):
    """Answers each epoch with the actions scripted for it; records the hooks."""

    def __init__(self, script):
        self.script = script
        self.calls = []

    def begin(self, loop):
        self.calls.append("begin")

    def before_epoch(self, loop):
        self.calls.append("before")

    def after_epoch(self, loop, report):
        self.calls.append(("after", report.epoch))
        return self.script.get(report.epoch)

    def restarted(self, loop):
        self.calls.append("restarted")

    def finish(self, loop, result):
        self.calls.append("finish")


def test_the_spine_carries_out_each_action_at_once():
    loop = _loop(solver="minibatch", batch_size=50)
    point = np.full((D + 1, 1), 0.25)
    script = _Script(
        {
            1: ScaleStep(0.5, "halved"),
            2: (Restart(point), GrowBatch(100, "doubled")),
            3: SetStep(0.02),
            4: Stop(True, "done"),
        }
    )
    seen = []

    class After(Monitor):
        # sees each action's effect in the same epoch
        def after_epoch(self, loop, report):
            seen.append((loop.rate_scale, loop.batch_size, loop.learning_rate))
            seen.append(list(report.notes))

    result = run(loop, [script, After()], max_epochs=10)
    assert result.n_epochs == 4 and result.converged and not result.requested_stop
    assert loop.batch_size == 100 and len(loop.bounds[0]) == 2
    assert seen[0] == (0.5, 50, 0.1) and seen[1] == ["halved"]
    # GrowBatch took rate_for_batch's step for the new batch
    assert seen[2] == (0.5, 100, 0.1 * 100 / len(Y)) and seen[3] == ["doubled"]
    assert seen[4][2] == 0.02
    assert script.calls[:3] == ["begin", "before", ("after", 1)]
    assert "restarted" in script.calls and script.calls[-1] == "finish"
    # 4 epochs of 50, 50, 100 and 100 rows: the updates counted
    assert result.t == 4 + 4 + 2 + 2


def test_a_restart_starts_from_the_point_with_a_fresh_state():
    loop = _loop(solver="adam", batch_size=50)
    run(loop, [], max_epochs=2)
    assert np.any(loop.state.m != 0)
    point = np.full((D + 1, 1), 0.5)
    loop.monitors = (recorder := _Script({}),)
    Restart(point).apply(loop)
    np.testing.assert_array_equal(loop.params, point)
    assert not np.any(loop.state.m) and recorder.calls == ["restarted"]


def test_the_first_stop_of_an_epoch_is_kept():
    loop = _loop()
    result = run(
        loop,
        [_Script({2: Stop(False, "first", requested=True)}), _Script({2: Stop(True)})],
        max_epochs=5,
    )
    assert result.n_epochs == 2 and result.requested_stop and not result.converged
    assert loop.stop.message == "first"


# --------------------------------------------------------- the certificate


def test_the_certificate_measures_the_start_and_stops_at_tol():
    # C=1: alpha = 1 / (C * n_samples)
    loop = _loop(solver="minibatch", batch_size=50, tol=1e-3, alpha=1 / len(Y))
    cert = Certificate(tol=1e-3)
    cert.begin(loop)
    # at zero: log(2), and the gradient's max-abs, from the formula (the
    # penalty's gradient is zero there)
    assert cert.start_objective == pytest.approx(np.log(2), rel=1e-12)
    expected = np.abs(_gradient(loop.params)).max()
    assert cert.last == pytest.approx(expected, rel=1e-10)
    # an epoch that did not move: a stall, and no stop
    report = _report()
    assert cert.after_epoch(loop, report) is None
    assert cert.stalled == 1 and report.optimality == cert.last
    # a point of lower objective becomes the best point, kept as a copy
    loop.params[:D, 0] = 0.1 * np.sign(-_gradient(loop.params)[:D])
    cert.after_epoch(loop, _report())
    assert cert.stalled == 0 and cert.best_objective < np.log(2)
    best = loop.params.copy()
    loop.params[...] = 0.0
    np.testing.assert_array_equal(cert.best_params, best)
    # a certified point stops the loop
    loop.params[...] = _optimum()
    answer = cert.after_epoch(loop, _report())
    assert isinstance(answer, Stop) and answer.converged
    assert cert.last <= 1e-3


def _optimum():
    from sklearn.linear_model import LogisticRegression

    ref = LogisticRegression(C=1.0, tol=1e-12, max_iter=10_000).fit(X, Y)
    return np.r_[ref.coef_.ravel(), ref.intercept_][:, None]


def test_the_certificate_skips_the_update_of_a_certified_point():
    loop = _loop(tol=1e-3)
    cert = Certificate(tol=1e-3)
    cert.begin(loop)  # the full batch: the first update measures the start
    assert cert.start_objective is None
    point = np.zeros((D + 1, 1))
    g = _gradient(point)[:, None]
    assert cert.observe(loop, point, np.log(2), g, 0.5) == 0.5
    assert cert.fresh and cert.start_objective == np.log(2)
    # the same point again (after a restart): not recorded twice
    assert cert.observe(loop, point, np.log(2), g, 0.5) == 0.5
    assert not cert.fresh and cert.stalled == 0
    # a certified point's update is skipped
    tiny = np.full_like(g, 1e-6)
    assert cert.observe(loop, point + 1.0, 0.1, tiny, 0.5) is None


def _stall_case(**overrides):
    cert = SimpleNamespace(
        stalled=0,
        stalled_marked=0,
        last_objective=0.3,
        start_objective=0.69,
        best_params=np.ones((3, 1)),
    )
    loop = SimpleNamespace(
        batch_size=50,
        n_samples=400,
        per_sample=False,
        bounds=(np.arange(8), None),
        solver=SimpleNamespace(stall_patience=10),
        rate_scale=1.0,
    )
    hand_over = overrides.pop("hand_over", False)
    for key, value in overrides.items():
        target = cert if hasattr(cert, key) else loop
        setattr(target, key, value)
    return StallResponse(cert, hand_over), cert, loop


def test_the_stall_response_grows_the_batch_after_its_patience_in_updates():
    # 8 minibatches an epoch: 2 marked stalls are 16 updates >= 10
    response, cert, loop = _stall_case(stalled_marked=1, stalled=5)
    assert response.after_epoch(loop, None) is None  # 8 < 10; unmarked ignored
    cert.stalled_marked = 2
    (action,) = response.after_epoch(loop, None)
    assert isinstance(action, GrowBatch) and action.size == 100
    assert action.note == "No lower objective for 2 epochs: batch size doubled to 100."
    assert cert.stalled == cert.stalled_marked == 0


def test_the_stall_response_restarts_when_worse_than_the_start():
    response, cert, loop = _stall_case(stalled_marked=2, last_objective=0.8)
    restart, grow = response.after_epoch(loop, None)
    assert isinstance(restart, Restart) and isinstance(grow, GrowBatch)
    assert restart.point is cert.best_params
    # the batch never grows past the data
    response, cert, loop = _stall_case(stalled_marked=2, batch_size=300)
    (grow,) = response.after_epoch(loop, None)
    assert grow.size == 400


def test_the_stall_response_hands_over_where_the_batch_would_grow():
    response, cert, loop = _stall_case(stalled_marked=2, hand_over=True)
    (stop,) = response.after_epoch(loop, None)
    assert isinstance(stop, Stop) and stop.hand_over and not stop.converged
    assert stop.note == (
        "No lower objective for 2 epochs: the minibatch steps hand over to "
        "full-batch steps."
    )
    assert cert.stalled == cert.stalled_marked == 0
    # at the full batch there is nothing to hand over: the step is halved
    response, cert, loop = _stall_case(
        batch_size=400, bounds=(np.arange(1), None), stalled=10, hand_over=True
    )
    (action,) = response.after_epoch(loop, None)
    assert isinstance(action, ScaleStep)


def test_the_stall_response_halves_the_full_batch_step_down_to_its_floor():
    response, cert, loop = _stall_case(
        batch_size=400, bounds=(np.arange(1), None), stalled=10
    )
    (action,) = response.after_epoch(loop, None)
    assert isinstance(action, ScaleStep) and action.scale == 0.5
    response, cert, loop = _stall_case(
        batch_size=400, bounds=(np.arange(1), None), stalled=10, rate_scale=1.5e-3
    )
    (action,) = response.after_epoch(loop, None)
    assert action.scale == MIN_RATE_SCALE


def test_a_per_sample_solver_restarts_and_counts_its_patience_in_epochs():
    response, cert, loop = _stall_case(
        per_sample=True, batch_size=16, stalled=9, bounds=(np.arange(25), None)
    )
    assert response.after_epoch(loop, None) is None
    cert.stalled = 10
    restart, scale = response.after_epoch(loop, None)
    assert isinstance(restart, Restart) and isinstance(scale, ScaleStep)


# ------------------------------------------------------------ the secant step


def test_the_secant_step_is_the_inverse_curvature_along_the_last_move():
    # a quadratic with curvature h along the first coordinate
    h = 4.0
    cert = SimpleNamespace(
        point=np.zeros((2, 1)), gradient=np.zeros((2, 1)), measured_now=True
    )
    loop = SimpleNamespace(
        learning_rate=0.1,
        batch_size=10,
        n_samples=10,
        rate_for_batch=lambda size: 0.05,
        state=SimpleNamespace(precond=None),
    )
    secant = SecantStep(cert)
    first = secant.after_epoch(loop, None)
    assert isinstance(first, SetStep) and first.learning_rate == 0.1  # no pair yet
    cert.point = np.array([[0.3], [0.0]])
    cert.gradient = h * cert.point
    # 1 / h = 0.25, capped at twice the current step (0.2)
    assert secant.after_epoch(loop, None).learning_rate == pytest.approx(0.2)
    loop.learning_rate = 0.2
    cert.point = np.array([[0.5], [0.0]])
    cert.gradient = h * cert.point
    assert secant.after_epoch(loop, None).learning_rate == pytest.approx(1 / h)
    # a restart forgets the last point: no pair, no change
    secant.restarted(loop)
    assert secant.after_epoch(loop, None).learning_rate == 0.2
    # never below the floor (the full batch's 1/L), and only at the full batch
    cert.point = np.array([[0.6], [0.0]])
    cert.gradient = 100.0 * cert.point
    assert secant.after_epoch(loop, None).learning_rate == 0.05
    loop.batch_size = 5
    assert secant.after_epoch(loop, None) is None


def test_the_secant_step_in_the_preconditioned_variables():
    # curvature h along the first coordinate of w is h * P_0 in v = w / sqrt(P)
    h, precond = 4.0, np.array([[4.0], [1.0]])
    cert = SimpleNamespace(
        point=np.zeros((2, 1)), gradient=np.zeros((2, 1)), measured_now=True
    )
    loop = SimpleNamespace(
        learning_rate=0.1, batch_size=10, n_samples=10, rate_for_batch=lambda s: 0.05,
        state=SimpleNamespace(precond=precond),
    )  # fmt: skip
    secant = SecantStep(cert)
    secant.after_epoch(loop, None)
    cert.point = np.array([[0.3], [0.0]])
    cert.gradient = h * cert.point
    assert secant.after_epoch(loop, None).learning_rate == pytest.approx(1 / 16)


def test_the_secant_step_scales_an_observed_update():
    cert = SimpleNamespace(point=np.zeros((2, 1)), gradient=np.zeros((2, 1)))
    loop = SimpleNamespace(
        learning_rate=0.1, n_samples=10, rate_for_batch=lambda s: 0.01,
        state=SimpleNamespace(precond=None),
    )  # fmt: skip
    secant = SecantStep(cert)
    cert.fresh = False  # the point measured last: nothing new
    assert secant.observe(loop, None, None, None, 0.3) == 0.3
    cert.fresh = True
    secant.observe(loop, None, None, None, 0.3)
    cert.point, cert.gradient = np.array([[1.0], [0.0]]), np.array([[8.0], [0.0]])
    # 1/8 = 0.125 <= 2 * 0.1: this update's step scaled by 0.125 / 0.1
    assert secant.observe(loop, None, None, None, 0.3) == pytest.approx(0.375)
    assert loop.learning_rate == pytest.approx(0.125)


def test_the_secant_step_of_a_state_without_a_preconditioner():
    # a user's solver with secant_step keeps a state of its own, which need
    # not have the registered solvers' `precond`: no preconditioner (a
    # mutant that asked for the attribute lived through the suite)
    cert = SimpleNamespace(point=np.zeros((2, 1)), gradient=np.zeros((2, 1)))
    loop = SimpleNamespace(
        learning_rate=0.1, n_samples=10, rate_for_batch=lambda s: 0.01,
        state=SimpleNamespace(),
    )  # fmt: skip
    secant = SecantStep(cert)
    cert.fresh = True
    secant.observe(loop, None, None, None, 0.3)
    cert.point, cert.gradient = np.array([[1.0], [0.0]]), np.array([[8.0], [0.0]])
    assert secant.observe(loop, None, None, None, 0.3) == pytest.approx(0.375)


# ------------------------------------------------------- the other policies


def test_the_average_compares_before_the_epoch_and_adds_after_it():
    loop = _loop(solver="adam", batch_size=50)
    average = IterateAverage()
    average.before_epoch(loop)  # nothing averaged yet: nothing compared
    assert average.count == 0 and average.preferred
    loop.params[...] = 1.0
    average.after_epoch(loop, None)
    loop.params[...] = 0.0  # a copy was kept, not a view
    assert average.count == 1 and np.all(average.point == 1.0)
    # zero predicts 0.5 everywhere; all-ones is far worse on these rows
    average.before_epoch(loop)
    assert not average.preferred


def test_validation_stops_after_its_patience_and_keeps_the_best_point():
    scores = iter([0.5, 0.8, 0.805, 0.79, 0.81, 0.7])
    loop = SimpleNamespace(params=np.zeros((2, 1)))
    monitor = ValidationStop(lambda params: next(scores), tol=0.01, n_iter_no_change=3)
    answers = []
    for epoch in range(1, 7):
        loop.params[...] = epoch
        report = _report(epoch)
        answers.append(monitor.after_epoch(loop, report))
        assert report.validation_score is not None
    # 0.805, 0.79 and 0.81 are no improvement by 0.01 on 0.8: stop at epoch 5
    assert answers[:4] == [None] * 4
    assert isinstance(answers[4], Stop) and answers[4].converged
    assert answers[4].message == (
        "Stopped: no improvement of the validation score by tol=0.01 for 3 "
        "consecutive epochs."
    )
    result = SimpleNamespace()
    monitor.finish(loop, result)
    assert result.validation_scores == [0.5, 0.8, 0.805, 0.79, 0.81, 0.7]
    np.testing.assert_array_equal(result.best_params, np.full((2, 1), 5.0))


def test_validation_counts_a_score_at_best_plus_tol_as_an_improvement():
    # scikit-learn's rule (SGDClassifier, MLPClassifier): a score below
    # best + tol is no improvement, so at tol=0 a plateau never stops the
    # fit, and a score of exactly best + tol resets the count
    plateau = ValidationStop(lambda params: 0.5, tol=0.0, n_iter_no_change=2)
    loop = SimpleNamespace(params=np.zeros(1))
    assert all(plateau.after_epoch(loop, _report()) is None for _ in range(5))
    scores = iter([0.5, 0.75, 0.75, 0.75])
    steps = ValidationStop(lambda params: next(scores), tol=0.25, n_iter_no_change=2)
    assert [steps.after_epoch(loop, _report()) for _ in range(3)] == [None] * 3
    assert isinstance(steps.after_epoch(loop, _report()), Stop)


def test_validation_without_tol_only_scores():
    monitor = ValidationStop(lambda params: 0.5, tol=None, n_iter_no_change=1)
    loop = SimpleNamespace(params=np.zeros(1))
    for epoch in range(1, 6):
        loop.params[...] = epoch
        assert monitor.after_epoch(loop, _report()) is None
    # equal scores keep the first point that reached them (as scikit-learn's
    # MLPClassifier keeps its best coefficients)
    result = SimpleNamespace()
    monitor.finish(loop, result)
    np.testing.assert_array_equal(result.best_params, [1.0])


RISE = [1.0, 0.5, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8]


def test_the_rising_loss_watch_warns_once_at_the_first_epoch_of_a_rise():
    watch = RisingLossWatch()
    loop = SimpleNamespace(learning_rate=0.5)
    with pytest.warns(RisingLossWarning, match="epoch 8: 0.8") as record:
        for epoch, value in enumerate(RISE + [0.9, 1.0], start=1):
            watch.after_epoch(loop, _report(epoch, value))
    assert len(record) == 1
    assert str(record[0].message).endswith(
        "learning_rate=0.5 is probably too large (or the momentum too high): "
        "lower it, or use learning_rate='auto' and standardized features."
    )
    # it points at the first caller outside the package (here, this test;
    # under mutmut, its trampoline)
    import sklearn_adamlr

    package = os.path.dirname(sklearn_adamlr.__file__)
    assert not record[0].filename.startswith(package)


@pytest.mark.parametrize("converged", [True, False])
def test_a_deferred_rise_warns_only_when_the_fit_does_not_converge(converged):
    watch = RisingLossWatch(previous_losses=RISE[:4], deferred=True)
    loop = SimpleNamespace(learning_rate=0.5)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for epoch, value in enumerate(RISE[4:], start=5):
            watch.after_epoch(loop, _report(epoch, value))
        assert record == []
        watch.finish(loop, SimpleNamespace(converged=converged))
    assert [str(w.message) for w in record] == ([] if converged else [watch.pending])
    assert all(w.category is RisingLossWarning for w in record)
    assert watch.pending.endswith(
        "the automatic learning_rate=0.5 is too large for this data: "
        "standardize the features, or set a smaller learning_rate."
    )


def test_the_verbose_log_prints_the_notes_the_epoch_and_the_stop(capsys):
    loop = SimpleNamespace(
        t=3,
        tol=1e-4,
        rate_at=lambda step: 0.25,
        stop=Stop(True, "Converged: done."),
    )
    report = _report(7, 0.123456789)
    report.notes = ["No lower objective for 2 epochs: step size scaled by 0.5."]
    report.optimality, report.validation_score = 5e-5, 0.9
    log = VerboseLog()
    log.after_epoch(loop, report)
    log.finish(loop, None)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == report.notes[0]
    assert lines[1] == (
        "Epoch 7, objective = 0.12345679, learning rate = 0.25, elapsed = 0.00 s, "
        "validation score = 0.900000, optimality = 5e-05 (tol=0.0001)"
    )
    assert lines[2] == "Converged: done."
    # before the first step (t=0) the rate shown is the first step's; a loop
    # that has not stopped prints no stop line
    loop.t, loop.stop = 0, None
    loop.rate_at = lambda step: 0.5 / step
    log.after_epoch(loop, report)
    log.finish(loop, None)
    lines = capsys.readouterr().out.splitlines()
    assert "learning rate = 0.5," in lines[1]
    assert len(lines) == 2


def _recording_certificate(values, tol=1e-3):
    """A Certificate fed ``(objective, max-abs gradient)`` pairs, as measures.

    The points are stand-ins (the epoch's number everywhere), so the engine
    has no gap estimate: the gradient decides alone.
    """
    loop = _loop(tol=tol)
    loop.engine.gap_estimate = lambda point, gradient: None
    cert = Certificate(tol=tol)
    cert._engine, cert._d = loop.engine, D
    cert.gradient = np.zeros((D + 1, 1))
    cert.point = np.full((D + 1, 1), np.nan)
    for epoch, (value, gradient) in enumerate(values):
        cert.gradient[0] = gradient
        cert._record(np.full((D + 1, 1), float(epoch)), value)
    return cert, loop


def test_the_certificate_counts_stalls_and_marked_stalls():
    # start 1.0; new lows 0.5 and 0.49995 (by 1e-4 of the 0.5 of progress:
    # not a marked one), then two epochs above the best
    cert, _ = _recording_certificate(
        [(1.0, 0.1), (0.5, 0.1), (0.49996, 0.1), (0.6, 0.1), (0.7, 0.1)]
    )
    assert cert.start_objective == 1.0 and cert.best_objective == 0.49996
    assert cert.best_epoch == 2 and cert.best_optimality == 0.1
    np.testing.assert_array_equal(cert.best_params, 2.0)
    assert cert.stalled == 2  # epochs since the last new low
    assert cert.stalled_marked == 3  # since the last low by more than 5e-5
    cert, _ = _recording_certificate([(1.0, 0.1), (0.5, 0.1), (0.49994, 0.1)])
    assert cert.stalled_marked == 0  # lower by 6e-5 > 1e-4 * 0.5


def test_the_certificate_stops_at_tol_itself_and_says_so():
    cert, loop = _recording_certificate([(1.0, 0.1)], tol=0.1)
    cert.observed = False
    loop.params[...] = 0.0
    cert.measure = lambda params: None  # the last measure stands: 0.1
    stop = cert.after_epoch(loop, _report())
    assert stop.converged and stop.message == "Converged: optimality 0.1 <= tol=0.1."
    # an update's own measure at exactly tol skips the update
    g = np.zeros((D + 1, 1))
    g[0] = 0.1
    assert cert.observe(loop, np.ones((D + 1, 1)), 0.5, g, 0.3) is None


@pytest.mark.parametrize("converged", [True, False])
def test_the_certificate_says_which_point_to_return(converged):
    # lowest objective at epoch 1, the last (epoch 2) above it
    cert, loop = _recording_certificate([(1.0, 0.3), (0.4, 0.2), (0.5, 0.1)])
    result = SimpleNamespace(converged=converged, n_epochs=2, best_params=None)
    cert.finish(loop, result)
    assert result.start_objective == 1.0
    if converged:  # the last point, certified
        assert (result.optimality, result.objective) == (0.1, 0.5)
        assert result.best_params is None
    else:  # the best one
        assert (result.optimality, result.objective) == (0.2, 0.4)
        np.testing.assert_array_equal(result.best_params, 1.0)
    # the best point is the last: nothing to replace
    cert, loop = _recording_certificate([(1.0, 0.3), (0.4, 0.2)])
    result = SimpleNamespace(converged=False, n_epochs=1, best_params=None)
    cert.finish(loop, result)
    assert result.best_params is None


def test_a_certificate_that_saw_no_epoch_measures_the_start_at_the_end():
    loop = _loop(tol=1e-3)
    cert = Certificate(tol=1e-3)
    cert.begin(loop)  # full batch: the start is left to the first update
    assert cert.start_objective is None
    result = SimpleNamespace(converged=False, n_epochs=0, best_params=None)
    cert.finish(loop, result)
    assert result.start_objective == pytest.approx(np.log(2), rel=1e-12)


def test_the_stall_response_restarts_only_when_above_the_start():
    # exactly at the start objective: no restart, only the step
    response, cert, loop = _stall_case(
        batch_size=400, bounds=(np.arange(1), None), stalled=10, last_objective=0.69
    )
    (action,) = response.after_epoch(loop, None)
    assert action.note == "No lower objective for 10 epochs: step size scaled by 0.5."


def test_the_secant_step_keeps_the_step_when_the_gradient_did_not_change():
    cert = SimpleNamespace(point=np.zeros((2, 1)), gradient=np.ones((2, 1)))
    loop = SimpleNamespace(
        learning_rate=0.1, batch_size=10, n_samples=10, rate_for_batch=lambda s: 0.05,
        state=SimpleNamespace(precond=None),
    )  # fmt: skip
    cert.measured_now = True
    secant = SecantStep(cert)
    secant.after_epoch(loop, None)
    cert.point = np.ones((2, 1))  # moved, same gradient: no curvature seen
    assert secant.after_epoch(loop, None).learning_rate == 0.1


def test_the_certificate_never_thresholds_the_intercepts_gradient():
    # an L1 part of 0.1: a coefficient at 0 with a gradient of 0.05 is
    # stationary, the unpenalised intercept with the same gradient is not
    loop = _loop(tol=1e-3, alpha=0.1, l1_ratio=1.0)
    cert = Certificate(tol=1e-3)
    cert._engine, cert._d = loop.engine, D
    cert.gradient = np.zeros((D + 1, 1))
    cert.point = np.full((D + 1, 1), np.nan)
    cert.gradient[0] = cert.gradient[D] = 0.05
    cert._record(np.zeros((D + 1, 1)), 1.0)
    assert cert.last == pytest.approx(0.05, rel=1e-12)
    cert.gradient[D] = 0.0
    cert._record(np.zeros((D + 1, 1)), 1.0)
    assert cert.last == 0.0


def test_the_certificate_asks_the_gap_estimate_where_the_gradient_is_small():
    estimates = iter([0.2, 1e-6])
    asked = []

    def gap_estimate(point, gradient):
        asked.append(float(point[0, 0]))
        return next(estimates)

    loop = _loop(tol=1e-3)
    loop.engine.gap_estimate = gap_estimate
    loop.engine.gap_share = 1e-4
    cert = Certificate(tol=1e-3)
    cert._engine, cert._d = loop.engine, D
    cert.gradient = np.zeros((D + 1, 1))
    cert.point = np.full((D + 1, 1), np.nan)
    certified = []
    # (objective, max-abs gradient) of epochs 0 to 3
    for epoch, (value, g) in enumerate(
        [(1.0, 0.1), (0.5, 1e-4), (0.45, 1e-4), (0.3, 1e-4)]
    ):
        cert.gradient[0] = g
        cert._record(np.full((D + 1, 1), float(epoch)), value)
        certified.append(cert.certified)
    # epoch 0: the gradient is large, nothing asked; epoch 1: 0.2 is above
    # 1e-4 of 0.5; epoch 2: 0.45 is above 0.5 - 0.2 / 2, not asked again;
    # epoch 3: 1e-6 is below 1e-4 of 0.3
    assert certified == [False, False, False, True]
    assert asked == [1.0, 3.0]
    result = SimpleNamespace(converged=True, n_epochs=3, best_params=None)
    cert.finish(loop, result)
    assert result.gap_estimate == (1e-6, 0.3, 1e-4)
    # an engine without an estimate (data not in memory): the gradient alone
    cert, _ = _recording_certificate([(1.0, 1e-4)], tol=1e-3)
    assert cert.certified


def test_the_verbose_note_says_the_objective_is_flat():
    loop = _loop(tol=1e-3)
    loop.engine.gap_estimate = lambda point, gradient: 0.2
    loop.engine.gap_share = 1e-4
    cert = Certificate(tol=1e-3)
    cert._engine, cert._d = loop.engine, D
    cert.gradient = np.zeros((D + 1, 1))
    cert.point = np.full((D + 1, 1), np.nan)
    cert.gradient[0] = 1e-4
    cert._record(np.zeros((D + 1, 1)), 0.5)
    cert.observed = False
    cert.measure = lambda params: None
    report = _report()
    assert cert.after_epoch(loop, report) is None
    assert report.notes == [
        "Gradient within tol, but the objective is flat: the estimated gap "
        "0.2 is above 0.0001 of it."
    ]


def _objective(params, alpha):
    """The scaled objective, written here from the formula."""
    z = X @ params[:D, 0] + params[D, 0]
    loss = np.mean(np.logaddexp(0.0, z) - Y * z)
    return loss + 0.5 * alpha * float(params[:D, 0] @ params[:D, 0])


def _flat_start(alpha, direction):
    """A certificate that found the gradient within tol and the gap too large."""
    loop = _loop(solver="lbfgs", tol=1.0, alpha=alpha)
    loop.params[:D, 0] = 0.05 * np.sign(-_gradient(np.zeros((D + 1, 1)))[:D])
    state = loop.state
    gradient = _gradient(loop.params)[:, None] + alpha * np.r_[loop.params[:D], [[0]]]
    state.grad = gradient.copy()
    state.direction = -gradient
    state.alpha = 0.25  # its own step, shortened twice
    state.trial = loop.params - 0.25 * gradient
    cert = Certificate(tol=1.0)
    cert._engine, cert._d = loop.engine, D
    cert.gradient = gradient.copy()
    cert.point = loop.params.copy()
    loop.engine.gap_estimate = lambda point, g: 1.0  # far above any share
    loop.engine._last_estimate = (loop.params.copy(), direction)
    cert._record(loop.params, _objective(loop.params, alpha))
    assert not cert.certified and cert.gap == 1.0
    return loop, cert, gradient


def test_a_flat_objective_hands_the_solver_a_line_searched_newton_step():
    alpha = 1e-3
    # a direction that descends, but far too long: its full step overshoots
    direction = -40.0 * _flat_start(alpha, None)[2]
    loop, cert, gradient = _flat_start(alpha, direction)
    start = loop.params.copy()
    value = _objective(start, alpha)
    slope = float(np.vdot(gradient, direction))
    # Armijo's halvings, from the formula
    step = 1.0
    while _objective(start + step * direction, alpha) > value + 1e-4 * step * slope:
        step *= 0.5
    assert step < 1.0
    answer = NewtonStep(cert).after_epoch(loop, _report())
    assert isinstance(answer, TakeDirection)
    np.testing.assert_allclose(answer.direction, step * direction, rtol=1e-12)
    assert answer.note == (
        f"The next step is {step:g} times the gap estimate's Newton step."
    )
    # the next point within tol is estimated again, wherever it is
    assert cert._check_below == np.inf
    # lbfgs takes it as its next trial step, at alpha = 1
    answer.apply(loop)
    np.testing.assert_array_equal(loop.state.trial, start + step * direction)
    assert loop.state.alpha == 1.0
    assert loop.state.slope == pytest.approx(step * slope, rel=1e-12)
    np.testing.assert_array_equal(loop.params, start)


def test_the_flat_newton_step_is_not_taken_where_it_does_not_apply():
    alpha = 1e-3
    direction = -_flat_start(alpha, None)[2]
    loop, cert, _ = _flat_start(alpha, direction)
    monitor = NewtonStep(cert)
    assert isinstance(monitor.after_epoch(loop, _report()), TakeDirection)
    # the estimate was taken at another point (the update shortened its step)
    start = loop.params.copy()
    loop.params[0] += 1.0
    assert monitor.after_epoch(loop, _report()) is None
    loop.params[...] = start
    # a direction that does not descend
    loop.engine._last_estimate = (loop.params.copy(), -direction)
    assert monitor.after_epoch(loop, _report()) is None
    loop.engine._last_estimate = (loop.params.copy(), direction)
    # no estimate this epoch, and the certificate beyond NEAR times tol
    cert.gap = None
    cert.last = 1.01 * NEAR * cert.tol
    assert monitor.after_epoch(loop, _report()) is None
    cert.gap, cert.certified = 1.0, True
    assert monitor.after_epoch(loop, _report()) is None
    # an L1 part: lbfgs takes FISTA's steps, not directions
    cert.certified = False
    loop.problem.penalty = ElasticNet(alpha=alpha, l1_ratio=0.5)
    assert monitor.after_epoch(loop, _report()) is None
    # lbfgs refuses a direction that climbs, and keeps its own
    trial = loop.state.trial.copy()
    refused = TakeDirection(-direction, "note")
    refused.apply(loop)
    assert refused.note == ""
    np.testing.assert_array_equal(loop.state.trial, trial)


def test_near_the_optimum_the_newton_step_is_asked_for_where_it_is_a_direct_solve(
    monkeypatch,
):
    alpha = 1e-3
    direction = -_flat_start(alpha, None)[2]
    loop, cert, _ = _flat_start(alpha, direction)
    asked = []
    loop.engine.gap_estimate = lambda point, g: asked.append(point.copy()) or 1.0
    monitor = NewtonStep(cert)
    # a tol other than 1, where NEAR times it and NEAR over it differ (a
    # mutant that divided lived on _flat_start's tol=1)
    cert.tol = 1e-3
    cert.gap, cert.last = None, 1.01 * NEAR * cert.tol
    assert monitor.after_epoch(loop, _report()) is None
    assert not asked
    # the gradient at exactly NEAR times tol, no estimate of the certificate's
    cert.last = NEAR * cert.tol
    assert isinstance(monitor.after_epoch(loop, _report()), TakeDirection)
    assert len(asked) == 1
    np.testing.assert_array_equal(asked[0], loop.params)
    # three classes: 93 parameters, beyond DIRECT_MAX (48), whose estimate
    # CG solves, too dear to ask for
    params = np.zeros((D + 1, 3))
    loop.params = params
    cert.point = params.copy()
    loop.engine._last_estimate = (params.copy(), np.ones_like(params))
    assert monitor.after_epoch(loop, _report()) is None
    assert len(asked) == 1
    # within it, the softmax's estimate is a direct solve too: asked for
    # (this stand-in estimate leaves no step to take)
    monkeypatch.setattr(_hessian, "DIRECT_MAX", 3 * (D + 1))
    loop.engine._last_estimate = None
    assert monitor.after_epoch(loop, _report()) is None
    assert len(asked) == 2
    np.testing.assert_array_equal(asked[1], params)


# ------------------------------------ from a mutation run over _policies.py


def test_the_averages_comparison_weighs_the_samples():
    # Two rows: the last iterate fits the first, the average the second. With
    # the second row's weight 1,000 times the first's, the average is the
    # better model; unweighted, the iterate is.
    X = np.array([[1.0], [-1.0]])
    target = np.array([1.0, 0.0])
    iterate = np.array([[2.0], [1.0]])  # raw predictions 3, -1
    average = np.array([[0.5], [-1.5]])  # raw predictions -1, -2

    def preferred(weights):
        problem = Problem(X, target, weights, loss_for(2),
                          ElasticNet(alpha=0.0, l1_ratio=0.0), True)  # fmt: skip
        watch = IterateAverage(point=average.copy(), count=3)
        watch.compare(problem, iterate)
        return watch.preferred

    def loss(params, weights):
        z = (X @ params[:1] + params[1])[:, 0]
        return float(weights @ np.logaddexp(0, -np.where(target == 1, z, -z)))

    heavy = np.array([1e-3, 1.0])
    assert loss(average, heavy) < loss(iterate, heavy)
    assert loss(iterate, np.ones(2)) < loss(average, np.ones(2))
    assert preferred(heavy) is True
    assert preferred(None) is False


def test_the_average_is_compared_class_by_class_on_evenly_spaced_rows(monkeypatch):
    # Three classes: each model's log-loss on its own three columns of the
    # stacked raw predictions; at most COMPARE_ROWS rows, evenly spaced from
    # the first; a tie keeps the average ("at least as well")
    from sklearn_adamlr import _policies

    rng = np.random.RandomState(0)
    n = 2 * _policies.COMPARE_ROWS + 1
    X = rng.normal(size=(n, 2))
    labels = np.argmax(X @ [[2.0, -1.0, 0.0], [0.0, 1.0, -2.0]], axis=1)
    problem = Problem(X, loss_for(3).encode(labels, np.float64), None, loss_for(3),
                      ElasticNet(alpha=0.0, l1_ratio=0.0), True)  # fmt: skip
    good = np.array([[2.0, -1.0, 0.0], [0.0, 1.0, -2.0], [0.0, 0.0, 0.0]])
    poor = 0.1 * good
    seen = []
    original = _policies.raw_prediction
    monkeypatch.setattr(
        _policies, "raw_prediction",
        lambda rows, params, d: seen.append(rows) or original(rows, params, d),
    )  # fmt: skip
    # (an average a little worse than the iterate: the iterate's loss taken
    # on both models' columns would hide the difference)
    cases = ((good, poor, True), (poor, good, False), (0.9 * good, good, False),
             (good, good, True))  # fmt: skip
    for average, iterate, expected in cases:
        watch = IterateAverage(point=average.copy(), count=3)
        watch.compare(problem, iterate)
        assert watch.preferred is expected
    # every third row, from the first: 1,366 of 4,097
    assert seen[0].shape[0] == -(-n // 3) <= _policies.COMPARE_ROWS
    np.testing.assert_array_equal(seen[0][:2], X[[0, 3]])


def test_the_rising_rule_at_its_boundaries():
    # RISING_EPOCHS (5) rises in a row, by more than RISING_MARGIN (1e-2) of
    # the best value and more than RISING_SHARE (0.5) of the progress since
    # the first epoch; values chosen so that the products are exact
    ramp = [100.0, 100.2, 100.4, 100.6, 100.8, 101.0]
    assert rising([101.9] + ramp[:-1] + [101.01])
    # four rises are not five (too short; or a step before them that fell)
    assert rising([100.0, 100.1, 100.5, 101.0, 101.5, 102.0])
    assert not rising([100.0, 100.5, 101.0, 101.5, 102.0])
    assert not rising([101.9, 100.0, 100.5, 100.2, 100.4, 100.6, 101.01])
    # a flat step is not a rise
    assert not rising([101.9, 100.0, 100.2, 100.2, 100.6, 100.8, 101.01])
    # a rise of exactly 1e-2 of the best (100 to 101) is not more than it
    assert not rising([101.5] + ramp)
    # a rise of exactly half the progress (12 to 10, back to 11) is not more
    assert not rising([12.0, 10.0, 10.2, 10.4, 10.6, 10.8, 11.0])
    assert rising([11.9, 10.0, 10.2, 10.4, 10.6, 10.8, 11.0])
    # a rise of 0.05 over a best of 10: within 1e-2 of it (0.1), not a
    # divergence, though it gives back all the progress
    assert not rising([10.05, 10.0, 10.01, 10.02, 10.03, 10.04, 10.05])


def test_the_rising_loss_warning_points_at_the_users_call():
    # RisingLossWarning's stacklevel is the first frame outside the package
    # and scikit-learn (its fit wrapper): here, this file
    from sklearn.datasets import load_wine

    from sklearn_adamlr import AdamLogisticRegression

    X, y = standardized(load_wine)
    est = AdamLogisticRegression(solver="adam", learning_rate=1.0, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y)  # the line the warning must name
    rising = [w for w in caught if w.category is RisingLossWarning]
    assert rising
    assert all(os.path.samefile(w.filename, __file__) for w in rising)
