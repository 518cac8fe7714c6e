"""Ways to run an epoch: one engine per strategy, chosen in one place.

The training loop (:mod:`sklearn_adamlr._training`) knows epochs, stopping
and warnings, and nothing about data formats or kernels. For each epoch it
asks its engine to take the steps of a plan (the minibatches, in order, and
the step size of each), and for the certificate of convergence it asks for
the objective and the gradient on the whole data. The engines:

- :class:`NumpyEngine`: the reference, for any solver on dense or CSR data,
  one :meth:`~sklearn_adamlr.Solver.update` per minibatch;
- :class:`KernelEngine`: the same steps with the minibatch's loss and
  gradient from the compiled dense or CSR kernel;
- :class:`LinearEngine`: a linear solver's steps on CSR data in scaled
  coordinates (:class:`~sklearn_adamlr._kernels.LinearKernel`);
- :class:`SolverKernelEngine`: a lazy solver's own compiled epoch on CSR data
  (``Capabilities.sparse_kernel``);
- :class:`DataEpochEngine`: the epoch of a solver whose steps need the data
  itself (``Capabilities.data_epoch``, e.g. SAGA's table of per-sample
  gradients), one step per sample.

The lazy sparse path (see :mod:`sklearn_adamlr._sparse`) is a mode of the
first two, not an engine of its own: its steps are the same per-minibatch
loop, only the gradient covers the touched rows and the solver is told
which. :func:`make_engine` chooses, with the reason for each rule.
"""

import numpy as np
from scipy import sparse

from . import _kernels
from ._hessian import newton_decrease
from ._loss import gradient_from_raw, objective, raw_prediction
from ._sparse import penalty_scale
from .solvers._base import capabilities_of

# A first-order fit's point is certified only when the sampled Hessian's
# model decrease (gap_estimate) is at most this share of its objective: the
# issue's "converged means within 1e-3", with a margin for the estimate.
FIRST_ORDER_GAP_SHARE = 1e-4


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


class Engine:
    """Runs the epochs of one training call; the interface of every engine.

    Parameters
    ----------
    problem : Problem
    solver : Solver
    params : ndarray of shape (n_features + fit_intercept, n_outputs)
        The parameters the epochs will update (for their shape and dtype).
    batch_size : int
        Samples per minibatch, already ``n_samples`` for a full-batch solver.
    row_scale : ndarray of shape (n_features,) or None
        Lazy mode: the penalty scale of each feature (see
        :func:`~sklearn_adamlr._sparse.penalty_scale`).
    """

    # Whether a full-batch epoch hands its objective and gradient to
    # ``observe`` (see BatchEngine.run_epoch).
    observes_full_batch = False
    # The minibatches' ``(starts, stops)`` of an epoch when this engine's are
    # not consecutive runs of ``batch_size`` rows (a dask model's batches end
    # at its blocks' ends); None: those.
    bounds = None

    def __init__(self, problem, solver, params, batch_size, row_scale=None):
        self.problem = problem
        self.solver = solver
        self.row_scale = row_scale
        d = problem.n_features
        penalty = problem.penalty
        self.prox = (
            _L1Prox(penalty, len(params), d, row_scale) if penalty.has_prox else None
        )
        # The minibatch gradient sum_b(sw * dloss) / (m * mean(sw)) is an
        # unbiased estimate of the full gradient sum(sw * dloss) / sum(sw).
        self.mean_weight = problem.weight_sum / problem.n_samples
        self._full_kernel = None
        self._last_estimate = None
        # ``observe(point, objective, grad, rate) -> rate``: set by the
        # training loop to receive the full objective and gradient that a
        # full-batch update computes anyway, so that its certificate costs no
        # pass of its own; it returns the update's step, or None to skip the
        # update and keep ``point`` (see BatchEngine.run_epoch).
        self.observe = None

    def run_epoch(self, plan, params, state, rates):
        """Take the steps of one epoch; update ``params`` and ``state`` in place.

        Parameters
        ----------
        plan : tuple of (starts, stops, order)
            The minibatches in visiting order (see ``_plan.epoch_plan``).
        params : ndarray
        state : object
            The solver's state.
        rates : list of float
            The step size of each minibatch's update, schedule applied.

        Returns
        -------
        loss_sum : float
            The weighted loss of each minibatch at the point where its
            gradient was taken, summed.
        penalty : float
            The penalty at the point of the last gradient for a full-batch
            solver (so that loss and penalty are taken at the same point),
            else at ``params`` after the epoch.

        Raises
        ------
        FloatingPointError
            If a step overflows or becomes non-finite.
        """
        raise NotImplementedError

    def _penalty_after(self, params):
        return self.problem.penalty.value(params[: self.problem.n_features])

    # The share of the objective that gap_estimate may reach at a certified
    # point (see FIRST_ORDER_GAP_SHARE).
    gap_share = FIRST_ORDER_GAP_SHARE

    def gap_estimate(self, point, gradient):
        """An estimate of how far ``point``'s objective is above the optimum.

        The quadratic model's decrease (:func:`~sklearn_adamlr._hessian.
        newton_decrease`), on a sample of rows; ``gradient`` is the smooth
        part's at ``point``. None for data not in memory: the certificate
        then rests on the gradient alone.
        """
        # CG starts from the last estimate's step, moved by the point's own
        # move: near the optimum the Newton step is about w* - w, so the
        # guess is nearly the answer (the accuracy is CG's stopping rule's
        # from any start). Measured, lbfgs at 10 Cs from 1e-4 to 1e4 on 80%
        # of standardized digits: 1,803 Hessian products from zero, 982 from
        # the guess (breast_cancer: 582, 368).
        start = None
        if self._last_estimate is not None:
            last_point, last_step = self._last_estimate
            start = last_step + (last_point - point)
        value, step = newton_decrease(self.problem, point, gradient, start)
        if step is not None:
            self._last_estimate = (point.copy(), step)
        return value

    def newton_step(self, point):
        """The Newton step of the last gap estimate, if it was taken at ``point``.

        ``-H^-1 s`` on the estimate's sample of rows (see
        :meth:`gap_estimate`); None otherwise.
        """
        if self._last_estimate is None:
            return None
        at, step = self._last_estimate
        return step if np.array_equal(at, point) else None

    def full_objective(self, params, grad):
        """The scaled objective at ``params`` on all the data, one pass over ``X``.

        ``grad`` receives the gradient of its smooth part (the data term and
        the L2 part), the quantity behind the certificate of convergence.
        The compiled dense or CSR kernel computes it when it applies, else
        numpy.
        """
        p = self.problem
        d = p.n_features
        # (three or more classes on dense rows: numpy's products, see
        # pays.blas_pays)
        full_on_numpy = _kernels.pays.blas_pays(p.X, params.shape[1])
        if _kernels.supports(p.X, params) and not full_on_numpy:
            if self._full_kernel is None:
                self._full_kernel = _kernels.Kernel(
                    p.X, p.target, p.sample_weight, params.shape[1]
                )
            loss_sum, _ = self._full_kernel(
                0, p.n_samples, None, params, 1.0 / p.weight_sum, p.penalty.l2, grad
            )
            return loss_sum / p.weight_sum + p.penalty.value(params[:d])
        value, full_grad = objective(
            params, p.X, p.target, p.sample_weight, p.loss, p.penalty
        )
        grad[...] = full_grad
        return value


class BatchEngine(Engine):
    """One solver update per minibatch; subclasses compute the gradient.

    :meth:`data_gradient` returns the minibatch's loss sum with the gradient
    of its data term and L2 part in ``self.grad``; in lazy mode only the rows
    ``self.active[:n_active]`` of it are meaningful (else ``n_active`` is
    -1), and the solver is told to update those rows only.
    """

    def __init__(self, problem, solver, params, batch_size, row_scale=None):
        super().__init__(problem, solver, params, batch_size, row_scale)
        self.grad = np.empty_like(params)
        # A full batch's gradient is then of all the rows, not lazy, and
        # run_epoch hands it to ``observe``.
        self.observes_full_batch = row_scale is None

    def data_gradient(self, start, stop, rows, point):
        """``(loss sum, n_active)`` of the minibatch ``rows[start:stop]`` at ``point``.

        ``rows`` None is the view ``X[start:stop]``.
        """
        raise NotImplementedError

    def run_epoch(self, plan, params, state, rates):
        solver, prox, grad = self.solver, self.prox, self.grad
        full_batch = solver.full_batch
        d = self.problem.n_features
        n = self.problem.n_samples
        loss_sum = 0.0
        penalty_value = None
        batches = _batch_list(plan, n)
        for (start, stop, rows), rate in zip(batches, rates, strict=True):
            point = solver.eval_point(params, state)
            value, n_active = self.data_gradient(start, stop, rows, point)
            loss_sum += value
            if full_batch:
                # The objective at the point where the gradient was taken
                # (FISTA's extrapolated point), consistent with its loss.
                penalty_value = self.problem.penalty.value(point[:d])
            if self.observe is not None and n_active < 0 and stop - start == n:
                # The whole data's objective and gradient at ``point``: the
                # certificate's pass, for free. Measured on 400,000 x 100
                # dense rows: a gd epoch with its certificate took 0.057 s
                # as two passes, 0.034 s as one.
                at_point = (
                    penalty_value
                    if full_batch
                    else self.problem.penalty.value(point[:d])
                )
                objective = value / self.problem.weight_sum + at_point
                rate = self.observe(point, objective, grad, rate)
                if rate is None:
                    params[...] = point
                    return loss_sum, at_point
            if n_active < 0:
                solver.update(params, grad, state, rate, prox)
            else:
                touched = self.active[:n_active]
                solver.update(params, grad, state, rate, prox, rows=touched)
        if penalty_value is None:
            penalty_value = self._penalty_after(params)
        return loss_sum, penalty_value


class NumpyEngine(BatchEngine):
    """The reference: numpy's loss and gradient of each minibatch, any solver."""

    def __init__(self, problem, solver, params, batch_size, row_scale=None):
        super().__init__(problem, solver, params, batch_size, row_scale)
        X = problem.X
        k = params.shape[1]
        self._raw = np.empty((batch_size, k), dtype=params.dtype)
        self._graw = np.empty((batch_size, k), dtype=params.dtype)
        self.active = np.empty(len(params), dtype=np.intp)
        # for gathered batches (and the one rotated batch that wraps around)
        if batch_size < problem.n_samples and not sparse.issparse(X):
            self._x_buf = np.empty((batch_size, X.shape[1]), dtype=X.dtype)

    def data_gradient(self, start, stop, rows, point):
        p = self.problem
        X, target, sw, d = p.X, p.target, p.sample_weight, p.n_features
        grad, penalty = self.grad, p.penalty
        m = stop - start
        if rows is None:
            Xb, yb = X[start:stop], target[start:stop]
            swb = None if sw is None else sw[start:stop]
        else:
            idx = rows[start:stop]
            if sparse.issparse(X):
                Xb = X[idx]
            else:
                Xb = np.take(X, idx, axis=0, out=self._x_buf[:m])
            yb = target[idx]
            swb = None if sw is None else sw[idx]
        raw = raw_prediction(Xb, point, d, out=self._raw[:m])
        graw = self._graw[:m]
        value = p.loss.loss_gradient(raw, yb, swb, graw)
        gradient_from_raw(Xb, graw, d, 1.0 / (m * self.mean_weight), grad)
        if self.row_scale is None:
            penalty.add_gradient(point[:d], grad[:d])
            return value, -1
        touched = np.unique(Xb.indices)
        if penalty.l2:
            l2_rows = (penalty.l2 * self.row_scale[touched])[:, None]
            grad[touched] += l2_rows * point[touched]
        n_active = len(touched)
        self.active[:n_active] = touched
        if len(point) > d:
            self.active[n_active] = d
            n_active += 1
        return value, n_active


class KernelEngine(BatchEngine):
    """The per-minibatch loop with the compiled dense or CSR gradient kernel."""

    def __init__(self, problem, solver, params, batch_size, row_scale=None):
        super().__init__(problem, solver, params, batch_size, row_scale)
        self.kernel = _kernels.Kernel(
            problem.X, problem.target, problem.sample_weight, params.shape[1],
            row_scale,
        )  # fmt: skip
        self.active = self.kernel.active

    def data_gradient(self, start, stop, rows, point):
        scale = 1.0 / ((stop - start) * self.mean_weight)
        l2 = self.problem.penalty.l2
        return self.kernel(start, stop, rows, point, scale, l2, self.grad)


class LinearEngine(Engine):
    """A linear solver's epoch on CSR data, in scaled coordinates, one call.

    The steps' maps do not depend on the arrays' values, so the solver is
    asked for all of them first (``Solver.linear_update``), and the epoch is
    one compiled call.
    """

    def __init__(self, problem, solver, params, batch_size, row_scale=None):
        super().__init__(problem, solver, params, batch_size, row_scale)
        self.kernel = _kernels.LinearKernel(
            problem.X, problem.target, problem.sample_weight, params, batch_size
        )

    def run_epoch(self, plan, params, state, rates):
        Ps, qs = [], []
        for rate in rates:
            arrays, P, q = self.solver.linear_update(state, rate)
            Ps.append(P)
            qs.append(q)
        self.kernel.load(params, arrays)
        loss_sum, ok = self.kernel.epoch(
            *plan, Ps, qs, self.mean_weight, self.problem.penalty.l2
        )
        if not ok:
            raise FloatingPointError("overflow in the step")
        self.kernel.store(params, arrays)
        return loss_sum, self._penalty_after(params)


class SolverKernelEngine(Engine):
    """A lazy solver's own compiled epoch on CSR data (``sparse_kernel``)."""

    def __init__(self, problem, solver, params, batch_size, row_scale=None):
        super().__init__(problem, solver, params, batch_size, row_scale)
        kernel_class = capabilities_of(solver).sparse_kernel
        self.kernel = kernel_class(
            solver, problem.X, problem.target, problem.sample_weight, params,
            row_scale, None if self.prox is None else self.prox.threshold,
        )  # fmt: skip

    def run_epoch(self, plan, params, state, rates):
        self.kernel.load(params, state)
        loss_sum, finite = self.kernel.epoch(
            state, *plan, rates, self.mean_weight, self.problem.penalty.l2
        )
        if not finite:
            raise FloatingPointError("overflow in the step")
        self.kernel.store(params, state)
        return loss_sum, self._penalty_after(params)


class DataEpochEngine(Engine):
    """A solver's own epoch with the data (``Capabilities.data_epoch``).

    For a per-sample solver the plan has one sample per step; the solver's
    class runs the steps, compiled when the data allow it, else through its
    numpy reference. A full-batch solver's epoch is one step on all the
    data (``samples`` is None); when its class sets ``observes_full_batch``
    the epoch measures its start point for the certificate and calls
    ``observe`` itself (its ``epoch`` then takes ``observe=``).
    """

    def __init__(self, problem, solver, params, batch_size, row_scale=None):
        super().__init__(problem, solver, params, batch_size, row_scale)
        compiled = _kernels.supports(problem.X, params)
        epoch_class = capabilities_of(solver).data_epoch
        self.runner = epoch_class(solver, problem, params, compiled)
        self.observes_full_batch = getattr(epoch_class, "observes_full_batch", False)

    @property
    def gap_share(self):
        return getattr(self.runner, "gap_share", FIRST_ORDER_GAP_SHARE)

    def gap_estimate(self, point, gradient):
        estimate = getattr(self.runner, "gap_estimate", None)
        if estimate is None:
            return super().gap_estimate(point, gradient)
        return estimate(point)

    def run_epoch(self, plan, params, state, rates):
        starts, stops, order = plan
        n = self.problem.n_samples
        if self.solver.full_batch:
            samples = None
        elif order is not None:  # a permutation, one sample per "batch"
            samples = order[starts]
        else:
            # Runs of consecutive rows (Solver.run_rows; one row each when
            # the runs are off), rows r mod n for r in starts[b]:stops[b].
            lengths = stops - starts
            first = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
            samples = np.remainder(first + np.arange(lengths.sum()), n)
        rates = np.asarray(rates, dtype=np.float64)
        if rates.min() != rates.max():
            raise ValueError(
                f"Solver {self.solver.name!r} takes a constant step size "
                f"within an epoch, got steps from {rates.min():g} to "
                f"{rates.max():g}: use schedule='constant' (its steps "
                "converge without a decaying schedule)."
            )
        rate = float(rates[0])
        if self.observes_full_batch:
            loss_sum, finite = self.runner.epoch(
                params, state, samples, rate, observe=self.observe
            )
        else:
            loss_sum, finite = self.runner.epoch(params, state, samples, rate)
        if not finite:
            raise FloatingPointError("overflow in the step")
        return loss_sum, self._penalty_after(params)


def _blas_pays(problem, solver, params):
    """Whether a solver's epochs run on numpy (see ``pays.blas_pays``)."""
    return _kernels.pays.blas_pays(problem.X, params.shape[1], solver.full_batch)


def make_engine(problem, solver, params, batch_size, shuffle):
    """The engine for this problem and solver: the one place that chooses.

    Parameters
    ----------
    problem : Problem
    solver : Solver
    params : ndarray of shape (n_features + fit_intercept, n_outputs)
    batch_size : int
        Already ``n_samples`` for a full-batch solver.
    shuffle : {'samples', 'blocks', False}
        How the epochs visit the data
        (:func:`~sklearn_adamlr._plan.shuffle_mode`), for the lazy penalty
        scale.

    Returns
    -------
    engine : Engine
    """
    if hasattr(problem.X, "make_engine"):
        # Data that bring their own engines (a dask array's blocks, see
        # _dask.DaskData): the steps go where the data live.
        return problem.X.make_engine(problem, solver, params, batch_size, shuffle)
    can = capabilities_of(solver)
    # A solver that needs the data itself runs its own epochs, whatever the
    # data; it chooses between its compiled and numpy paths.
    if can.data_epoch is not None:
        return DataEpochEngine(problem, solver, params, batch_size)
    X = problem.X
    is_sparse = sparse.issparse(X)
    compiled = _kernels.supports(X, params) and not _blas_pays(problem, solver, params)
    # A linear solver without a prox takes the dense method's steps; on CSR
    # data the compiled path runs them in scaled coordinates at the cost of
    # lazy ones (see _kernels.LinearKernel). Without numba it takes them
    # through the reference, not lazily: the same steps.
    linear = can.linear and not (problem.penalty.has_prox or solver.full_batch)
    if linear and is_sparse and compiled:
        return LinearEngine(problem, solver, params, batch_size)
    # Lazy updates (see _sparse): on CSR data a step moves only the
    # coefficients of the features its minibatch touches, with the penalty
    # rescaled; a full batch touches them all anyway.
    lazy = is_sparse and can.lazy and not solver.full_batch and not linear
    row_scale = penalty_scale(X, batch_size, shuffle) if lazy else None
    # A lazy solver may run whole epochs compiled, reading each record once.
    if lazy and can.sparse_kernel is not None and compiled:
        return SolverKernelEngine(problem, solver, params, batch_size, row_scale)
    # Otherwise one update per minibatch: the compiled gradient when the data
    # allow it (C-contiguous or CSR, float32/64), else the numpy reference.
    engine = KernelEngine if compiled else NumpyEngine
    return engine(problem, solver, params, batch_size, row_scale)
