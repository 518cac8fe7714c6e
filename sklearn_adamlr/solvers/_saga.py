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

from .._kernels import _numba, rowloss
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


def repeat_step(w, m, c, tau, a, log_a, one_minus_a):
    """``w`` after ``m`` steps of ``w <- a * S(w - c, tau)``, in closed form.

    The step of a coefficient whose feature is absent from the visited
    samples: the gradient part ``c`` (the step times the table's mean
    gradient) and the penalty stay the same until a sample with the
    feature is visited. The map is increasing and piecewise affine: ``0``
    on ``|w - c| <= tau``, and ``w -> a * (w - s)`` on each side, with
    ``s = c + tau`` above and ``s = c - tau`` below. Its iterates move
    monotonically to its fixed point, so they cross each piece at most
    once: each piece is jumped in one go, ``k`` affine steps being
    ``a^k w - s a (1 - a^k) / (1 - a)``, with the count to its edge from
    logarithms; the last step or two before an edge are taken one by one,
    so that rounding in the count never crosses it.

    Parameters
    ----------
    w : float
    m : int
        Number of steps.
    c : float
        ``step * mean_gradient`` of the coefficient.
    tau : float
        ``step * l1``.
    a : float
        ``1 / (1 + step * l2)``.
    log_a : float
        ``log(a)``, i.e. ``-log1p(step * l2)``.
    one_minus_a : float
        ``1 - a``, i.e. ``step * l2 * a`` (without cancellation).

    Returns
    -------
    w : float

    Examples
    --------
    >>> from sklearn_adamlr.solvers._saga import repeat_step

    Fifty steps at ``c = -0.1``, ``tau = 0.05``, ``a = 0.9``, from ``-1``:
    the iterates cross the zero piece on their way up to 0.45.

    >>> import math
    >>> w = -1.0
    >>> for _ in range(50):
    ...     u = w + 0.1
    ...     w = 0.9 * math.copysign(max(abs(u) - 0.05, 0.0), u)
    >>> closed = repeat_step(-1.0, 50, -0.1, 0.05, 0.9, math.log(0.9), 0.1)
    >>> round(w, 6), abs(closed - w) < 1e-15
    (0.445744, True)
    """
    w = float(w)
    while m > 0:
        u = w - c
        if u > tau:
            s, sign = c + tau, 1.0
        elif u < -tau:
            s, sign = c - tau, -1.0
        else:
            w = 0.0
            m -= 1
            if abs(c) <= tau:  # 0 is the fixed point
                return 0.0
            continue
        # On this piece sign * w > sign * s; an affine step is w <- a (w - s).
        v, edge = sign * w, sign * s
        jump = m
        if edge > 0.0:  # the iterates fall towards the edge and cross it
            count = _steps_to_edge(v, edge, a, log_a, one_minus_a)
            if count < m:
                jump = max(int(count) - 1, 0)
        if jump == 0:
            w = a * (w - s)
            m -= 1
            continue
        if one_minus_a == 0.0:
            w = w - jump * s
        else:
            power = np.exp(jump * log_a)
            w = power * w + s * a * np.expm1(jump * log_a) / one_minus_a
        m -= jump
    return w


def _steps_to_edge(v, edge, a, log_a, one_minus_a):
    """The steps ``v <- a * (v - edge)`` take from ``v > edge > 0`` to ``edge``.

    A real number ``k``: the iterate is at or below ``edge`` after
    ``ceil(k)`` steps, up to rounding. The iterates approach the fixed point
    ``-a * edge / (1 - a)`` (below ``edge``) geometrically, by ``a`` a step;
    with ``a = 1`` they fall by ``edge`` a step.
    """
    if one_minus_a == 0.0:
        return (v - edge) / edge
    fixed = -a * edge / one_minus_a
    return np.log1p(-(v - edge) / (v - fixed)) / log_a


def _step_constants(rate, l1, l2):
    """``(tau, a, log_a, one_minus_a)`` of the prox of a step ``rate``."""
    a = 1.0 / (1.0 + rate * l2)
    return rate * l1, a, -np.log1p(rate * l2), rate * l2 * a


def _prox_scalar(u, tau, a):
    """``a * S(u, tau)``: the prox of the penalty, for one coefficient.

    ``u - clip(u, -tau, tau)`` is the soft-thresholding with the same
    rounding, and without a branch LLVM vectorises the dense step's loop
    over the features.
    """
    return a * (u - max(min(u, tau), -tau))


def _terms(z, y, weight, one):
    """Turn ``z`` into ``weight * dloss/dz``; return the loss's two parts.

    ``(linear, factor)``: the row's loss is ``linear + log(factor)`` (see
    ``rowloss``).
    """
    if BINARY:
        linear, factor, g = rowloss._binary_terms(z[0], y, weight, one, one)
        z[0] = g
        return linear, factor
    shifted_y, norm = rowloss._softmax_terms(z, int(y), weight, one)
    return -shifted_y, norm


def _visit(z, y, sw, i, one, total, product, entry, delta):
    """The loss of a visited sample with raw prediction ``z``, and its entry.

    ``sw`` holds the sample weights (empty: unit weights) and ``i`` is the
    sample. Adds the loss to ``(total, product)`` (see ``rowloss._add_loss``),
    writes ``new - entry`` into ``delta`` and the new derivative into the
    table's ``entry``. Returns ``(total, product, finite)``; a non-finite
    ``z`` changes nothing.
    """
    for c in range(z.shape[0]):
        if not np.isfinite(z[c]):
            return total, product, False
    weighted = sw.shape[0] > 0
    weight = sw[i] if weighted else one
    linear, factor = _terms(z, y, weight, one)
    total, product = rowloss._add_loss(total, product, weighted, weight, linear, factor)
    for c in range(z.shape[0]):
        delta[c] = z[c] - entry[c]
        entry[c] = z[c]
    return total, product, True


def _step_row(params, mg, j, delta, x, rate, nw, inv_w, tau, a):
    """The step of row ``j`` of the coefficients, whose feature is ``x``.

    The gradient is ``nw * delta * x`` (the visited sample's correction)
    plus the table's mean; the mean then takes in the sample's change.
    With ``x = 1`` and no prox (``tau = 0``, ``a = 1``) it is the
    intercept's step.
    """
    for c in range(delta.shape[0]):
        g = rate * nw * delta[c] * x + rate * mg[j, c]
        params[j, c] = _prox_scalar(params[j, c] - g, tau, a)
        mg[j, c] += inv_w * delta[c] * x


def _dense_epoch(X, target, sw, samples, params, table, mg, rate, nw, inv_w, l1, l2,
                 z, delta):  # fmt: skip
    """One epoch of SAGA steps on dense rows; ``(loss sum, finite)``."""
    d = X.shape[1]
    k = params.shape[1]
    has_intercept = params.shape[0] > d
    one = X.dtype.type(1)
    zero = one - one
    tau, a, _, _ = _step_constants(rate, l1, l2)
    total = 0.0
    product = 1.0
    # one output: 1-d views, so that LLVM sees unit strides and vectorises
    w = params.reshape(params.size)
    m = mg.reshape(mg.size)
    n_steps = samples.shape[0]
    line = max(64 // X.itemsize, 1)
    following = samples[0] if n_steps > 0 else 0
    z_next = zero
    if BINARY and n_steps > 0:
        for j in range(d):
            z_next += X[following, j] * w[j]
    for t in range(n_steps):
        i = samples[t]
        if t + AHEAD < n_steps:
            # The row and table entry AHEAD samples ahead: the order is
            # random, so the hardware's prefetcher cannot guess them. On 400k
            # x 100 dense data an epoch went from 0.17 s to 0.10 s (one sample
            # ahead: 0.106 s, four: 0.103 s). Since a binary step reads the
            # next row in its own loop, 3 (best of 5 interleaved, another
            # day: 1: 0.165 s, 2: 0.137 s, 3: 0.134 s, 4: 0.137 s).
            ahead = samples[t + AHEAD]
            for j in range(0, d, line):
                _numba._prefetch(X, ahead, j)
            _numba._prefetch(table, ahead, 0)
        if BINARY:
            z[0] = z_next + w[d] if has_intercept else z_next
        else:
            for c in range(k):
                z[c] = params[d, c] if has_intercept else zero
            for j in range(d):
                x = X[i, j]
                for c in range(k):
                    z[c] += x * params[j, c]
        total, product, finite = _visit(
            z, target[i], sw, i, one, total, product, table[i], delta
        )
        if not finite:
            return total, False
        if BINARY:
            # The step, and the next sample's prediction at the new point in
            # the same loop: one pass over the coefficients per sample, not
            # two. On 400k x 100 dense rows an epoch went from 0.176 s to 0.149 s.
            following = samples[t + 1] if t + 1 < n_steps else i
            step, add = rate * nw * delta[0], inv_w * delta[0]
            z_next = zero
            for j in range(d):
                x = X[i, j]
                wj = _prox_scalar(w[j] - (step * x + rate * m[j]), tau, a)
                w[j] = wj
                m[j] += add * x
                z_next += X[following, j] * wj
        else:
            for j in range(d):
                _step_row(params, mg, j, delta, X[i, j], rate, nw, inv_w, tau, a)
        if has_intercept:
            _step_row(params, mg, d, delta, 1.0, rate, nw, inv_w, 0.0, 1.0)
    return total + np.log(product), True


def _catch_up(w, lag, c, tau, a, log_a, one_minus_a, powers, sums):
    """:func:`repeat_step`; without L1 from the tables of ``a^m`` and ``sum a^i``.

    Without L1 the map is affine everywhere, and ``lag`` steps are
    ``a^lag w - c a sum_{i < lag} a^i``: two lookups instead of the three
    transcendental calls of the closed form (the lazy epoch on 200k x 50k
    CSR data went from 0.44 s to 0.25 s).
    """
    if not L1:
        return powers[lag] * w - c * a * sums[lag]
    return repeat_step(w, lag, c, tau, a, log_a, one_minus_a)


def _csr_epoch(data, indices, indptr, d, target, sw, samples, params, table, mg,
               rate, nw, inv_w, l1, l2, z, delta, powers, sums):  # fmt: skip
    """One epoch of lazy SAGA steps on CSR rows; ``(loss sum, finite)``.

    A step reads and writes, for each feature of its sample, the feature's
    coefficients, their mean gradient and the step at which they were last
    moved. They are kept side by side in one record per feature for the
    epoch (float64, ``2 * n_outputs + 2`` values; the coefficients rounded
    to ``params``' dtype at every write, as if stored there), so that a
    feature costs one cache line, not three: on 200k x 50k data with 50
    non-zeros a row (binary, L2), an epoch in runs of 16 rows took 0.366 s
    with three arrays and 0.227 s with records (best of 7, interleaved;
    medians 0.377 and 0.242), and in a permutation of the samples 0.374 and
    0.275 s (medians 0.455 and 0.391). A feature is caught up
    (:func:`_catch_up`) when a visited sample has it, and all of them at the
    end. ``powers`` and ``sums`` hold ``a^m`` and ``sum_{i < m} a^i`` for
    ``m`` up to the number of steps (see :func:`_geometric`).
    """
    k = params.shape[1]
    has_intercept = params.shape[0] > d
    one = params.dtype.type(1)
    tau, a, log_a, one_minus_a = _step_constants(rate, l1, l2)
    total = 0.0
    product = 1.0
    n_steps = samples.shape[0]
    # record j: coefficients [0, k), mean gradient [k, 2k), last step at 2k
    stamp = 2 * k
    records = np.empty((d, 2 * k + 2))
    for j in range(d):
        for c in range(k):
            records[j, c] = params[j, c]
            records[j, k + c] = mg[j, c]
        records[j, stamp] = 0.0
    # 2-d views, for the prefetch of a line
    data_lines = data.reshape((data.shape[0], 1))
    index_lines = indices.reshape((indices.shape[0], 1))
    for t in range(n_steps):
        i = samples[t]
        lo, hi = indptr[i], indptr[i + 1]
        # The order is random, so the hardware's prefetcher cannot guess the
        # next rows: ask for the non-zeros two samples ahead, and for the
        # records of the features of the next one (its indices are cached).
        # On 200k x 50k data with 50 non-zeros a row: 0.246 to 0.224 s an
        # epoch with L2 alone, 0.45 to 0.41 s with an L1 part.
        if t + 2 < n_steps:
            ahead = samples[t + 2]
            for p in range(indptr[ahead], indptr[ahead + 1], 8):
                _numba._prefetch(data_lines, p, 0)
                _numba._prefetch(index_lines, p, 0)
            _numba._prefetch(table, ahead, 0)
        if t + 1 < n_steps:
            following = samples[t + 1]
            for p in range(indptr[following], indptr[following + 1]):
                _numba._prefetch(records, indices[p], 0)
        for c in range(k):
            z[c] = params[d, c] if has_intercept else one - one
        # one output: the raw prediction in a register (z is an array that
        # LLVM cannot prove apart from the records)
        z0 = z[0]
        for p in range(lo, hi):
            j = indices[p]
            lag = t - int(records[j, stamp])
            if lag > 0:
                for c in range(k):
                    records[j, c] = params.dtype.type(_catch_up(
                        records[j, c], lag, rate * records[j, k + c], tau, a,
                        log_a, one_minus_a, powers, sums,
                    ))  # fmt: skip
                records[j, stamp] = t
            x = data[p]
            if BINARY:
                z0 += x * params.dtype.type(records[j, 0])
            else:
                for c in range(k):
                    z[c] += x * params.dtype.type(records[j, c])
        if BINARY:
            z[0] = z0
        total, product, finite = _visit(
            z, target[i], sw, i, one, total, product, table[i], delta
        )
        if not finite:
            return total, False
        if BINARY:
            step, add = rate * nw * delta[0], inv_w * delta[0]
            for p in range(lo, hi):
                j = indices[p]
                x = data[p]
                u = records[j, 0] - (step * x + rate * records[j, 1])
                records[j, 0] = params.dtype.type(_prox_scalar(u, tau, a))
                records[j, 1] += add * x
                records[j, 2] = t + 1
        else:
            for p in range(lo, hi):
                j = indices[p]
                x = data[p]
                for c in range(k):
                    # as _step_row, on the record
                    g = rate * nw * delta[c] * x + rate * records[j, k + c]
                    records[j, c] = params.dtype.type(
                        _prox_scalar(records[j, c] - g, tau, a)
                    )
                    records[j, k + c] += inv_w * delta[c] * x
                records[j, stamp] = t + 1
        if has_intercept:
            _step_row(params, mg, d, delta, 1.0, rate, nw, inv_w, 0.0, 1.0)
    for j in range(d):
        lag = n_steps - int(records[j, stamp])
        for c in range(k):
            w = records[j, c]
            if lag > 0:
                w = _catch_up(
                    w, lag, rate * records[j, k + c], tau, a, log_a,
                    one_minus_a, powers, sums,
                )  # fmt: skip
            params[j, c] = w
            mg[j, c] = records[j, k + c]
    return total + np.log(product), True


def _geometric(n_steps, rate, l2):
    """``(powers, sums)``: ``a^m`` and ``sum_{i < m} a^i``, ``m = 0..n_steps``.

    With ``a = 1 / (1 + rate * l2)``, computed as :func:`repeat_step` does.
    """
    m = np.arange(n_steps + 1, dtype=np.float64)
    if l2 == 0.0:
        return np.ones_like(m), m
    log_a = -np.log1p(rate * l2)
    one_minus_a = rate * l2 / (1.0 + rate * l2)
    return np.exp(m * log_a), -np.expm1(m * log_a) / one_minus_a


# One output or several, an L1 part or not: fixed per compiled variant (see
# _compiled_epoch).
BINARY = L1 = None
# How many samples ahead the dense epoch prefetches (see _dense_epoch).
AHEAD = 3


def _compiled_epoch(sparse_input, binary, l1):
    """The compiled epoch for this layout, number of outputs and penalty.

    A variant (see ``_numba.specialise``) compiles the binary or the softmax
    loss, not both, and on CSR data the catch-up of an L1 part only when
    there is one: a first binary L2 fit on CSR data with an empty numba
    cache took 2.8 s with all of them.
    """
    terms = _numba.specialise(_terms, inline=True, BINARY=binary)
    visit = _numba.specialise(_visit, inline=True, _terms=terms)
    if not sparse_input:
        return _numba.specialise(_dense_epoch, BINARY=binary, _visit=visit)
    catch_up = _numba.specialise(_catch_up, inline=True, L1=l1)
    return _numba.specialise(
        _csr_epoch, BINARY=binary, _visit=visit, _catch_up=catch_up
    )


if _numba.AVAILABLE:
    _steps_to_edge = _numba.jit(_steps_to_edge, inline=True)
    repeat_step = _numba.jit(repeat_step)
    _step_constants = _numba.jit(_step_constants, inline=True)
    _prox_scalar = _numba.jit(_prox_scalar, inline=True)
    _step_row = _numba.jit(_step_row, inline=True)


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
    >>> from sklearn_adamlr._training import Problem
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
