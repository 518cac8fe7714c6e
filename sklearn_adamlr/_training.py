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

from . import _fused
from ._loss import gradient_from_raw, lipschitz_constant, raw_prediction
from ._schedules import Constant
from ._sparse import penalty_scale


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


class _L1Prox:
    """``prox(params, step, rows=None)``: soft-thresholding of the coefficients.

    ``params`` are the packed parameters, or their rows ``rows`` (lazy
    updates); ``step`` is a float or an array shaped like ``params``.

    Attributes
    ----------
    threshold : ndarray of shape (n_params,)
        L1 strength of each row of the packed parameters: the penalty's,
        times the lazy penalty scale of the feature, and 0 for the intercept.
        Compiled solvers read it to fuse the prox into their step.
    """

    def __init__(self, penalty, n_params, n_features, row_scale=None):
        self.penalty = penalty
        factor = np.zeros((n_params, 1))
        factor[:n_features, 0] = 1.0 if row_scale is None else row_scale
        self._factor = factor
        self.threshold = penalty.l1 * factor[:, 0]

    def __call__(self, params, step, rows=None):
        factor = self._factor if rows is None else self._factor[rows]
        self.penalty.prox(params, step * factor)


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


def _batch_list(plan, n_samples):
    """The plan's batches as ``(start, stop, rows)`` for the per-batch loop.

    ``rows`` is None when the batch is the view ``X[start:stop]``; for the
    batch that straddles the end of ``X`` it lists ``start:n``, then
    ``0:rest`` (and the batch is ``rows[0:stop - start]``).
    """
    starts, stops, order = plan
    batches = []
    for start, stop in zip(starts.tolist(), stops.tolist(), strict=True):
        if order is not None:
            batches.append((start, stop, order))
        elif stop <= n_samples:
            batches.append((start, stop, None))
        else:
            rows = np.concatenate(
                [np.arange(start, n_samples), np.arange(stop - n_samples)]
            )
            batches.append((0, stop - start, rows))
    return batches


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
    X = problem.X
    n, d = X.shape
    target, sw, loss, penalty = (
        problem.target,
        problem.sample_weight,
        problem.loss,
        problem.penalty,
    )
    full_batch = solver.full_batch
    if full_batch:
        batch_size = n
    batch_size = max(1, min(batch_size, n))
    # The minibatch gradient sum_b(sw * dloss) / (m * mean(sw)) is an unbiased
    # estimate of the full gradient sum(sw * dloss) / sum(sw).
    mean_weight = problem.weight_sum / n
    dtype = params.dtype
    k = params.shape[1]
    is_sparse = sparse.issparse(X)
    gather = shuffle == "samples" and batch_size < n
    rotate = bool(shuffle) and shuffle != "samples" and batch_size < n
    # A linear solver without a prox takes the dense method's steps; on CSR
    # data the compiled path runs them in scaled coordinates at the cost of
    # lazy ones (see _fused.LinearKernel).
    linear = getattr(solver, "linear", False) and not (penalty.has_prox or full_batch)
    scaled = linear and is_sparse and _fused.supports(X, params)
    # Lazy updates (see _sparse): a step moves only the coefficients of the
    # features that its minibatch touches, with the penalty rescaled.
    lazy = is_sparse and getattr(solver, "lazy", False) and not full_batch
    lazy = lazy and not linear
    row_scale = penalty_scale(X, batch_size, shuffle) if lazy else None
    prox = _L1Prox(penalty, len(params), d, row_scale) if penalty.has_prox else None
    grad = np.empty_like(params)
    fixed_bounds = _batches(n, batch_size)
    # A lazy solver may run whole epochs compiled (Solver.sparse_kernel).
    sparse_kernel = getattr(solver, "sparse_kernel", None)
    compiled_epochs = lazy and sparse_kernel is not None and _fused.supports(X, params)

    # data_gradient(start, stop, rows, point) -> (loss, n_active): the summed
    # loss of the minibatch rows[start:stop] (rows None: the view
    # X[start:stop]) at `point`, with the gradient of the data term and of
    # the L2 part written into `grad`; when lazy, only the rows
    # active[:n_active] of `grad` are meaningful, else n_active is -1.
    if scaled:
        linear_kernel = _fused.LinearKernel(X, target, sw, params, batch_size)
    elif compiled_epochs:
        epoch_kernel = sparse_kernel(
            solver, X, target, sw, params, row_scale,
            None if prox is None else prox.threshold,
        )  # fmt: skip
    elif _fused.supports(X, params):
        kernel = _fused.Kernel(X, target, sw, k, row_scale)
        active = kernel.active

        def data_gradient(start, stop, rows, point):
            scale = 1.0 / ((stop - start) * mean_weight)
            return kernel(start, stop, rows, point, scale, penalty.l2, grad)

    else:
        raw_buf = np.empty((batch_size, k), dtype=dtype)
        graw_buf = np.empty((batch_size, k), dtype=dtype)
        active = np.empty(len(params), dtype=np.intp)
        if (gather or rotate) and not is_sparse:
            # for gathered batches (and the one rotated batch that wraps around)
            x_buf = np.empty((batch_size, d), dtype=X.dtype)

        def data_gradient(start, stop, rows, point):
            m = stop - start
            if rows is None:
                Xb, yb = X[start:stop], target[start:stop]
                swb = None if sw is None else sw[start:stop]
            else:
                idx = rows[start:stop]
                Xb = X[idx] if is_sparse else np.take(X, idx, axis=0, out=x_buf[:m])
                yb = target[idx]
                swb = None if sw is None else sw[idx]
            raw = raw_prediction(Xb, point, d, out=raw_buf[:m])
            graw = graw_buf[:m]
            value = loss.loss_gradient(raw, yb, swb, graw)
            gradient_from_raw(Xb, graw, d, 1.0 / (m * mean_weight), grad)
            if not lazy:
                penalty.add_gradient(point[:d], grad[:d])
                return value, -1
            touched = np.unique(Xb.indices)
            if penalty.l2:
                l2_rows = (penalty.l2 * row_scale[touched])[:, None]
                grad[touched] += l2_rows * point[touched]
            n_active = len(touched)
            active[:n_active] = touched
            if len(params) > d:
                active[n_active] = d
                n_active += 1
            return value, n_active

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
        batches = None if compiled_epochs or scaled else _batch_list(plan, n)
        loss_sum = 0.0
        epoch_no = epoch_offset + epoch + 1
        step_count = result.t
        try:
            # An overflow or a NaN in the arithmetic of a batch is divergence;
            # catch it at its first batch, before it spreads to the state.
            with np.errstate(
                over="raise", invalid="raise", divide="raise", under="ignore"
            ):
                if scaled:
                    loss_sum = _scaled_epoch(
                        linear_kernel, plan, params, solver, state, rate_at,
                        step_count, mean_weight, penalty.l2,
                    )  # fmt: skip
                    step_count += len(plan[0])
                elif compiled_epochs:
                    n_batches = len(plan[0])
                    rates = [rate_at(step_count + b) for b in range(1, n_batches + 1)]
                    epoch_kernel.load(params, state)
                    loss_sum, finite = epoch_kernel.epoch(
                        state, *plan, rates, mean_weight, penalty.l2
                    )
                    if not finite:
                        raise FloatingPointError("overflow in the step")
                    epoch_kernel.store(params, state)
                    step_count += n_batches
                else:
                    for start, stop, rows in batches:
                        point = solver.eval_point(params, state)
                        value, n_active = data_gradient(start, stop, rows, point)
                        loss_sum += value
                        if full_batch:
                            # The objective at the point where the gradient was taken
                            # (FISTA's extrapolated point), consistent with its loss.
                            penalty_value = penalty.value(point[:d])
                        step_count += 1
                        rate = rate_at(step_count)
                        if n_active < 0:
                            solver.update(params, grad, state, rate, prox)
                        else:
                            touched = active[:n_active]
                            solver.update(params, grad, state, rate, prox, rows=touched)
        except FloatingPointError as exc:
            raise ValueError(
                _divergence_message(epoch_no, learning_rate, f"numpy: {exc}")
            ) from None
        result.t = step_count

        if not full_batch:
            penalty_value = penalty.value(params[:d])
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


def _scaled_epoch(
    kernel, plan, params, solver, state, rate_at, t, mean_weight, l2
):  # fmt: skip
    """One epoch of a linear solver's steps through ``kernel``; the loss sum.

    ``params`` and the solver's arrays are updated in place at the end;
    ``t`` is the number of updates before the epoch and ``rate_at(t)`` the
    step size of update ``t``. The steps' maps do not depend on the arrays'
    values, so the solver is asked for all of them first, and the epoch is
    one compiled call.
    """
    Ps, qs = [], []
    for b in range(1, len(plan[0]) + 1):
        arrays, P, q = solver.linear_update(state, rate_at(t + b))
        Ps.append(P)
        qs.append(q)
    kernel.load(params, arrays)
    loss_sum, ok = kernel.epoch(*plan, Ps, qs, mean_weight, l2)
    if not ok:
        raise FloatingPointError("overflow in the step")
    kernel.store(params, arrays)
    return loss_sum


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
