"""The training loop: epochs of minibatches, schedule, solver, stopping rules.

This is the one module that knows about epochs. It takes a :class:`Problem`
(data, loss, penalty), packed parameters and a solver with its state, and runs
epochs through an engine (:mod:`sklearn_adamlr._engines`) until the
certificate of convergence is met, the validation score stops improving, or
``max_epochs`` have run. It updates ``params`` and the solver state in place;
the estimator hands it copies and commits them only on success.
"""

import time
import warnings
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy import sparse

from ._engines import make_engine, shuffle_mode
from ._loss import lipschitz_constant, raw_prediction
from ._schedules import Constant
from .solvers._base import capabilities_of


class RisingLossWarning(UserWarning):
    """The training objective rose over several consecutive epochs.

    This is the classic symptom of a learning rate that is too large: the
    iterates overshoot and the loss climbs, often while the accuracy still
    looks fine. Lower ``learning_rate`` (or use ``learning_rate='auto'``), or
    standardize the features.

    Examples
    --------
    >>> import warnings
    >>> from sklearn_adamlr import RisingLossWarning
    >>> issubclass(RisingLossWarning, UserWarning)
    True
    """


# Epochs in a row over which the loss must rise, by how much in total
# relative to the best value, and which share of the progress since the
# first epoch it must give back, before RisingLossWarning fires: stochastic
# solvers jitter around the optimum, and momentum oscillates, which must not
# trigger it (see _rising).
RISING_EPOCHS = 5
RISING_MARGIN = 1e-2
RISING_SHARE = 0.5

# While the batch can still grow, an epoch counts as progress only if it
# lowers the best full objective by this share of the progress since the
# start: smaller new lows are the minibatches' noise. Measured on 400k x 100
# dense data, default adam and minibatch: 86 and 63 epochs to the default
# certificate without it, 82 and 53 with it; on the bundled data sets it
# changes no outcome. At the full batch any new low counts (the same margin
# there halved the step too early: 22 of 48 default fits then missed tol).
STALL_SHARE = 1e-4

# The floor of the step's decay, as a share of the start step. Measured on
# the bundled data sets, before the batch grew on a stall: without it,
# minibatch on breast_cancer at C=0.01 halved its step to 1e-90 and stalled;
# with it, it ended at 1e-3 and reached the certificate.
MIN_RATE_SCALE = 1e-3


@dataclass
class Problem:
    """The data of one training call, in the form the loop consumes.

    Attributes
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
    target : ndarray of shape (n_samples,)
        Encoded targets (see the loss's ``encode``).
    sample_weight : ndarray of shape (n_samples,) or None
        Sample weights times class weights; None for unit weights.
    loss : BinaryLogLoss or MultinomialLogLoss
    penalty : ElasticNet
        With ``alpha = 1 / (C * sum(sample_weight))``.
    fit_intercept : bool
    weight_total : float or None, default=None
        ``sum(sample_weight)`` when the weights are not in memory (a dask
        array's, see :mod:`sklearn_adamlr._dask`); None computes it.
    """

    X: object
    target: np.ndarray
    sample_weight: np.ndarray | None
    loss: object
    penalty: object
    fit_intercept: bool
    weight_total: float | None = None

    @property
    def n_samples(self):
        return self.X.shape[0]

    @property
    def n_features(self):
        return self.X.shape[1]

    @cached_property
    def weight_sum(self):
        if self.weight_total is not None:
            return float(self.weight_total)
        if self.sample_weight is None:
            return float(self.n_samples)
        return float(self.sample_weight.sum(dtype=np.float64))


class Smoothness:
    """Lipschitz constants of the gradient of the scaled objective, on demand.

    Solvers that need them (``gd``, ``minibatch``) read the attributes; the
    constants are computed on first access only, so Adam never pays for them.

    Parameters
    ----------
    problem : Problem
    """

    def __init__(self, problem):
        self._problem = problem

    @cached_property
    def full(self):
        """``L`` of the full-batch gradient, including the L2 part."""
        p = self._problem
        if hasattr(p.X, "lipschitz_constant"):  # data on a cluster (_dask)
            L = p.X.lipschitz_constant(p.fit_intercept, p.loss.curvature)
            return L + p.penalty.l2
        L = lipschitz_constant(p.X, p.sample_weight, p.fit_intercept, p.loss.curvature)
        return L + p.penalty.l2

    @cached_property
    def _sample_constants(self):
        """``(max, mean)`` of the ``L_i`` of the weighted samples, without L2."""
        p = self._problem
        X = p.X
        curvature = p.loss.curvature
        if hasattr(X, "sample_constants"):  # data on a cluster (_dask)
            largest, total = X.sample_constants(p.fit_intercept)
            return curvature * largest, curvature * total / p.n_samples
        sw_scale = p.n_samples / p.weight_sum
        largest = total = 0.0
        # Row norms in blocks: memory stays O(block), never O(n) or a copy of X.
        for start in range(0, p.n_samples, 4096):
            block = X[start : start + 4096]
            if sparse.issparse(block):
                sq = np.asarray(block.multiply(block).sum(axis=1)).ravel()
            else:
                sq = np.einsum("ij,ij->i", block, block, dtype=np.float64)
            sq += float(p.fit_intercept)
            if p.sample_weight is not None:
                sq *= p.sample_weight[start : start + 4096] * sw_scale
            largest = max(largest, float(sq.max()))
            total += float(sq.sum())
        return curvature * largest, curvature * total / p.n_samples

    @property
    def max_sample(self):
        """Largest ``L_i`` of a single weighted sample's gradient, plus L2."""
        return self._sample_constants[0] + self._problem.penalty.l2

    @property
    def max_weighted_sample(self):
        """Largest ``L_i`` over the samples of positive weight only, plus L2.

        For a method that steps on those samples only (SAGA skips a sample
        of zero weight), each ``f_i`` is scaled by their count, not by
        ``n_samples``.
        """
        p = self._problem
        if p.sample_weight is None:
            return self.max_sample
        counted = np.count_nonzero(p.sample_weight > 0) / p.n_samples
        return self._sample_constants[0] * counted + p.penalty.l2

    @property
    def mean_sample(self):
        """Mean of the ``L_i`` of the weighted samples' gradients, plus L2."""
        return self._mean_constant + self._problem.penalty.l2

    @cached_property
    def _mean_constant(self):
        """The mean of :attr:`_sample_constants` alone, by BLAS when it can."""
        p = self._problem
        X = p.X
        flat = isinstance(X, np.ndarray) and (
            X.flags.c_contiguous or X.flags.f_contiguous
        )
        if p.sample_weight is not None or not flat or X.dtype != np.float64:
            return self._sample_constants[1]
        # The squared norms of all rows in one dot product over X's buffer (a
        # view, no copy): 0.016 s on 400,000 x 100 float64, where the row
        # norms in blocks take 0.045 s. float32 keeps the blocks, which
        # accumulate in float64.
        values = X.ravel(order="K")
        total = float(np.dot(values, values))
        return p.loss.curvature * (total / p.n_samples + float(p.fit_intercept))

    def expected(self, batch_size):
        """Expected smoothness of a minibatch of ``batch_size`` samples.

        ``L_b = n (b - 1) / (b (n - 1)) L + (n - b) / (b (n - 1)) L_max``
        for sampling without replacement (Gower et al., 2019, Prop. 3.8).
        """
        n = self._problem.n_samples
        b = min(batch_size, n)
        if b >= n:
            return self.full
        if b == 1:
            return self.max_sample
        return (n * (b - 1) * self.full + (n - b) * self.max_sample) / (b * (n - 1))


AVERAGE_ETA = 3
# Rows on which IterateAverage.compare measures the two points.
COMPARE_ROWS = 2048


class IterateAverage:
    """The average of the iterates at the ends of epochs, the recent ones weighted most.

    A constant step leaves a stochastic solver's iterate moving in a ball of
    noise around the optimum; their average sits much closer to it (Polyak &
    Juditsky, 1992). The polynomial-decay average of Shamir & Zhang (2013),
    ``add(x_k)`` setting ``point += (eta + 1) / (k + eta) * (x_k - point)``
    with ``eta = AVERAGE_ETA``, weights the k-th iterate about as k**eta:
    it forgets the first, far epochs without knowing how many will follow.

    While the iterate is still on its way to the optimum, rather than moving
    around it, the average lags behind it. So before each epoch
    :meth:`compare` measures the log-loss of both on the data that the epoch
    is about to train on, which neither has seen in a stream (progressive
    validation), and :attr:`preferred` says whether the average did at least
    as well.

    Measured, one pass of default ``partial_fit``, relative gaps of the last
    iterate and of the average with eta = 1, 3 and 7: ``adam`` over 400,000
    x 100 standardized rows in 10,000-row chunks, 1.6e-2 and 2.8e-4, 6.6e-4,
    1.3e-3; over 40,000 x 20 in 1,000-row chunks (200 steps of 0.01 from
    zero: the iterate still converges) 3.6e-3 and 8.8e-3, 4.3e-3, 3.1e-3;
    ``minibatch`` on the same two, 3.5e-2 and 1.5e-3, 2.5e-3, 3.9e-3, and
    1.2e-2 and 2.2e-4, 6.9e-4, 1.6e-3. eta = 3 keeps most of the gain where
    the noise dominates and loses at most a fifth where the iterate is
    still converging.

    Parameters
    ----------
    point : ndarray or None
        The average so far (None before the first iterate).
    count : int
        The iterates averaged so far.
    preferred : bool
        Whether the average measured at least as well as the last iterate.
    """

    def __init__(self, point=None, count=0, preferred=True):
        self.point = point
        self.count = count
        self.preferred = preferred

    def add(self, params):
        """Average in the iterate ``params`` (not modified)."""
        self.count += 1
        if self.count == 1:
            self.point = params.copy()
        else:
            eta = AVERAGE_ETA
            self.point += ((eta + 1) / (self.count + eta)) * (params - self.point)

    def compare(self, problem, params):
        """Measure the log-loss of ``params`` and of the average on ``problem``.

        The loss alone, without the penalty: in ``partial_fit`` the penalty
        is scaled to one chunk, and would favour the smaller coefficients of
        a lagging average.

        On at most ``COMPARE_ROWS`` rows, evenly spaced (no random draw, so
        the stream's numbers do not change): over all the rows of a
        1,000,000 x 100 epoch it doubled the time of an ``adam`` epoch.
        """
        if self.count == 0:
            return
        n = problem.n_samples
        rows = slice(None, None, -(-n // COMPARE_ROWS))
        X, target = problem.X[rows], problem.target[rows]
        sw = None if problem.sample_weight is None else problem.sample_weight[rows]
        d, k = problem.n_features, params.shape[1]
        raw = raw_prediction(X, np.hstack([params, self.point]), d)
        losses = []
        for j in range(2):
            part = np.ascontiguousarray(raw[:, j * k : (j + 1) * k])
            losses.append(
                problem.loss.loss_gradient(part, target, sw, np.empty_like(part))
            )
        self.preferred = bool(losses[1] <= losses[0])


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
    best_params : ndarray or None
        The parameters to return instead of the last iterate: the best
        validation score's, or the lowest full objective's. None: the last.
    optimality : float or None
        The certificate at the returned parameters (None when not measured).
    objective : float or None
        The full objective at the returned parameters (None when not measured).
    start_objective : float or None
        The full objective where the call started (None when not measured).
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
    best_params: np.ndarray | None = None
    optimality: float | None = None
    objective: float | None = None
    start_objective: float | None = None
    rate_scale: float = 1.0
    state: object = None


# A per-sample solver visits runs of rows (Solver.run_rows) only when there
# are at least this many runs to shuffle; smaller data fit in the caches,
# where runs save nothing.
RUNS_MIN = 64


def _batches(n_samples, batch_size):
    """``(starts, stops)`` of the contiguous minibatches of one epoch."""
    starts = np.arange(0, n_samples, batch_size, dtype=np.intp)
    return starts, np.minimum(starts + batch_size, n_samples)


def _epoch_plan(rng, bounds, n_samples, batch_size, gather, rotate):
    """``(starts, stops, order)``: the minibatches of one epoch, in visiting order.

    With ``gather`` (``shuffle='samples'``), batch ``b`` is the samples
    ``order[starts[b]:stops[b]]`` of a new permutation ``order``. With
    ``rotate`` (``shuffle='blocks'``), the boundaries are shifted by a random
    offset and the batches visited in a random order: batch ``b`` is the rows
    ``r mod n_samples`` for ``r`` in ``starts[b]:stops[b]``, so that only the
    batch that straddles the end of ``X`` is not a view. Otherwise the fixed
    batches, in order. ``order`` is None unless ``gather``.
    """
    starts, stops = bounds
    if gather:
        return starts, stops, rng.permutation(n_samples)
    if rotate:
        offset = int(rng.randint(batch_size))
        visit = rng.permutation(len(starts))
        starts, stops = starts[visit] + offset, stops[visit] + offset
        past_end = starts >= n_samples
        starts[past_end] -= n_samples
        stops[past_end] -= n_samples
    return starts, stops, None


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
):
    """Run up to ``max_epochs`` epochs; update ``params`` and ``state`` in place.

    With ``tol`` and no ``validation``, each epoch ends with one pass over all
    the data (the engine's ``full_objective``) that measures the objective
    and the certificate of optimality, the max-abs of the minimum-norm
    subgradient of the scaled objective (see ``ElasticNet.stationarity``;
    the intercept's gradient included). At the full batch an update's own
    pass measures the point it starts from instead (``Engine.observe``), and
    an update from a certified point is not taken. Training stops once the
    certificate is at most ``tol``. Whenever the full objective has gone
    ``solver.stall_patience`` epochs without a new lowest value, the batch
    size is doubled (up to the full batch), or at the full batch the step
    size is halved (never below ``MIN_RATE_SCALE`` of the start); a
    per-sample solver (``Capabilities.data_epoch``) halves its step and
    resumes from the best point. The last point is returned when its
    certificate is met, else the one with the lowest full objective seen,
    the starting point included.

    Parameters
    ----------
    problem : Problem
    params : ndarray of shape (n_features + fit_intercept, n_outputs)
        Packed parameters, updated in place.
    solver : Solver
    state : object
        The solver's state, updated in place.
    learning_rate : float
        Base step size, before the schedule.
    schedule : callable
        ``schedule(learning_rate, t)`` gives the step of update ``t``.
    t : int
        Updates done before this call.
    max_epochs : int
    batch_size : int
        Ignored by full-batch solvers.
    shuffle : bool, 'samples' or 'blocks'
        False: the same consecutive minibatches, in order, every epoch.
        True or ``'samples'``: a new random order of the samples each epoch,
        each minibatch gathered into a preallocated buffer. ``'blocks'``:
        consecutive minibatches (views of ``X``, no copy), with boundaries
        shifted by a random offset and visited in a random order each epoch.
        A per-sample solver steps through runs of ``solver.run_rows`` rows
        under True and ``'blocks'`` (see ``Solver.run_rows``).
    rng : numpy.random.RandomState
        Consumed only when ``shuffle`` is not False.
    tol : float or None
        The certificate to reach (see above); with ``validation``, the
        improvement of the score that resets ``n_iter_no_change``. None never
        stops early and measures nothing on the full data.
    n_iter_no_change : int
        With ``validation``: epochs without an improvement of the score by
        ``tol`` before stopping.
    validation : callable or None
        ``validation(params) -> score`` (higher is better). When given, the
        stopping rule uses it and the best parameters are kept.
    verbose : int
        Print one line per epoch when > 0.
    previous_losses : sequence of float
        The loss curve so far (``partial_fit``), for the rising-loss warning.
    epoch_offset : int
        Epochs done before this call, to number epochs in messages.
    rate_scale : float, default=1.0
        The factor on the step size where the call starts (a previous fit's
        decay carries over to ``partial_fit``).
    rate_for_batch : callable or None, default=None
        ``rate_for_batch(batch_size)``: the base step size for another batch
        size (``learning_rate='auto'``), used when the batch grows. None
        keeps ``learning_rate``.
    average : IterateAverage or None, default=None
        Compares itself with ``params`` before each epoch, and receives
        ``params`` at its end. Only without ``tol`` and ``validation``,
        which choose the point to return themselves.

    Returns
    -------
    result : TrainingResult

    Raises
    ------
    ValueError
        If the objective or the parameters become non-finite.
    """
    n = problem.n_samples
    # A solver with its own epoch on the data steps once per sample.
    per_sample = capabilities_of(solver).data_epoch is not None
    mode = shuffle_mode(shuffle)
    if solver.full_batch:
        batch_size = n
    elif per_sample:
        batch_size = 1
        runs = mode and not (isinstance(shuffle, str) and shuffle == "samples")
        if runs and solver.run_rows > 1 and n >= RUNS_MIN * solver.run_rows:
            # Runs of consecutive rows in a random order (Solver.run_rows):
            # rows drawn one by one from anywhere in X cost a cache miss
            # each (see Saga.run_rows for the measurement); the plan's
            # "batches" are the runs, and the engine steps through their rows.
            mode, batch_size = "blocks", solver.run_rows
    batch_size = max(1, min(batch_size, n))
    engine, fixed_bounds, gather, rotate = _setup(
        problem, solver, params, batch_size, mode
    )
    certify = tol is not None and validation is None
    if average is not None and (tol is not None or validation is not None):
        raise ValueError("average is for training without tol and validation.")
    # the step is the automatic one of a certified fit (see rate_for_batch)
    automatic = certify and rate_for_batch is not None
    # the full-batch secant step (see Solver.secant_step)
    secant = automatic and solver.secant_step and not per_sample
    previous_point = None
    deferred_rising = None

    # A constant schedule needs no call per update.
    constant_rate = isinstance(schedule, Constant)

    def rate_at(step):
        rate = learning_rate * rate_scale
        return rate if constant_rate else schedule(rate, step)

    result = TrainingResult(t=t)
    history = list(previous_losses)
    best_score = -np.inf
    no_improvement = 0
    if certify:
        # At the full batch the first update's own pass measures the start
        # (Engine.observe), so the certificate needs no pass of its own there:
        # lbfgs on 400,000 x 100 dense rows, 15 passes down to 14.
        certificate = _Certificate(
            engine,
            params,
            measure=not _start_observed(engine, solver, params, state, batch_size),
        )

        def take_secant_step():
            # the step from the certificate's last two full gradients
            nonlocal learning_rate, previous_point
            learning_rate, previous_point = _secant_step(
                certificate.point,
                certificate.gradient,
                previous_point,
                learning_rate,
                rate_for_batch(n),
            )

        def observe(point, value, grad, rate):
            # A full-batch update's own pass measures the point it starts
            # from: a certified point is kept and its update skipped (None),
            # and the secant step, measured there, is this update's step.
            if not certificate.observe(point, value, grad):
                return rate
            if certificate.last <= tol:
                return None
            if secant:
                last = learning_rate
                take_secant_step()
                rate *= learning_rate / last
            return rate

        engine.observe = observe
    start_time = time.perf_counter()
    for epoch in range(max_epochs):
        plan = _epoch_plan(rng, fixed_bounds, n, batch_size, gather, rotate)
        epoch_no = epoch_offset + epoch + 1
        if average is not None:
            average.compare(problem, params)
        # a per-sample solver steps once per sample, whatever its runs
        n_steps = n if per_sample else len(plan[0])
        if constant_rate:
            rates = np.full(n_steps, learning_rate * rate_scale)
        else:
            rates = [rate_at(result.t + b) for b in range(1, n_steps + 1)]
        try:
            # An overflow or a NaN in the arithmetic of a batch is divergence;
            # catch it at its first batch, before it spreads to the state.
            with np.errstate(
                over="raise", invalid="raise", divide="raise", under="ignore"
            ):
                loss_sum, penalty_value = engine.run_epoch(plan, params, state, rates)
        except FloatingPointError as exc:
            raise ValueError(
                _divergence_message(epoch_no, learning_rate, f"numpy: {exc}")
            ) from None
        if certify and certificate.observed and certificate.last <= tol:
            n_steps -= 1  # the certified point's update was not taken
        result.t += n_steps

        value = loss_sum / problem.weight_sum + penalty_value
        if not (np.isfinite(value) and np.isfinite(params).all()):
            raise ValueError(
                _divergence_message(epoch_no, learning_rate, f"objective={value!r}")
            )
        result.losses.append(value)
        result.n_epochs += 1
        if average is not None:
            average.add(params)
        history.append(value)
        rising = _rising_message(history, learning_rate, epoch_no, automatic)
        if rising is not None:
            if automatic:
                # Kept for the end: an automatic step in a certified fit is
                # halved when it stalls, and a rise it recovers from is not
                # worth a warning (saga's 1 / L_mean on breast_cancer at
                # C=0.01 with an L1 part rose for 5 epochs, then certified
                # at a gap of 1e-8).
                deferred_rising = deferred_rising or rising
            else:
                _warn_rising(rising)

        if validation is not None:
            score = validation(params)
            result.validation_scores.append(score)
            previous_best = best_score
            if score > best_score:
                best_score = score
                result.best_params = params.copy()
        if certify:
            # measured by the epoch's own pass (observe), or now
            measured_now = not certificate.observed
            if measured_now:
                certificate.measure(params)
            certificate.observed = False
            # The patience is counted in updates: a few epochs of a small data
            # set, a single epoch of thousands of minibatches.
            grow = batch_size < n and not per_sample
            if grow:
                stalled = certificate.stalled_marked
            else:
                stalled = certificate.stalled
            # per-sample solvers count their patience in epochs
            updates = 1 if per_sample else len(fixed_bounds[0])
            if stalled * updates >= solver.stall_patience:
                certificate.stalled = certificate.stalled_marked = 0
                if per_sample or (
                    certificate.last_objective > certificate.start_objective
                ):
                    # Worse than where it started: the steps diverge. Resume
                    # from the best point with a fresh state, so that the
                    # smaller steps below do not start from far away. A
                    # per-sample solver always does: its steps (SAGA's, at a
                    # step beyond the theory's) can jump far above the best
                    # point in one epoch, and steady progress from there
                    # counts as a stall that halves the step again and again
                    # (digits, C=1, L1: to 1e-3 of the start step, at a
                    # relative gap of 1e-2).
                    params[...] = certificate.best_params
                    state = solver.init_state(params)
                    previous_point = None
                if grow:
                    # Stalled in the noise of the minibatches: double the
                    # batch, which halves the noise and keeps an epoch at
                    # one pass over X; at the full batch the gradient is
                    # exact and the solver can reach any certificate.
                    batch_size = min(2 * batch_size, n)
                    engine, fixed_bounds, gather, rotate = _setup(
                        problem, solver, params, batch_size, mode
                    )
                    engine.observe = observe
                    if rate_for_batch is not None:
                        # a larger batch's gradient is smoother: 1 / L_b grows
                        learning_rate = rate_for_batch(batch_size)
                    change = f"batch size doubled to {batch_size}"
                else:
                    # Halve the step: an oscillating full-batch solver (Adam,
                    # momentum) calms down.
                    rate_scale = max(0.5 * rate_scale, MIN_RATE_SCALE)
                    change = f"step size scaled by {rate_scale:g}"
                if verbose:
                    print(f"No lower objective for {stalled} epochs: {change}.")
            if secant and batch_size == n and measured_now:
                take_secant_step()
        if verbose:
            elapsed = time.perf_counter() - start_time
            line = (
                f"Epoch {epoch_no}, objective = {value:.8f}, learning rate = "
                f"{rate_at(max(result.t, 1)):.4g}, elapsed = {elapsed:.2f} s"
            )
            if validation is not None:
                line += f", validation score = {score:.6f}"
            if certify:
                line += f", optimality = {certificate.last:.3g} (tol={tol})"
            print(line)

        if certify:
            if certificate.last <= tol:
                result.converged = True
                if verbose:
                    print(f"Converged: optimality {certificate.last:.3g} <= tol={tol}.")
                break
            continue
        if tol is None or validation is None:
            continue
        improved = score >= previous_best + tol
        no_improvement = 0 if improved else no_improvement + 1
        if no_improvement >= n_iter_no_change:
            result.converged = True
            if verbose:
                print(
                    f"Stopped: no improvement of the validation score by "
                    f"tol={tol} for {n_iter_no_change} consecutive epochs."
                )
            break
    if deferred_rising is not None and not result.converged:
        _warn_rising(deferred_rising)
    result.rate_scale = rate_scale
    result.state = state
    if certify:
        if certificate.start_objective is None:  # no epoch ran
            certificate.measure(params)
        result.start_objective = certificate.start_objective
        if result.converged:
            # The last point is certified: return it. A lower objective seen
            # before it differs by rounding, and its certificate need not be
            # met (SAGA on sparse data, C=0.01, L1: 1.8e-8 above tol=1e-8).
            result.optimality = certificate.last
            result.objective = certificate.last_objective
        else:
            if certificate.best_epoch != result.n_epochs:
                result.best_params = certificate.best_params
            result.optimality = certificate.best_optimality
            result.objective = certificate.best_objective
    return result


def _secant_step(params, gradient, previous_point, learning_rate, floor):
    """The next full-batch step, and the point to measure the next one from.

    The Barzilai-Borwein step ``|dw| / |dg|`` between the previous point and
    ``params`` is the inverse of the gradient's curvature along the last
    move; it is capped at twice ``learning_rate`` (the step grows
    gradually, and the stall rule can still halve it) and never below
    ``floor``, the automatic ``1 / L`` of the full batch, which is safe
    everywhere.
    """
    if previous_point is not None:
        last_params, last_gradient = previous_point
        change = np.linalg.norm(gradient - last_gradient)
        if change > 0.0:
            estimate = np.linalg.norm(params - last_params) / change
            learning_rate = max(floor, min(2.0 * learning_rate, estimate))
    return learning_rate, (params.copy(), gradient.copy())


def _start_observed(engine, solver, params, state, batch_size):
    """Whether the first update's own pass measures ``params`` (``Engine.observe``)."""
    return (
        batch_size == engine.problem.n_samples
        and engine.observes_full_batch
        and np.array_equal(solver.eval_point(params, state), params)
    )


def _setup(problem, solver, params, batch_size, mode):
    """The engine, the fixed minibatch bounds and the shuffle flags of a batch size."""
    n = problem.n_samples
    gather = mode == "samples" and batch_size < n
    rotate = mode == "blocks" and batch_size < n
    engine = make_engine(problem, solver, params, batch_size, mode)
    bounds = _batches(n, batch_size) if engine.bounds is None else engine.bounds
    return engine, bounds, gather, rotate


class _Certificate:
    """The full-data objective and certificate of each epoch, and the best point.

    ``measure(params)`` evaluates both at ``params`` (one pass over ``X``
    through the engine), ``observe`` takes them from a full-batch update's
    own pass; either keeps a copy of the point when its objective is the
    lowest seen (the starting point counts, as epoch 0: measured at once,
    or with ``measure=False`` by the first ``observe``). ``stalled``
    counts the epochs in a row without a new lowest objective,
    ``stalled_marked`` those without one lower by more than ``STALL_SHARE``
    of the progress so far.
    """

    def __init__(self, engine, params, measure=True):
        self._engine = engine
        self.gradient = np.empty_like(params)
        # NaN: no point observed yet equals the last measured one
        self.point = np.full_like(params, np.nan)
        self._d = engine.problem.n_features
        self.best_objective = np.inf
        self.start_objective = None
        self.stalled = self.stalled_marked = 0
        self.observed = False
        self._epoch = -1
        if measure:
            self.measure(params)

    def measure(self, params):
        """Measure ``params`` with a pass over the data (the engine's)."""
        value = self._engine.full_objective(params, self.gradient)
        self._record(params, value)

    def observe(self, point, value, gradient):
        """Take ``value`` and ``gradient``, measured at ``point`` by an update.

        Returns False, recording nothing, when ``point`` is the one measured
        last (the first full-batch update after the batch grew to it, or
        after a restart, starts there).
        """
        self.observed = True
        if np.array_equal(point, self.point):
            return False
        self.gradient[...] = gradient
        self._record(point, value)
        return True

    def _record(self, params, value):
        self.point[...] = params
        d = self._d
        penalty = self._engine.problem.penalty
        optimality = max(
            penalty.stationarity(params[:d], self.gradient[:d]),
            float(np.abs(self.gradient[d:]).max(initial=0.0)),
        )
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


def _divergence_message(epoch_no, learning_rate, detail):
    return (
        f"Training diverged at epoch {epoch_no}: the objective or the "
        f"coefficients became non-finite ({detail}) with "
        f"learning_rate={learning_rate!r}. Use a smaller learning_rate "
        "(or learning_rate='auto') and scale the features, e.g. with "
        "sklearn.preprocessing.StandardScaler. The estimator was left as it "
        "was before this call."
    )


def _rising(history):
    """Whether ``history`` ends with a divergence pattern.

    The objective rose over the last ``RISING_EPOCHS`` epochs in a row, by
    more than ``RISING_MARGIN`` of the best value, and gave back more than
    ``RISING_SHARE`` of the progress made since the first epoch. The last
    condition tells divergence from the bounded oscillation of momentum (or
    Adam) around the optimum, which also rises for a few epochs at a time:
    on wine at C=1, minibatch's full-batch momentum rises for 5 epochs in a
    row while giving back at most 1.8% of its progress (measured over 300
    epochs).
    """
    if len(history) <= RISING_EPOCHS:
        return False
    recent = history[-RISING_EPOCHS - 1 :]
    if not all(b > a for a, b in zip(recent[:-1], recent[1:], strict=True)):
        return False
    best = min(history)
    rise = recent[-1] - best
    return rise > RISING_MARGIN * abs(best) and rise > RISING_SHARE * (
        history[0] - best
    )


def _rising_message(history, learning_rate, epoch_no, automatic=False):
    """The warning's text at the first epoch of a divergence pattern, or None."""
    if not _rising(history) or _rising(history[:-1]):
        return None
    best = min(history)
    if automatic:
        advice = (
            f"the automatic learning_rate={learning_rate!r} is too large for "
            "this data: standardize the features, or set a smaller "
            "learning_rate."
        )
    else:
        advice = (
            f"learning_rate={learning_rate!r} is probably too large (or the "
            "momentum too high): lower it, or use learning_rate='auto' and "
            "standardized features."
        )
    return (
        f"The training objective rose over the last {RISING_EPOCHS} epochs "
        f"(epoch {epoch_no}: {history[-1]:.6g}, best so far {best:.6g}); " + advice
    )


def _warn_rising(message):
    """Emit a RisingLossWarning, pointing at the user's call of fit."""
    warnings.warn(message, RisingLossWarning, stacklevel=4)
