"""The training loop: epochs of minibatches, schedule, solver, stopping rules.

This is the one module that knows about epochs. It takes a :class:`Problem`
(data, loss, penalty), packed parameters and a solver with its state, and runs
epochs until a stopping rule fires. It updates ``params`` and the solver state
in place; the estimator hands it copies and commits them only on success.
"""

import time
import warnings
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy import sparse

from ._engines import make_engine
from ._loss import lipschitz_constant
from ._schedules import Constant


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


# Epochs in a row over which the loss must rise, and by how much in total
# relative to the best value, before RisingLossWarning fires: stochastic
# solvers jitter around the optimum, which must not trigger it.
RISING_EPOCHS = 5
RISING_MARGIN = 1e-2


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
    """

    X: object
    target: np.ndarray
    sample_weight: np.ndarray | None
    loss: object
    penalty: object
    fit_intercept: bool

    @property
    def n_samples(self):
        return self.X.shape[0]

    @property
    def n_features(self):
        return self.X.shape[1]

    @cached_property
    def weight_sum(self):
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
        L = lipschitz_constant(p.X, p.sample_weight, p.fit_intercept, p.loss.curvature)
        return L + p.penalty.l2

    @cached_property
    def max_sample(self):
        """Largest ``L_i`` of a single weighted sample's gradient, plus L2."""
        p = self._problem
        X = p.X
        sw_scale = p.n_samples / p.weight_sum
        largest = 0.0
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
        return p.loss.curvature * largest + p.penalty.l2

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


@dataclass
class TrainingResult:
    """What one call of :func:`train` did."""

    n_epochs: int = 0
    t: int = 0
    losses: list = field(default_factory=list)
    validation_scores: list = field(default_factory=list)
    converged: bool = False
    best_params: np.ndarray | None = None


def _batches(n_samples, batch_size):
    """Start/stop pairs of the contiguous minibatches of one epoch."""
    return [
        (s, min(s + batch_size, n_samples)) for s in range(0, n_samples, batch_size)
    ]


def _epoch_plan(rng, bounds, n_samples, batch_size, gather, rotate):
    """``(starts, stops, order)``: the minibatches of one epoch, in visiting order.

    With ``gather`` (``shuffle='samples'``), batch ``b`` is the samples
    ``order[starts[b]:stops[b]]`` of a new permutation ``order``. With
    ``rotate`` (``shuffle=True``), the boundaries are shifted by a random
    offset and the batches visited in a random order: batch ``b`` is the rows
    ``r mod n_samples`` for ``r`` in ``starts[b]:stops[b]``, so that only the
    batch that straddles the end of ``X`` is not a view. Otherwise the fixed
    batches, in order. ``order`` is None unless ``gather``.
    """
    starts = np.array([start for start, _ in bounds], dtype=np.intp)
    stops = np.array([stop for _, stop in bounds], dtype=np.intp)
    if gather:
        return starts, stops, rng.permutation(n_samples)
    if rotate:
        offset = int(rng.randint(batch_size))
        visit = rng.permutation(len(bounds))
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
):
    """Run up to ``max_epochs`` epochs; update ``params`` and ``state`` in place.

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
    shuffle : bool or 'samples'
        False: the same consecutive minibatches, in order, every epoch.
        True: consecutive minibatches (views of ``X``, no copy), with
        boundaries shifted by a random offset and visited in a random order
        each epoch. ``'samples'``: a new random order of the samples each
        epoch, each minibatch gathered into a preallocated buffer.
    rng : numpy.random.RandomState
        Consumed only when ``shuffle`` is not False.
    tol : float or None
        Stop when the objective (or the validation score) has not improved
        by ``tol`` for ``n_iter_no_change`` epochs; None never stops early.
    n_iter_no_change : int
    validation : callable or None
        ``validation(params) -> score`` (higher is better). When given, the
        stopping rule uses it and the best parameters are kept.
    verbose : int
        Print one line per epoch when > 0.
    previous_losses : sequence of float
        The loss curve so far (``partial_fit``), for the rising-loss warning.
    epoch_offset : int
        Epochs done before this call, to number epochs in messages.

    Returns
    -------
    result : TrainingResult

    Raises
    ------
    ValueError
        If the objective or the parameters become non-finite.
    """
    n = problem.n_samples
    if solver.full_batch:
        batch_size = n
    batch_size = max(1, min(batch_size, n))
    gather = shuffle == "samples" and batch_size < n
    rotate = bool(shuffle) and shuffle != "samples" and batch_size < n
    engine = make_engine(problem, solver, params, batch_size, shuffle)
    fixed_bounds = _batches(n, batch_size)

    # A constant schedule needs no call per update.
    constant_rate = isinstance(schedule, Constant)

    def rate_at(step):
        return learning_rate if constant_rate else schedule(learning_rate, step)

    result = TrainingResult(t=t)
    history = list(previous_losses)
    best_loss = min(history) if history else np.inf
    best_score = -np.inf
    no_improvement = 0
    start_time = time.perf_counter()
    for epoch in range(max_epochs):
        plan = _epoch_plan(rng, fixed_bounds, n, batch_size, gather, rotate)
        epoch_no = epoch_offset + epoch + 1
        n_steps = len(plan[0])
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
        result.t += n_steps

        value = loss_sum / problem.weight_sum + penalty_value
        if not (np.isfinite(value) and np.isfinite(params).all()):
            raise ValueError(
                _divergence_message(epoch_no, learning_rate, f"objective={value!r}")
            )
        result.losses.append(value)
        result.n_epochs += 1
        history.append(value)
        _warn_if_rising(history, learning_rate, epoch_no)

        if validation is not None:
            score = validation(params)
            result.validation_scores.append(score)
            previous_best = best_score
            if score > best_score:
                best_score = score
                result.best_params = params.copy()
        if verbose:
            elapsed = time.perf_counter() - start_time
            line = (
                f"Epoch {epoch_no}, objective = {value:.8f}, learning rate = "
                f"{schedule(learning_rate, max(result.t, 1)):.4g}, elapsed = "
                f"{elapsed:.2f} s"
            )
            if validation is not None:
                line += f", validation score = {score:.6f}"
            print(line)

        if tol is None:
            continue
        if validation is not None:
            improved = score >= previous_best + tol
        else:
            improved = value <= best_loss - tol
            best_loss = min(best_loss, value)
        no_improvement = 0 if improved else no_improvement + 1
        if no_improvement >= n_iter_no_change:
            result.converged = True
            if verbose:
                print(
                    f"Converged: no improvement by tol={tol} for "
                    f"{n_iter_no_change} consecutive epochs."
                )
            break
    return result


def _divergence_message(epoch_no, learning_rate, detail):
    return (
        f"Training diverged at epoch {epoch_no}: the objective or the "
        f"coefficients became non-finite ({detail}) with "
        f"learning_rate={learning_rate!r}. Use a smaller learning_rate "
        "(or learning_rate='auto') and scale the features, e.g. with "
        "sklearn.preprocessing.StandardScaler. The estimator was left as it "
        "was before this call."
    )


def _warn_if_rising(history, learning_rate, epoch_no):
    """Warn once the loss has risen over ``RISING_EPOCHS`` epochs in a row."""
    if len(history) <= RISING_EPOCHS:
        return
    recent = history[-RISING_EPOCHS - 1 :]
    if not all(b > a for a, b in zip(recent[:-1], recent[1:], strict=True)):
        return
    best = min(history)
    if recent[-1] - best <= RISING_MARGIN * abs(best):
        return
    # Warn at the first epoch where the rule holds, not at every later one.
    earlier = history[-RISING_EPOCHS - 2 : -1]
    if (
        len(earlier) == RISING_EPOCHS + 1
        and all(b > a for a, b in zip(earlier[:-1], earlier[1:], strict=True))
        and earlier[-1] - min(history[:-1]) > RISING_MARGIN * abs(min(history[:-1]))
    ):
        return
    warnings.warn(
        f"The training objective rose over the last {RISING_EPOCHS} epochs "
        f"(epoch {epoch_no}: {history[-1]:.6g}, best so far {best:.6g}). "
        f"learning_rate={learning_rate!r} is probably too large (or the "
        "momentum too high): lower it, or use learning_rate='auto' and "
        "standardized features.",
        RisingLossWarning,
        stacklevel=4,
    )
