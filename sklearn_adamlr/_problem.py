"""The data of one training call, the smoothness of its objective, its step.

:class:`Problem` is what every layer below the estimator consumes (the loop,
the engines, the duality bound); :class:`Smoothness` derives the Lipschitz
constants that the automatic step sizes need, on demand, and
:func:`step_size` the base step of a call.
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import sparse

from ._loss import lipschitz_constant


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
    precond : ndarray of shape (n_features + fit_intercept, 1) or None
        The diagonal preconditioner of the solvers that take one (see
        :mod:`sklearn_adamlr._precondition`); None: none.
    """

    X: object
    target: np.ndarray
    sample_weight: np.ndarray | None
    loss: object
    penalty: object
    fit_intercept: bool
    weight_total: float | None = None
    precond: np.ndarray | None = None

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
    With ``preconditioned`` and the problem's ``precond`` ``P``, they are
    those of the problem in ``v = P^(-1/2) w``: of the columns scaled by
    ``sqrt(P)``, with the L2 part's largest ``l2 * P_j``.

    Parameters
    ----------
    problem : Problem
    preconditioned : bool, default=False
        For a solver that takes the problem's ``precond``.
    """

    def __init__(self, problem, preconditioned=False):
        self._problem = problem
        precond = problem.precond if preconditioned else None
        d = problem.n_features
        # the columns' factors in v, and the L2 part's largest curvature
        self._columns = None if precond is None else np.sqrt(precond[:d, 0])
        self._l2 = problem.penalty.l2 * (
            1.0 if precond is None else float(precond[:d].max(initial=0.0))
        )

    @cached_property
    def full(self):
        """``L`` of the full-batch gradient, including the L2 part."""
        p = self._problem
        if hasattr(p.X, "lipschitz_constant"):  # data on a cluster (_dask)
            L = p.X.lipschitz_constant(p.fit_intercept, p.loss.curvature)
            return L + self._l2
        L = lipschitz_constant(
            p.X, p.sample_weight, p.fit_intercept, p.loss.curvature,
            column_scale=self._columns,
        )  # fmt: skip
        return L + self._l2

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
            elif self._columns is not None:
                squares = self._columns**2
                sq = np.einsum("ij,ij,j->i", block, block, squares, dtype=np.float64)
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
        return self._sample_constants[0] + self._l2

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
        return self._sample_constants[0] * counted + self._l2

    @property
    def mean_sample(self):
        """Mean of the ``L_i`` of the weighted samples' gradients, plus L2."""
        return self._mean_constant + self._l2

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
        if self._columns is not None:
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


def auto_learning_rate(solver, smoothness, batch_size, certified=True):
    """The solver's ``'auto'`` step, or a ValueError that says what to do.

    With features beyond about 1e150 the Gram matrix behind the Lipschitz
    constant overflows: the eigensolver then fails with a cryptic
    ``LinAlgError``, or the step silently becomes 0 and nothing is learned.
    """
    try:
        with np.errstate(over="raise", invalid="raise"):
            auto = (
                solver.auto_learning_rate if certified else solver.stream_learning_rate
            )
            rate = float(auto(smoothness, batch_size))
    except (FloatingPointError, np.linalg.LinAlgError, OverflowError):
        rate = np.nan
    if not (np.isfinite(rate) and rate > 0):
        raise ValueError(
            "learning_rate='auto' (the default) could not be computed before "
            "epoch 1: the features are too large for the smoothness constant "
            f"of the loss to be finite (got a step of {rate!r}). Scale the "
            "features, e.g. with sklearn.preprocessing.StandardScaler, or pass "
            "a float learning_rate."
        )
    return rate


def step_size(estimator, solver, problem, batch_size, incremental, first_call):
    """``(learning_rate, rate_for_batch)``: the base step, and the automatic
    step of another batch size (None unless certified and automatic)."""
    if estimator.learning_rate != "auto":
        return float(estimator.learning_rate), None
    if incremental and not first_call:
        return estimator.learning_rate_, None
    # the loop halves a step that stalls only when it measures the
    # certificate (see Solver.stream_learning_rate)
    certified = not incremental and estimator.tol is not None
    certified = certified and not estimator.early_stopping
    if not certified:
        smoothness = Smoothness(problem, solver.preconditioned)
        return auto_learning_rate(solver, smoothness, batch_size, False), None
    return certified_step(solver, problem, batch_size)


def certified_step(solver, problem, batch_size):
    """``(learning_rate, rate_for_batch)`` of a certified fit's automatic step."""
    smoothness = Smoothness(problem, solver.preconditioned)

    def rate_for_batch(size):
        return auto_learning_rate(solver, smoothness, size)

    return rate_for_batch(batch_size), rate_for_batch
