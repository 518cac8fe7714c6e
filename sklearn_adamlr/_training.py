"""The training loop: a spine that runs epochs and asks its monitors what next.

:func:`train` takes a :class:`~sklearn_adamlr._problem.Problem` (data, loss,
penalty), packed parameters and a solver with its state. Each epoch it plans
the minibatches, runs them through an engine (:mod:`sklearn_adamlr._engines`),
and hands an :class:`~sklearn_adamlr._monitors.EpochReport` to its monitors
(:mod:`sklearn_adamlr._monitors`: the certificate and best point, the stall
response, the secant step, iterate averaging, validation, the rising-loss
watch, verbose output, scikit-learn's callbacks), carrying out what they
answer. It updates ``params`` and the solver state in place; the estimator
hands it copies and commits them only on success.
"""

import time
from dataclasses import dataclass, field

import numpy as np

from ._certify import Certificate, NewtonStep, SecantStep, StallResponse
from ._engines import make_engine
from ._kernels import pays
from ._monitors import EpochReport, Monitor
from ._plan import (
    MINIBATCH_RUN,
    RUNS_MIN,
    batch_size_and_mode,
    batches,
    epoch_plan,
)
from ._policies import (
    IterateAverage,
    RisingLossWarning,
    RisingLossWatch,
    ValidationStop,
    VerboseLog,
)
from ._schedules import Constant, make_schedule
from .solvers._base import capabilities_of

__all__ = ["IterateAverage", "RisingLossWarning", "TrainingResult", "train"]


@dataclass
class TrainingResult:
    """What one call of :func:`train` did.

    Attributes
    ----------
    n_epochs : int
    t : int
        Updates done, including those before the call.
    losses : list of float
        The objective of each epoch, as the epoch measured it (each
        minibatch's loss before its step).
    validation_scores : list of float
    converged : bool
        A point whose certificate (see :func:`train`) is at most ``tol`` was
        reached; or, with validation, the score stopped improving.
    requested_stop : bool
        A monitor stopped the call on a user's request (a scikit-learn
        callback): no failure to converge.
    hand_over : bool
        The minibatch steps stopped for a full-batch solver to go on from
        the returned point (``train``'s ``hand_over``).
    best_params : ndarray or None
        The parameters to return instead of the last iterate: the best
        validation score's, or the lowest full objective's. None: the last.
    optimality : float or None
        The certificate at the returned parameters (None when not measured).
    objective : float or None
        The full objective at the returned parameters (None when not measured).
    start_objective : float or None
        The full objective where the call started (None when not measured).
    gap_estimate : tuple of float or None
        The last estimate of the gap above the optimum (see
        ``Engine.gap_estimate``), the objective where it was taken, and the
        share of it that certifies; None when none was taken.
    rate_scale : float
        The factor on the step size at the end of the call.
    state : object
        The solver's state at the end (a fresh one replaces the state passed
        in when training restarts from its best point).
    """

    n_epochs: int = 0
    t: int = 0
    losses: list = field(default_factory=list)
    validation_scores: list = field(default_factory=list)
    converged: bool = False
    requested_stop: bool = False
    hand_over: bool = False
    best_params: np.ndarray | None = None
    optimality: float | None = None
    objective: float | None = None
    start_objective: float | None = None
    gap_estimate: tuple | None = None
    rate_scale: float = 1.0
    state: object = None


class Loop:
    """The state of one training call, which the monitors read and act on.

    Attributes
    ----------
    problem, solver, params, state
        As passed to :func:`train`; ``params`` and ``state`` are updated in
        place, ``state`` replaced on a restart.
    learning_rate : float
        The base step, before ``rate_scale`` and the schedule.
    rate_scale : float
    batch_size : int
    engine : Engine
    bounds : tuple of ndarray
        The fixed ``(starts, stops)`` of the minibatches.
    t : int
        Updates done, including those of earlier calls.
    tol : float or None
    stop : Stop or None
        Set by a monitor's :class:`~sklearn_adamlr._monitors.Stop`.
    """

    def __init__(
        self,
        problem,
        solver,
        params,
        state,
        *,
        learning_rate,
        schedule,
        t,
        batch_size,
        mode,
        rng,
        tol,
        rate_scale,
        rate_for_batch,
    ):
        self.problem, self.solver = problem, solver
        self._precondition(state)
        self.params, self.state = params, state
        self.learning_rate, self.rate_scale = learning_rate, rate_scale
        self.schedule, self.t, self.rng, self.tol = schedule, t, rng, tol
        # a constant schedule needs no call per update
        self.constant_rate = isinstance(schedule, Constant)
        self.rate_for_batch = rate_for_batch
        self.n_samples = problem.n_samples
        self.per_sample = steps_per_sample(solver)
        self.mode = mode
        self.run = 1
        self.monitors = self.observers = ()
        self.stop = None
        # the last epoch's full-batch update was skipped (a certified start)
        self.skipped = False
        self.set_batch_size(batch_size, initial=True)

    def set_batch_size(self, batch_size, initial=False):
        """Build the engine and the minibatches of ``batch_size``."""
        n, mode = self.n_samples, self.mode
        self.batch_size = batch_size
        self.gather = mode == "samples" and batch_size < n
        self.rotate = mode == "blocks" and batch_size < n
        self.engine = make_engine(
            self.problem, self.solver, self.params, batch_size, mode
        )
        bounds = self.engine.bounds
        self.bounds = batches(n, batch_size) if bounds is None else bounds
        if self.observers:
            self.engine.observe = self.observe
        if not initial and self.rate_for_batch is not None:
            # a larger batch's gradient is smoother: 1 / L_b grows
            self.learning_rate = self.rate_for_batch(batch_size)

    def restart(self, point):
        """Go on from ``point`` with a fresh solver state; tell the monitors."""
        self.params[...] = point
        self.state = self.solver.init_state(self.params)
        self._precondition(self.state)
        for monitor in self.monitors:
            monitor.restarted(self)

    def _precondition(self, state):
        """Hand the problem's preconditioner (or None) to a solver that takes one."""
        if self.solver.preconditioned:
            state.precond = self.problem.precond

    def start_observed(self):
        """Whether the first update's own pass measures ``params`` (``observe``)."""
        return (
            self.batch_size == self.n_samples
            and self.engine.observes_full_batch
            and np.array_equal(
                self.solver.eval_point(self.params, self.state), self.params
            )
        )

    def rate_at(self, step):
        """The step size of update ``step``."""
        rate = self.learning_rate * self.rate_scale
        return rate if self.constant_rate else self.schedule(rate, step)

    def observe(self, point, value, gradient, rate):
        """The engine's hook (``Engine.observe``), passed down the monitors."""
        for monitor in self.observers:
            rate = monitor.observe(self, point, value, gradient, rate)
            if rate is None:
                self.skipped = True
                return None
        return rate

    def run_epoch(self, epoch_no):
        """Take one epoch's steps; the objective the epoch measured."""
        problem, params = self.problem, self.params
        plan = epoch_plan(
            self.rng,
            self.bounds,
            self.n_samples,
            self.batch_size,
            self.gather,
            self.rotate,
            self.run,
        )
        # a per-sample solver steps once per sample, whatever its runs
        n_steps = self.n_samples if self.per_sample else len(plan[0])
        if self.constant_rate:
            rates = np.full(n_steps, self.learning_rate * self.rate_scale)
        else:
            rates = [self.rate_at(self.t + b) for b in range(1, n_steps + 1)]
        self.skipped = False
        try:
            # An overflow or a NaN in the arithmetic of a batch is divergence;
            # catch it at its first batch, before it spreads to the state.
            with np.errstate(
                over="raise", invalid="raise", divide="raise", under="ignore"
            ):
                loss_sum, penalty_value = self.engine.run_epoch(
                    plan, params, self.state, rates
                )
        except FloatingPointError as exc:
            raise ValueError(self._diverged(epoch_no, f"numpy: {exc}")) from None
        self.t += n_steps - int(self.skipped)
        value = loss_sum / problem.weight_sum + penalty_value
        if not (np.isfinite(value) and np.isfinite(params).all()):
            raise ValueError(self._diverged(epoch_no, f"objective={value!r}"))
        return value

    def _diverged(self, epoch_no, detail):
        return (
            f"Training diverged at epoch {epoch_no}: the objective or the "
            f"coefficients became non-finite ({detail}) with "
            f"learning_rate={self.learning_rate!r}. Use a smaller learning_rate "
            "(or learning_rate='auto') and scale the features, e.g. with "
            "sklearn.preprocessing.StandardScaler. The estimator was left as it "
            "was before this call."
        )


def train(
    problem,
    params,
    solver,
    state,
    *,
    learning_rate,
    schedule,
    t,
    max_epochs,
    batch_size,
    shuffle,
    rng,
    tol=None,
    n_iter_no_change=10,
    validation=None,
    verbose=0,
    previous_losses=(),
    epoch_offset=0,
    rate_scale=1.0,
    rate_for_batch=None,
    average=None,
    monitors=(),
    hand_over=False,
    gap_share=None,
):
    """Run up to ``max_epochs`` epochs; update ``params`` and ``state`` in place.

    The monitors of the call (:func:`monitors_for`) say when to stop and
    which point to return (``TrainingResult.best_params``). A ValueError
    says that the objective or the parameters became non-finite.

    Parameters
    ----------
    problem : Problem
    params : ndarray of shape (n_features + fit_intercept, n_outputs)
        Packed parameters, updated in place.
    solver : Solver
    state : object
        The solver's state, updated in place.
    learning_rate : float
        Base step size, before ``schedule(learning_rate, t)``.
    schedule : callable
    t : int
        Updates done before this call.
    max_epochs : int
    batch_size : int
    shuffle : bool, 'samples' or 'blocks'
        See :func:`~sklearn_adamlr._plan.batch_size_and_mode`.
    rng : SeededRandomState or numpy.random.RandomState
        The generator of the epochs' orders (its ``randint`` and ``permutation``).
    tol : float or None
        The certificate to reach (:class:`~sklearn_adamlr._certify.Certificate`);
        with ``validation``, the score's improvement. None: no early stop.
    n_iter_no_change : int
    validation : callable or None
        ``validation(params) -> score`` (higher is better): the stopping
        rule (:class:`~sklearn_adamlr._policies.ValidationStop`).
    verbose : int
    previous_losses : sequence of float
        The loss curve of earlier calls (``partial_fit``).
    epoch_offset : int
        Epochs done before this call.
    rate_scale : float, default=1.0
        The factor on the step size where the call starts.
    rate_for_batch : callable or None, default=None
        ``rate_for_batch(batch_size)``: the automatic step of another batch.
    average : IterateAverage or None, default=None
        Only without ``tol`` and ``validation``.
    monitors : sequence of Monitor, default=()
        Monitors after the built-in ones (scikit-learn's callbacks).
    hand_over : bool, default=False
        Stop where a certified minibatch fit would first grow its batch
        (``result.hand_over``), for a full-batch solver to finish.
    gap_share : float or None, default=None
        The certificate's gap share where above the engine's own (see
        :class:`~sklearn_adamlr._certify.Certificate`).

    Returns
    -------
    result : TrainingResult
    """
    if average is not None and (tol is not None or validation is not None):
        raise ValueError("average is for training without tol and validation.")
    batch_size, mode = batch_size_and_mode(
        solver, shuffle, batch_size, problem.n_samples
    )
    # a small fit does not wait for numba to compile (see _kernels.pays)
    with pays.fit_scope(problem, solver, params, batch_size, steps_per_sample(solver)):
        loop = Loop(
            problem, solver, params, state, learning_rate=learning_rate,
            schedule=schedule, t=t, batch_size=batch_size, mode=mode, rng=rng,
            tol=tol, rate_scale=rate_scale, rate_for_batch=rate_for_batch,
        )  # fmt: skip
        loop.run = runs_of(problem, solver, shuffle)
        monitors = monitors_for(
            loop, validation, n_iter_no_change, average, previous_losses, verbose,
            hand_over, gap_share,
        ) + list(monitors)  # fmt: skip
        return run(loop, monitors, max_epochs, epoch_offset)


def fresh_run(estimator, problem, solver, params, **loop):
    """:func:`train` from ``params`` with a fresh state of ``solver``.

    The loop's own parameters (schedule, shuffle, ``tol``, patience) are the
    estimator's, ``t`` starts at 0; ``loop`` gives the others
    (``learning_rate``, ``max_epochs``, ``batch_size``, ``rng``, ...). A path
    over ``C`` and a hand-over's full-batch steps start so.
    """
    return train(
        problem,
        params,
        solver,
        solver.init_state(params),
        schedule=make_schedule(estimator.schedule, estimator.power_t),
        t=0,
        shuffle=estimator.shuffle,
        tol=estimator.tol,
        n_iter_no_change=estimator.n_iter_no_change,
        **loop,
    )


def steps_per_sample(solver):
    """Whether ``solver`` steps once per sample (saga), whatever the batch.

    A solver with its own epoch on the data does, unless it steps on the
    full batch (one step an epoch).
    """
    return capabilities_of(solver).data_epoch is not None and not solver.full_batch


def runs_of(problem, solver, shuffle):
    """Rows per run of a shuffled epoch (1: a permutation of the samples).

    ``shuffle=True`` on dense data in memory, for a minibatch solver on at
    least ``RUNS_MIN`` runs: runs of ``MINIBATCH_RUN`` consecutive rows in a
    random order, gathered into the minibatches (``'samples'``: a
    permutation). CSR data keep the permutation, which the lazy penalty's
    scale assumes (``_sparse.penalty_scale``).
    """
    X = problem.X
    if not (shuffle is True and isinstance(X, np.ndarray)):
        return 1
    if solver.full_batch or capabilities_of(solver).data_epoch is not None:
        return 1
    if problem.n_samples < RUNS_MIN * MINIBATCH_RUN:
        return 1
    return MINIBATCH_RUN


def monitors_for(
    loop, validation, n_iter_no_change, average, previous_losses, verbose,
    hand_over=False, gap_share=None,
):  # fmt: skip
    """The built-in monitors of a call, in the order they see an epoch."""
    certify = loop.tol is not None and validation is None
    # the step is the automatic one of a certified fit (see rate_for_batch)
    automatic = certify and loop.rate_for_batch is not None
    monitors = [] if average is None else [average]
    monitors.append(RisingLossWatch(previous_losses, deferred=automatic))
    if validation is not None:
        monitors.append(ValidationStop(validation, loop.tol, n_iter_no_change))
    if certify:
        certificate = Certificate(loop.tol, gap_share)
        monitors += [certificate, StallResponse(certificate, hand_over)]
        # the full-batch secant step (see Solver.secant_step)
        if automatic and loop.solver.secant_step and not loop.per_sample:
            monitors.append(SecantStep(certificate))
        if loop.solver.takes_direction:
            monitors.append(NewtonStep(certificate))
    if verbose:
        monitors.append(VerboseLog())
    return monitors


def run(loop, monitors, max_epochs, epoch_offset=0):
    """The spine: plan and run each epoch, then carry out what the monitors say."""
    loop.monitors = tuple(monitors)
    loop.observers = _overriding(monitors, "observe")
    if loop.observers:
        loop.engine.observe = loop.observe
    for monitor in monitors:
        monitor.begin(loop)
    # only the monitors that have a hook are called on it: on a small data
    # set the loop's own cost per epoch is part of a fit's time
    before, after = (
        _overriding(monitors, "before_epoch"),
        _overriding(monitors, "after_epoch"),
    )
    result = TrainingResult(t=loop.t)
    start_time = time.perf_counter()
    for epoch in range(epoch_offset + 1, epoch_offset + max_epochs + 1):
        for monitor in before:
            monitor.before_epoch(loop)
        value = loop.run_epoch(epoch)
        result.losses.append(value)
        result.n_epochs += 1
        report = EpochReport(
            epoch, value, loop.params, loop.batch_size, loop.learning_rate,
            loop.rate_scale, time.perf_counter() - start_time,
        )  # fmt: skip
        for monitor in after:
            answer = monitor.after_epoch(loop, report)
            if answer is not None:
                _carry_out(loop, report, answer)
        if loop.stop is not None:
            result.converged = loop.stop.converged
            result.requested_stop = loop.stop.requested
            result.hand_over = loop.stop.hand_over
            break
    result.t, result.rate_scale, result.state = loop.t, loop.rate_scale, loop.state
    for monitor in monitors:
        monitor.finish(loop, result)
    return result


def _carry_out(loop, report, answer):
    """Apply a monitor's action (or tuple of actions) to the loop, in order."""
    for action in answer if isinstance(answer, tuple) else (answer,):
        action.apply(loop)
        if action.note:
            report.notes.append(action.note)


def _overriding(monitors, hook):
    """The monitors whose class overrides ``Monitor``'s no-op ``hook``."""
    default = getattr(Monitor, hook)
    return tuple(m for m in monitors if getattr(type(m), hook) is not default)
