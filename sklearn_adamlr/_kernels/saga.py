"""SAGA's compiled epochs, dense and CSR, and the closed form of its lazy steps.

The kernels of :class:`~sklearn_adamlr.solvers.Saga` (its epoch,
``Capabilities.data_epoch``, chooses between these and the numpy reference,
:func:`sklearn_adamlr.solvers._saga.reference_epoch`, which they must match
up to rounding). Each epoch is one long function, as numba compiles it
fastest that way (see the linear CSR epoch in :mod:`._kernels.linear`).
"""

import numpy as np

from . import _numba, rowloss


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
    >>> from sklearn_adamlr._kernels.saga import repeat_step

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
