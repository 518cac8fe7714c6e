"""SAGA (Defazio, Bach & Lacoste-Julien, 2014): variance-reduced proximal steps.

SAGA keeps, for every sample, the derivative of its loss at the point where
the sample was last visited, and corrects each stochastic gradient with it.
Its steps need the data itself, not a minibatch gradient, so the solver
declares a whole epoch of its own (``Capabilities.data_epoch``):
:class:`SagaEpoch`, with a numpy reference and compiled dense and CSR paths.
"""

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .._kernels import _numba
from .._kernels.saga import _compiled_epoch, _geometric
from .._loss import gradient_from_raw, raw_prediction
from ._base import Capabilities, Solver, register_solver


@dataclass
class SagaState:
    """State of :class:`Saga`.

    Attributes
    ----------
    table : ndarray of shape (n_samples, n_outputs) or None
        For each sample ``i``, ``sample_weight[i] * dloss_i/dz`` at the point
        where ``i`` was last visited, in the dtype of ``X``: the gradient of
        sample ``i``'s data term is ``table[i]`` times ``[x_i, 1]``. None
        until the first epoch builds it.
    """

    table: np.ndarray | None = None


@register_solver
class Saga(Solver):
    r"""SAGA with a proximal step for the penalty (Defazio et al., 2014).

    With :math:`f_i` the data term of sample :math:`i` scaled so that the
    data term of the objective is their mean, and :math:`\phi_i` the point
    where sample :math:`i` was last visited, a step on sample :math:`j` is

    .. math::

        w \leftarrow \operatorname{prox}_{\eta R}\Big(w - \eta \big(
        \nabla f_j(w) - \nabla f_j(\phi_j)
        + \tfrac{1}{n} \textstyle\sum_i \nabla f_i(\phi_i)\big)\Big),
        \qquad \phi_j \leftarrow w,

    where :math:`R` is the whole penalty, L2 and L1, so that
    :math:`\operatorname{prox}_{\eta R}(u) = S_{\eta \lambda_1}(u) /
    (1 + \eta \lambda_2)` with :math:`S` the soft-thresholding: L1 zeros are
    exact. The intercept is not penalised. The correction makes the step's
    variance vanish at the optimum, so a constant step converges linearly to
    the exact optimum, where SGD stalls in a ball of noise.

    For a linear model :math:`\nabla f_i(\phi_i)` is a scalar per output
    times :math:`[x_i, 1]`, so the state keeps a table of
    ``n_samples x n_outputs`` scalars in the dtype of ``X`` (for 1e6
    samples, 8 MB in float64 per output), built at the start point by one
    pass over ``X`` (see :class:`SagaEpoch`). One epoch is one step per sample;
    ``batch_size`` is ignored. Under ``shuffle=True`` (or ``'blocks'``), on
    1,024 samples or more, the epoch visits runs of ``run_rows = 16``
    consecutive rows, the runs in a new random order each epoch and their
    boundaries shifted by a random offset, each run in order; on fewer
    samples, and with ``shuffle='samples'``, a new permutation of the
    samples. Rows drawn one by one from anywhere in a large ``X`` cost a
    cache miss each, where a run is read as one stretch of memory.

    ``learning_rate='auto'`` is :math:`1 / L_{mean}`, with :math:`L_{mean}`
    the mean smoothness constant of one sample's weighted loss (plus the L2
    part). With samples drawn in proportion to their constants, the
    analyses of SAG and SAGA depend on their mean rather than their maximum
    (Schmidt et al., 2015; Qian et al., 2019); with the uniform order used
    here, :math:`1 / L_{mean}` is a heuristic beyond the
    :math:`1 / (3 L_{\max})` of Theorem 1 of Defazio et al. (2014), which
    ``partial_fit`` and ``tol=None`` use. The certificate guards the larger
    step: in a ``fit`` with ``tol``, after ``stall_patience`` epochs
    without a lower full objective the training loop halves the step and
    resumes from the best point. The step is constant within an epoch
    (``schedule`` must be ``'constant'``).

    On CSR data the compiled epoch is lazy: a feature absent from the
    visited sample moves by the same map every step until the next sample
    that has it, and it is caught up then, in closed form
    (:func:`repeat_step`), so a step costs the non-zeros of its sample, as
    in scikit-learn's ``sag_fast``, with the penalty exact.

    ``partial_fit`` runs one epoch over the chunk it is given. The table is
    kept between calls while the chunks have the same number of rows (row
    ``i``'s entry serves as the start entry of the next chunk's row ``i``;
    SAGA converges from any table whose mean is consistent, and each call
    recomputes the mean on its chunk, one more pass over it), and is
    rebuilt at the current coefficients otherwise. Calls on the same data
    therefore continue as ``fit`` does, up to the rounding of the
    recomputed mean.

    References
    ----------
    A. Defazio, F. Bach and S. Lacoste-Julien, "SAGA: A Fast Incremental
    Gradient Method With Support for Non-Strongly Convex Composite
    Objectives", NeurIPS 2014.

    M. Schmidt, R. Babanezhad, M. O. Ahmed, A. Defazio, A. Clifton and
    A. Sarkar, "Non-Uniform Stochastic Average Gradient Method for Training
    Conditional Random Fields", AISTATS 2015.

    X. Qian, Z. Qu and P. Richtárik, "SAGA with Arbitrary Sampling",
    ICML 2019.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_adamlr import AdamLogisticRegression
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = AdamLogisticRegression(solver="saga", random_state=0).fit(X, y)
    >>> bool(clf.optimality_ <= clf.tol)
    True
    """

    name = "saga"
    # Counted in epochs for a solver with its own epoch (see Capabilities).
    # SAGA's objective is not monotone at a good step, and a step too large
    # keeps it in a noisy band with a rare new low: 3 epochs halved digits'
    # step too early (C=1, L2: a gap of 6.6e-4 after 300 epochs, 1.6e-5
    # with 5); 10 let 20000 x 20 raw make_classification data wander near a
    # gap of 3e-2 for 30 epochs (5: 1e-6 at epoch 28).
    stall_patience = 5
    # One epoch of the compiled dense step on 400k x 100 float64 rows (best /
    # median of 3): a permutation of the samples 0.144 / 0.166 s, runs of 8
    # rows 0.084 / 0.100, 16: 0.075 / 0.096, 64: 0.070 / 0.084, in order
    # 0.046. Epochs to a relative gap of 1e-6 there: 44 by permutation, 47
    # with runs of 16 (38 with 64; 41 and 47 on the same rows sorted by
    # label). Below RUNS_MIN runs (1,024 rows) the data fit in the caches and
    # the epochs keep a permutation.
    run_rows = 16

    def init_state(self, params):
        return SagaState()

    def auto_learning_rate(self, smoothness, batch_size):
        """``1 / L_mean``, guarded by the certificate (see the class docstring)."""
        return 1.0 / smoothness.mean_sample

    def stream_learning_rate(self, smoothness, batch_size):
        """``1 / (3 L_max)`` (Defazio et al., 2014, Theorem 1)."""
        return 1.0 / (3.0 * smoothness.max_weighted_sample)

    def update(self, params, grad, state, learning_rate, prox):
        """Not used: SAGA's steps need the data (see :class:`SagaEpoch`)."""
        raise NotImplementedError(
            "SAGA steps on single samples with their stored gradients; it "
            "runs through SagaEpoch, not through update()."
        )


def reference_epoch(problem, samples, params, table, mg, rate, nw):
    """One epoch of SAGA steps with numpy, for dense or CSR ``X``: the reference.

    Every coefficient takes every step (no laziness); the compiled epochs
    must give the same numbers up to rounding. ``nw`` is the scale of each
    sample's data term, ``n / sum(sample_weight)`` over the ``n`` samples
    that count; ``table`` and ``mg`` (the table's mean gradient, float64)
    are updated in place.

    Returns
    -------
    loss_sum : float
    """
    p = problem
    X, d = p.X, p.n_features
    k = params.shape[1]
    inv_w = 1.0 / p.weight_sum
    l1, l2 = p.penalty.l1, p.penalty.l2
    a = 1.0 / (1.0 + rate * l2)
    has_intercept = len(params) > d
    g = np.empty((1, k), dtype=params.dtype)
    total = 0.0
    for i in samples:
        x = X[i].toarray().ravel() if sparse.issparse(X) else X[i]
        z = x @ params[:d]
        if has_intercept:
            z = z + params[d]
        sw = None if p.sample_weight is None else p.sample_weight[i : i + 1]
        total += p.loss.loss_gradient(z[None, :], p.target[i : i + 1], sw, g)
        delta = g[0] - table[i]
        table[i] = g[0]
        outer = np.outer(x, delta)
        u = params[:d] - (rate * nw * outer + rate * mg[:d])
        shrunk = np.maximum(np.abs(u) - rate * l1, 0.0)
        params[:d] = a * np.copysign(shrunk, u)
        mg[:d] += inv_w * outer
        if has_intercept:
            params[d] -= rate * nw * delta + rate * mg[d]
            mg[d] += inv_w * delta
    return total


class SagaEpoch:
    """SAGA's epochs on one data set: ``Capabilities.data_epoch`` of :class:`Saga`.

    It builds the table (:class:`SagaState`) at the current point, in one
    pass over ``X``, when the state has none for this data (shape or dtype
    differ), and computes the table's mean gradient
    ``[X, 1]^T table / sum(sample_weight)`` in float64 whenever it meets a
    table it has not seen (once per training call, one pass over ``X``);
    the steps then keep both up to date. The compiled
    epochs run when ``compiled`` (numba installed, ``X`` C-contiguous or
    CSR in the dtype of the parameters), else :func:`reference_epoch`.

    Parameters
    ----------
    solver : Saga
    problem : Problem
    params : ndarray of shape (n_features + fit_intercept, n_outputs)
    compiled : bool

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_adamlr import get_solver
    >>> from sklearn_adamlr._loss import BinaryLogLoss
    >>> from sklearn_adamlr._penalties import ElasticNet
    >>> from sklearn_adamlr._problem import Problem
    >>> from sklearn_adamlr.solvers._saga import SagaEpoch
    >>> X = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    >>> problem = Problem(X, np.array([1.0, 0.0, 1.0]), None, BinaryLogLoss(),
    ...                   ElasticNet(alpha=0.1, l1_ratio=0.0), True)
    >>> saga = get_solver("saga")
    >>> params = np.zeros((3, 1))
    >>> state = saga.init_state(params)
    >>> epoch = SagaEpoch(saga, problem, params, compiled=False)
    >>> loss, finite = epoch.epoch(params, state, np.array([0, 1, 2]), 0.1)
    >>> round(loss, 6), np.round(state.table.ravel(), 6).tolist()
    (2.038179, [-0.5, 0.495916, -0.483159])

    The table starts at the gradients of the start point, ``sigmoid(0) - y``;
    sample 0 is visited there, so its entry is unchanged.
    """

    def __init__(self, solver, problem, params, compiled):
        self.problem = problem
        X = problem.X
        if sparse.issparse(X) and compiled:
            X = X.tocsr()
            if not X.has_canonical_format:
                # A duplicate column would take two steps in the lazy epoch.
                X = X.copy()
                X.sum_duplicates()
        self.X = X
        self.compiled = compiled
        self.mean_grad = np.zeros(params.shape, dtype=np.float64)
        self._table = None
        k = params.shape[1]
        self._z = np.empty(k, dtype=params.dtype)
        self._delta = np.empty(k, dtype=np.float64)
        if compiled and sparse.issparse(X):
            self._no_table = np.empty(0, dtype=np.float64)
        if compiled:
            self._epoch = _compiled_epoch(
                sparse.issparse(X), k == 1, problem.penalty.l1 != 0.0
            )

    def _start(self, params, state):
        """Build the table if the state has none for this data; its mean."""
        p = self.problem
        shape = (p.n_samples, params.shape[1])
        table = state.table
        if table is None or table.shape != shape or table.dtype != params.dtype:
            # Built at the current point (Defazio et al.), not filled by a
            # first epoch of plain SGD steps as SAG's is: after a restart from
            # the best point (see train), the SGD epoch moved far from it, on
            # 100k x 20 dense data from a gap of 1e-15 to 1e-3. From a cold
            # start the two differed little (400k x 100 dense: 1e-6 at epoch
            # 45 built, 42 filled).
            raw = raw_prediction(p.X, params, p.n_features)
            table = np.empty(shape, dtype=params.dtype)
            p.loss.loss_gradient(raw, p.target, p.sample_weight, table)
            state.table = table
        if table is not self._table:
            # In float64, a block of rows at a time: a float32 X is not copied.
            mean = self.mean_grad
            mean[...] = 0.0
            block = np.empty_like(mean)
            for start in range(0, p.n_samples, 4096):
                rows = slice(start, start + 4096)
                gradient_from_raw(
                    p.X[rows], table[rows].astype(np.float64), p.n_features,
                    1.0 / p.weight_sum, block,
                )  # fmt: skip
                mean += block
            self._table = table

    def epoch(self, params, state, samples, rate):
        """One step per sample of ``samples``, in order, at the step ``rate``.

        Returns
        -------
        loss_sum : float
            The weighted loss of each sample where its step was taken, summed.
        finite : bool
            False if a raw prediction became non-finite (the step diverged).
        """
        self._start(params, state)
        p = self.problem
        n_steps = p.n_samples
        if p.sample_weight is not None:
            # A sample of zero weight is not in the sum: it takes no step
            # (a step would still move by the mean gradient), as if dropped.
            positive = p.sample_weight > 0
            samples = samples[positive[samples]]
            n_steps = int(np.count_nonzero(positive))
        # f_i = n * sw_i * loss_i / sum(sw) over the n samples that count
        nw, inv_w = n_steps / p.weight_sum, 1.0 / p.weight_sum
        l1, l2 = p.penalty.l1, p.penalty.l2
        if not self.compiled:
            loss = reference_epoch(
                p, samples, params, state.table, self.mean_grad, rate, nw
            )
            return loss, bool(np.isfinite(params).all())
        sw = _numba._EMPTY[params.dtype.type]
        if p.sample_weight is not None:
            sw = p.sample_weight
        samples = samples.astype(np.intp, copy=False)
        X = self.X
        if sparse.issparse(X):
            if l1 == 0.0:
                powers, sums = _geometric(len(samples), rate, l2)
            else:
                powers = sums = self._no_table
            return self._epoch(
                X.data, X.indices, X.indptr, X.shape[1], p.target, sw, samples,
                params, state.table, self.mean_grad, rate, nw, inv_w,
                l1, l2, self._z, self._delta, powers, sums,
            )  # fmt: skip
        return self._epoch(
            X, p.target, sw, samples, params, state.table, self.mean_grad, rate,
            nw, inv_w, l1, l2, self._z, self._delta,
        )  # fmt: skip


Saga.capabilities = Capabilities(data_epoch=SagaEpoch)
