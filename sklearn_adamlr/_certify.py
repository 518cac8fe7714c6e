"""Certified training: the certificate, the stall response, the secant step.

Four monitors (:mod:`sklearn_adamlr._monitors`) of a fit with ``tol``: the
:class:`Certificate` measures each epoch on all the data and stops at
``tol``; the :class:`StallResponse` grows the batch or halves the step when
its objective stops improving; the :class:`SecantStep` sets the full-batch
step from the curvature along the last move; the :class:`NewtonStep`
hands the solver Newton's step near the optimum or where the objective is
flat.
"""

import numpy as np

from ._hessian import solves_directly
from ._line_search import line_search
from ._loss import raw_prediction
from ._monitors import (
    GrowBatch,
    Monitor,
    Restart,
    ScaleStep,
    SetStep,
    Stop,
    TakeDirection,
)
from .solvers._metric import metric_norm

# While the batch can still grow, an epoch counts as progress only if it
# lowers the best full objective by this share of the progress since the
# start: smaller new lows are the minibatches' noise. Measured on 400k x 100
# dense data, default adam and minibatch: 86 and 63 epochs to the default
# certificate without it, 82 and 53 with it; on the bundled data sets it
# changes no outcome. At the full batch any new low counts (the same margin
# there halved the step too early: 22 of 48 default fits then missed tol).
STALL_SHARE = 1e-4

# Where the gap estimate is a direct solve, NewtonStep takes Newton's step
# once the certificate is within this many times tol. Measured, lbfgs at C
# in {0.01, 1, 21.5} (one thread, milliseconds summed over the three; at 1
# the step is taken where the objective is flat only): standardized
# breast_cancer 9.3 at 1, 6.0 at 100, 5.7 at 1000, 6.5 at 1e4;
# make_classification 2,000 x 20 9.5, 8.1, 6.5, 6.5; 20,000 x 20 49, 44,
# 30, 28; 200,000 x 20 219, 238, 214, 196 (the epochs 20 to 10 at 1000,
# each Newton step costing two more passes for its line search).
NEAR = 1000.0

# The floor of the step's decay, as a share of the start step. Measured on
# the bundled data sets, before the batch grew on a stall: without it,
# minibatch on breast_cancer at C=0.01 halved its step to 1e-90 and stalled;
# with it, it ended at 1e-3 and reached the certificate.
MIN_RATE_SCALE = 1e-3


class Certificate(Monitor):
    """The full-data objective and certificate of each epoch, the best point.

    After each epoch it measures, on all the data, the objective and the
    certificate of optimality (the max-abs of the minimum-norm subgradient
    of the scaled objective, see ``ElasticNet.stationarity``; the
    intercept's gradient included), and stops the loop once the certificate
    is at most ``tol``. At the full batch an update's own pass measures the
    point it starts from instead (``observe``), and the update of a
    certified point is skipped. It keeps a copy of the point of lowest
    objective (the start counts, as epoch 0), which the loop returns when
    the certificate is not met.

    Where the engine estimates the gap above the optimum
    (``Engine.gap_estimate``: a Newton step's model decrease), a point is
    certified only when that estimate is also at most ``Engine.gap_share``
    (or ``gap_share``, where larger) of its objective: where the objective
    is flat a small gradient is not a small gap. After an estimate above
    it, the next is taken once the objective has fallen by half of it (each
    costs a sample's Hessian solve); the points in between are not
    certified.

    ``stalled`` counts the epochs in a row without a new lowest objective,
    ``stalled_marked`` those without one lower by more than ``STALL_SHARE``
    of the progress so far (for :class:`StallResponse`).

    Parameters
    ----------
    tol : float
    gap_share : float or None, default=None
        A share to certify at where it is above the engine's own (a path's
        fold fits, which only give scores); None: the engine's.
    """

    def __init__(self, tol, gap_share=None):
        self.tol = tol
        self._gap_share = gap_share
        self.best_objective = np.inf
        self.start_objective = None
        self.stalled = self.stalled_marked = 0
        # whether an update measured this epoch's start, and whether that
        # measure was new (not the point measured last)
        self.observed = self.fresh = False
        # whether this epoch's certificate was measured by its own pass
        self.measured_now = False
        self._epoch = -1
        # the objective below which the gap is estimated again (see _record)
        self._check_below = np.inf
        # the last estimate taken, and the objective where it was taken
        self.gap = self.last_estimate = None

    def begin(self, loop):
        # The engine of the start measures every point, whatever batch the
        # loop grows to later.
        self._engine = loop.engine
        self._d = loop.problem.n_features
        self.gradient = np.empty_like(loop.params)
        # NaN: no point observed yet equals the last measured one
        self.point = np.full_like(loop.params, np.nan)
        # At the full batch the first update's own pass measures the start
        # (Engine.observe), so the certificate needs no pass of its own there:
        # lbfgs on 400,000 x 100 dense rows, 15 passes down to 14.
        if not loop.start_observed():
            self.measure(loop.params)

    @property
    def gap_share(self):
        """The share of the objective that the gap estimate must be within."""
        return max(self._gap_share or 0.0, self._engine.gap_share)

    def measure(self, params):
        """Measure ``params`` with a pass over the data (the engine's)."""
        value = self._engine.full_objective(params, self.gradient)
        self._record(params, value)

    def observe(self, loop, point, value, gradient, rate):
        self.observed = True
        # the first full-batch update after the batch grew to it, or after a
        # restart, starts at the point measured last
        self.fresh = not np.array_equal(point, self.point)
        if not self.fresh:
            return rate
        self.gradient[...] = gradient
        self._record(point, value)
        return None if self.certified else rate

    def after_epoch(self, loop, report):
        self.measured_now = not self.observed
        if self.measured_now:
            self.measure(loop.params)
        self.observed = False
        report.optimality = self.last
        if self.certified:
            return Stop(
                True, f"Converged: optimality {self.last:.3g} <= tol={self.tol}."
            )
        if self.last <= self.tol and self.gap is not None:
            report.notes.append(
                f"Gradient within tol, but the objective is flat: the "
                f"estimated gap {self.gap:.3g} is above "
                f"{self.gap_share:g} of it."
            )
        return None

    def finish(self, loop, result):
        if self.start_objective is None:  # no epoch ran
            self.measure(loop.params)
        elif not result.converged and not np.array_equal(loop.params, self.point):
            # At the full batch each update measured where it started, not
            # where the last one ended: measure that too (one pass, paid only
            # by a fit that stops short), so that the last step is not lost
            # (newton with max_iter=1 returned its start point without it).
            self.measure(loop.params)
        result.start_objective = self.start_objective
        result.gap_estimate = self.last_estimate
        if result.converged:
            # The last point is certified: return it. A lower objective seen
            # before it differs by rounding, and its certificate need not be
            # met (SAGA on sparse data, C=0.01, L1: 1.8e-8 above tol=1e-8).
            result.optimality = self.last
            result.objective = self.last_objective
        else:
            if self.best_epoch != result.n_epochs:
                result.best_params = self.best_params
            result.optimality = self.best_optimality
            result.objective = self.best_objective

    def estimate_next(self):
        """Estimate the gap at the next point within ``tol``, wherever it is.

        For a point a Newton step leads to (:class:`NewtonStep`): its
        estimate gives the next step.
        """
        self._check_below = np.inf

    def _record(self, params, value):
        self.point[...] = params
        d = self._d
        penalty = self._engine.problem.penalty
        optimality = max(
            penalty.stationarity(params[:d], self.gradient[:d]),
            float(np.abs(self.gradient[d:]).max(initial=0.0)),
        )
        self.gap = None
        self.certified = optimality <= self.tol
        if self.certified and value > self._check_below:
            # still above where the last estimate said the gap was large
            self.certified = False
        elif self.certified:
            self.gap = self._engine.gap_estimate(params, self.gradient)
            if self.gap is not None:
                self.last_estimate = (self.gap, value, self.gap_share)
                if self.gap > self.gap_share * abs(value):
                    self.certified = False
                    self._check_below = value - 0.5 * self.gap
        self._epoch += 1
        self.last = optimality
        self.last_objective = value
        if self._epoch == 0:
            self.start_objective = value
        # A "marked" improvement: by more than STALL_SHARE of the progress
        # made since the start; smaller new lows are the minibatches' noise.
        margin = STALL_SHARE * max(self.start_objective - self.best_objective, 0.0)
        self.stalled_marked = (
            0 if value < self.best_objective - margin else self.stalled_marked + 1
        )
        if value < self.best_objective:
            self.best_objective = value
            self.best_optimality = optimality
            self.best_params = params.copy()
            self.best_epoch = self._epoch
            self.stalled = 0
        else:
            self.stalled += 1


class StallResponse(Monitor):
    """What the loop does when the full objective stops improving.

    Whenever the :class:`Certificate`'s objective has gone
    ``solver.stall_patience`` updates without a new lowest value, the batch
    size is doubled (up to the full batch), or at the full batch the step is
    halved (never below ``MIN_RATE_SCALE`` of the start). Where the steps
    made things worse than at the start (or always, for a per-sample
    solver), the loop first restarts from the best point with a fresh state.

    With ``hand_over``, where the batch would first grow the loop stops
    instead, for a full-batch solver to go on from the best point: the
    minibatches have reached their noise floor, where their steps make
    little progress per pass over ``X`` and a full-batch solver much.

    Parameters
    ----------
    certificate : Certificate
    hand_over : bool, default=False
    """

    def __init__(self, certificate, hand_over=False):
        self.certificate = certificate
        self.hand_over = hand_over

    def after_epoch(self, loop, report):
        cert = self.certificate
        # The patience is counted in updates: a few epochs of a small data
        # set, a single epoch of thousands of minibatches.
        grow = loop.batch_size < loop.n_samples and not loop.per_sample
        stalled = cert.stalled_marked if grow else cert.stalled
        # per-sample solvers count their patience in epochs
        updates = 1 if loop.per_sample else len(loop.bounds[0])
        if stalled * updates < loop.solver.stall_patience:
            return None
        cert.stalled = cert.stalled_marked = 0
        actions = ()
        if loop.per_sample or cert.last_objective > cert.start_objective:
            # Worse than where it started: the steps diverge. Resume from the
            # best point with a fresh state, so that the smaller steps below
            # do not start from far away. A per-sample solver always does:
            # its steps (SAGA's, at a step beyond the theory's) can jump far
            # above the best point in one epoch, and steady progress from
            # there counts as a stall that halves the step again and again
            # (digits, C=1, L1: to 1e-3 of the start step, at a relative gap
            # of 1e-2).
            actions = (Restart(cert.best_params),)
        stall = f"No lower objective for {stalled} epochs"
        if grow and self.hand_over:
            note = f"{stall}: the minibatch steps hand over to full-batch steps."
            return (Stop(False, hand_over=True, note=note),)
        if grow:
            # Stalled in the noise of the minibatches: double the batch,
            # which halves the noise and keeps an epoch at one pass over X;
            # at the full batch the gradient is exact and the solver can
            # reach any certificate.
            size = min(2 * loop.batch_size, loop.n_samples)
            return actions + (
                GrowBatch(size, f"{stall}: batch size doubled to {size}."),
            )
        # Halve the step: an oscillating full-batch solver (Adam, momentum)
        # calms down.
        scale = max(0.5 * loop.rate_scale, MIN_RATE_SCALE)
        return actions + (ScaleStep(scale, f"{stall}: step size scaled by {scale:g}."),)


def secant_step(params, gradient, previous_point, learning_rate, floor, precond=None):
    """The next full-batch step, and the point to measure the next one from.

    The Barzilai-Borwein step ``|dw| / |dg|`` between the previous point and
    ``params`` is the inverse of the gradient's curvature along the last
    move; it is capped at twice ``learning_rate`` (the step grows
    gradually, and the stall rule can still halve it) and never below
    ``floor``, the automatic ``1 / L`` of the full batch, which is safe
    everywhere. With a diagonal preconditioner ``precond``, the norms are
    the preconditioned variables' (see :mod:`sklearn_adamlr._precondition`).
    """
    if previous_point is not None:
        last_params, last_gradient = previous_point
        change = metric_norm(gradient - last_gradient, precond)
        if change > 0.0:
            move = metric_norm(params - last_params, precond, inverse=True)
            estimate = move / change
            learning_rate = max(floor, min(2.0 * learning_rate, estimate))
    return learning_rate, (params.copy(), gradient.copy())


class SecantStep(Monitor):
    """The full-batch step from the curvature along the last move.

    A solver with ``secant_step`` under the automatic step of a certified
    fit takes, at the full batch, the :func:`secant_step` between the
    certificate's last two full gradients (see ``Solver.secant_step``):
    mid-epoch when an update measures its own start, else after the epoch's
    own measure.

    Parameters
    ----------
    certificate : Certificate
    """

    def __init__(self, certificate):
        self.certificate = certificate
        self.previous_point = None

    def _step(self, loop):
        cert = self.certificate
        rate, self.previous_point = secant_step(
            cert.point,
            cert.gradient,
            self.previous_point,
            loop.learning_rate,
            loop.rate_for_batch(loop.n_samples),
            getattr(loop.state, "precond", None),
        )
        return rate

    def observe(self, loop, point, value, gradient, rate):
        # the secant step, measured at the update's start, is its step
        if not self.certificate.fresh:
            return rate
        last = loop.learning_rate
        loop.learning_rate = self._step(loop)
        return rate * (loop.learning_rate / last)

    def after_epoch(self, loop, report):
        if loop.batch_size == loop.n_samples and self.certificate.measured_now:
            return SetStep(self._step(loop))
        return None

    def restarted(self, loop):
        self.previous_point = None


class NewtonStep(Monitor):
    """Near the optimum, or where the objective is flat, the next step is Newton's.

    The :class:`Certificate`'s gap estimate solves for the Newton step at
    the point (``Engine.newton_step``: on the estimate's sample of rows, to
    a relative residual of 0.1). A solver with ``takes_direction``
    (``lbfgs``) takes that step next, scaled by a backtracking line search
    on the objective (two passes over ``X``), and the certificate estimates
    the gap again at the point it leads to. Two cases:

    - flat: the gradient is within ``tol`` but the gap estimate above its
      share (nearly separable classes, a weak penalty). There a
      quasi-Newton step's progress is slow (the optimum lies far along
      nearly free directions), and Newton's fast. Measured, default
      ``lbfgs`` on standardized digits (one thread): on a fold's 80% at
      C=1e4, 184 epochs (12 estimates, the gap halving every 15 epochs) in
      129 ms without it, 37 in 79 ms with it; on all of it at C=100, 138
      epochs against 45, at C=1e4 199 (254 ms) against 35 (166 ms).
      Without the line search the full step overshot (the objective from
      1.9e-4 to 0.14), and lbfgs's own steps after it alternated between
      overshooting and shortening;
    - near: the gradient is within ``NEAR`` times ``tol`` and the estimate
      is a direct solve (at most ``_hessian.DIRECT_MAX`` parameters times
      outputs, see ``_hessian.solves_directly``): the monitor asks for the
      estimate itself.

    Parameters
    ----------
    certificate : Certificate
    """

    def __init__(self, certificate):
        self.certificate = certificate

    def after_epoch(self, loop, report):
        cert = self.certificate
        problem = loop.problem
        if cert.certified or problem.penalty.has_prox:
            return None
        params = loop.params
        if cert.gap is None:
            near = cert.last <= NEAR * cert.tol and solves_directly(
                params.shape[1], params.shape[0], problem.n_samples
            )
            if not (near and np.array_equal(cert.point, params)):
                return None
            loop.engine.gap_estimate(params, cert.gradient)
        step = loop.engine.newton_step(params)
        if step is None:
            return None
        raw = raw_prediction(problem.X, params, problem.n_features)
        _, alpha, _ = line_search(
            problem, params, raw, cert.gradient, step, cert.last_objective
        )
        if alpha == 0.0:
            return None
        cert.estimate_next()
        return TakeDirection(
            alpha * step.astype(params.dtype),
            f"The next step is {alpha:g} times the gap estimate's Newton step.",
        )
