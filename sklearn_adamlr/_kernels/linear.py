"""A linear solver's steps on CSR data, in scaled coordinates.

For a solver whose step is linear in the gradient (``Capabilities.linear``),
the L2 part moves every coefficient at every step, but only through a small
matrix shared by all features; a step then costs O(non-zeros of the
minibatch) and is still the dense method's step (:class:`LinearKernel`).
"""

import numpy as np

from ._numba import (
    _AHEAD,
    _EMPTY,
    _EMPTY_ROWS,
    _prefetch,
    _row_span,
    specialise,
)
from .rowloss import _add_loss, _binary_terms, _softmax_terms


def _csr_linear_epoch(
    data, indices, indptr, d, starts, stops, order, Z, target, sw, mean_weight,
    Ps, qs, l2, M, work, raw, scratch, limits,
):  # fmt: skip
    """A linear solver's steps on CSR minibatches, in scaled coordinates.

    Step ``b`` takes the minibatch of the rows ``order[r]`` for ``r`` in
    ``starts[b]:stops[b]``, or with an empty ``order`` the rows ``r mod
    n_samples``; its data term's gradient is scaled by ``1 / ((stops[b] -
    starts[b]) * mean_weight)``, and it moves by ``P = Ps[b]``, ``q =
    qs[b]``.

    ``Z`` has a row per parameter row, holding the parameters then the
    solver's arrays (``s`` blocks of ``k`` values). For a feature row ``j``
    the solver's quantities are ``M @ Z[j]`` (blocks as vectors), with ``M``
    an ``s x s`` matrix shared by all features; the intercept row is kept as
    is. The step ``x <- A x + q g``, with ``A = P + l2 q e_0^T`` on the
    feature rows (the L2 part of the gradient is ``l2`` times the
    parameters), becomes ``M <- A M`` and ``Z[j] += M^{-1} q g_j``, which
    touches only the features of the minibatch. Once ``M`` would be worse
    conditioned than ``limits[0]``, or the 1-norm of ``M`` or of its
    inverse would exceed ``limits[1]``, the feature rows are brought back
    to ``M = I`` first. (A strong L2 part shrinks ``M`` by a factor every
    step at a condition of 1, so the feature rows grow by the inverse
    factor: without the second limit they overflowed within an epoch, in
    float32 at C=1e-2 with single-sample steps, where the dense path did
    not.) If ``A`` itself is past those limits, or singular, the step moves
    every feature row by ``A`` at once, the dense step's cost, and ``M``
    stays ``I``.

    One function, the step's body inside the loop over the steps: numba's
    inlining of a step function into the loop cost compile time (a first fit
    of ``minibatch`` on CSR data with an empty cache, three interleaved runs:
    7.3, 8.0 and 8.4 s with the step a function inlined, 5.5, 6.0 and 6.9 s
    as one function; the same coefficients, epochs no slower).

    Returns ``(loss sum, ok)``: ok is False if a raw prediction or a step is
    no longer finite; the epoch then stops after that step. ``work`` and
    ``scratch`` are buffers.
    """
    s = Ps.shape[1]
    k = raw.shape[1]
    width = s * k
    nnz = np.uintp(indices.shape[0])
    n = indptr.shape[0] - 1
    gathered = order.shape[0] > 0
    acc, coef = scratch[0], scratch[1]
    one = data.dtype.type(1)
    zero = one - one
    has_intercept = Z.shape[0] > d
    weighted = sw.shape[0] > 0
    epoch_total = 0.0
    for batch in range(starts.shape[0]):
        start, stop = starts[batch], stops[batch]
        scale = data.dtype.type(1.0 / ((stop - start) * mean_weight))
        P, q = Ps[batch], qs[batch]
        total = 0.0
        product = 1.0
        ok = True
        for r in range(start, stop):
            i = order[r] if gathered else (r if r < n else r - n)
            lo, hi = _row_span(indptr, i)
            # (indexing raw, not a view of its row: a view per row costs its
            # reference counting)
            if BINARY:
                # each coefficient M[0] @ Z[j] summed into a register: summing
                # the blocks of Z apart goes through the acc buffer, which LLVM
                # must load and store at every non-zero (it may alias Z)
                value = Z[d, 0] if has_intercept else zero
                for p in range(lo, hi):
                    # the row of a feature read soon (see _AHEAD)
                    if p + _AHEAD < nnz:
                        _prefetch(Z, indices[p + _AHEAD], 0)
                    j = np.uintp(indices[p])
                    w = zero
                    for a in range(s):
                        w += M[0, a] * Z[j, a]
                    value += data[p] * w
                raw[r - start, 0] = value
                ok &= np.isfinite(value)
            else:
                for t in range(width):
                    acc[t] = zero
                for p in range(lo, hi):
                    if p + _AHEAD < nnz:
                        _prefetch(Z, indices[p + _AHEAD], 0)
                    x = data[p]
                    j = np.uintp(indices[p])
                    for t in range(width):
                        acc[t] += x * Z[j, t]
                for c in range(k):
                    value = Z[d, c] if has_intercept else zero
                    for a in range(s):
                        value += M[0, a] * acc[a * k + c]
                    raw[r - start, c] = value
                    ok &= np.isfinite(value)
            weight = sw[i] if weighted else one
            if BINARY:
                z = raw[r - start, 0]
                linear, factor, gi = _binary_terms(z, target[i], weight, scale, one)
                raw[r - start, 0] = gi
            else:
                shifted_y, factor = _softmax_terms(
                    raw[r - start], int(target[i]), weight, scale
                )
                linear = -shifted_y
            total, product = _add_loss(total, product, weighted, weight, linear, factor)

        A, inverse = work[0], work[1]
        for a in range(s):
            for b in range(s):
                A[a, b] = P[a, b]
            A[a, 0] += l2 * q[a]
            for b in range(s):
                ok &= np.isfinite(A[a, b])
        condition, size = _advance(A, M, work)
        if not (condition <= limits[0] and size <= limits[1]):
            _materialize(Z, d, M, k, acc)
            condition, size = _advance(A, M, work)
            if not (condition <= limits[0] and size <= limits[1]):
                # A itself cannot be carried in M (plain SGD with
                # learning_rate * l2 = 1 maps every coefficient to 0, where such
                # a fit stopped with a false divergence, or with momentum ended
                # 2 to 7 % away from the dense path's coefficients): every
                # feature row moves by A now, and M stays I
                _materialize(Z, d, A, k, acc)
                for a in range(s):
                    for b in range(s):
                        inverse[a, b] = work[3, a, b] = 1.0 if a == b else 0.0
        # element by element: numba compiles a 2-D slice assignment with its
        # shape-mismatch error message, string formatting included (2.7 s of a
        # cold first fit, measured with an empty cache)
        advanced = work[3]
        for a in range(s):
            for b in range(s):
                M[a, b] = advanced[a, b]
        # coef: the step of each block per unit of gradient, M^{-1} q
        for a in range(s):
            value = 0.0
            for b in range(s):
                value += inverse[a, b] * q[b]
            ok &= np.isfinite(value)
            for c in range(k):
                coef[a * k + c] = value

        for r in range(start, stop):
            i = order[r] if gathered else (r if r < n else r - n)
            # acc: this row's step per unit of x, flat so the inner loop is one
            for t in range(width):
                acc[t] = coef[t] * raw[r - start, t % k]
            lo, hi = _row_span(indptr, i)
            for p in range(lo, hi):
                x = data[p]
                j = np.uintp(indices[p])
                for t in range(width):
                    Z[j, t] += acc[t] * x
        if has_intercept:
            # the intercept is not penalised: its step is P, unscaled
            for c in range(k):
                g = zero
                for r in range(stop - start):
                    g += raw[r, c]
                for a in range(s):
                    acc[a] = Z[d, a * k + c]
                for a in range(s):
                    value = q[a] * g
                    for b in range(s):
                        value += P[a, b] * acc[b]
                    Z[d, a * k + c] = value
        epoch_total += total + np.log(product)
        if not ok:
            return epoch_total, False
    return epoch_total, True


def _advance(A, M, work):
    """``work[3] <- A @ M`` and ``work[1] <- work[3]^{-1}``; their size.

    Returns ``(condition, size)``: the condition number of ``A @ M`` in the
    1-norm (inf if it is singular), and the larger of its 1-norm and its
    inverse's. ``work[2]`` is scratch. One and two blocks (plain SGD,
    momentum) have closed forms; more take Gauss-Jordan with partial
    pivoting on the tiny ``s x s`` matrices, without LAPACK's per-call cost.
    ``BLOCKS`` (fixed per compiled variant, see :class:`LinearKernel`) is
    ``s``, or 0 for the general code.
    """
    s = M.shape[0]
    inverse, lu, product = work[1], work[2], work[3]
    for a in range(s):
        for b in range(s):
            value = 0.0
            for c in range(s):
                value += A[a, c] * M[c, b]
            product[a, b] = value
    if BLOCKS == 1:
        p = product[0, 0]
        if p == 0.0:
            return np.inf, np.inf
        inverse[0, 0] = 1.0 / p
        return 1.0, max(abs(p), abs(inverse[0, 0]))
    if BLOCKS == 2:
        p00, p01, p10, p11 = product[0, 0], product[0, 1], product[1, 0], product[1, 1]
        det = p00 * p11 - p01 * p10
        if det == 0.0:
            return np.inf, np.inf
        inverse[0, 0], inverse[0, 1] = p11 / det, -p01 / det
        inverse[1, 0], inverse[1, 1] = -p10 / det, p00 / det
        norm = max(abs(p00) + abs(p10), abs(p01) + abs(p11))
        inverse_norm = max(abs(p11) + abs(p10), abs(p01) + abs(p00)) / abs(det)
        return norm * inverse_norm, max(norm, inverse_norm)
    norm = 0.0
    for b in range(s):
        column = 0.0
        for a in range(s):
            lu[a, b] = product[a, b]
            column += abs(lu[a, b])
            inverse[a, b] = 1.0 if a == b else 0.0
        norm = max(norm, column)
    for col in range(s):
        pivot = col
        for a in range(col + 1, s):
            if abs(lu[a, col]) > abs(lu[pivot, col]):
                pivot = a
        if lu[pivot, col] == 0.0:
            return np.inf, np.inf
        for b in range(s):
            lu[col, b], lu[pivot, b] = lu[pivot, b], lu[col, b]
            inverse[col, b], inverse[pivot, b] = inverse[pivot, b], inverse[col, b]
        factor = 1.0 / lu[col, col]
        for b in range(s):
            lu[col, b] *= factor
            inverse[col, b] *= factor
        for a in range(s):
            if a != col:
                f = lu[a, col]
                for b in range(s):
                    lu[a, b] -= f * lu[col, b]
                    inverse[a, b] -= f * inverse[col, b]
    inverse_norm = 0.0
    for b in range(s):
        column = 0.0
        for a in range(s):
            column += abs(inverse[a, b])
        inverse_norm = max(inverse_norm, column)
    return norm * inverse_norm, max(norm, inverse_norm)


def _materialize(Z, d, M, k, column):
    """``Z[j] <- M @ Z[j]`` (blocks as vectors) on the feature rows; ``M <- I``.

    ``column`` is scratch of at least ``s`` values. One and two blocks (plain
    SGD, momentum; ``BLOCKS`` 1 and 2) have loops of their own: the general
    one is a few times slower, and this runs every few dozen steps over
    every feature.
    """
    s = M.shape[0]
    if BLOCKS == 1:
        m = Z.dtype.type(M[0, 0])
        for j in range(d):
            for c in range(k):
                Z[j, c] *= m
    elif BLOCKS == 2:
        m00, m01 = Z.dtype.type(M[0, 0]), Z.dtype.type(M[0, 1])
        m10, m11 = Z.dtype.type(M[1, 0]), Z.dtype.type(M[1, 1])
        for j in range(d):
            for c in range(k):
                first, second = Z[j, c], Z[j, k + c]
                Z[j, c] = m00 * first + m01 * second
                Z[j, k + c] = m10 * first + m11 * second
    else:
        for j in range(d):
            for c in range(k):
                for a in range(s):
                    column[a] = Z[j, a * k + c]
                for a in range(s):
                    value = 0.0
                    for b in range(s):
                        value += M[a, b] * column[b]
                    Z[j, a * k + c] = value
    for a in range(s):
        for b in range(s):
            M[a, b] = 1.0 if a == b else 0.0


class LinearKernel:
    """Steps of a linear solver on CSR data, in scaled coordinates.

    For a solver whose step is linear in the gradient (``Capabilities.linear``),
    the penalty's L2 part moves every coefficient at every step, but only
    through a small matrix ``M`` shared by all features: the coefficients
    and the solver's arrays of feature ``j`` are ``M @ Z[j]`` (see
    :func:`_csr_linear_epoch`). A step then costs O(non-zeros of the minibatch),
    like a lazy one, yet it is the dense method's step, not an approximation
    of it.

    Parameters
    ----------
    X : CSR matrix of shape (n_samples, n_features)
    target : ndarray of shape (n_samples,)
    sample_weight : ndarray of shape (n_samples,) or None
    params : ndarray of shape (n_features + fit_intercept, n_outputs)
    batch_size : int

    Examples
    --------
    Two steps of plain SGD (``P = [[1]]``, ``q = [-lr]``) with L2 on the
    full batch, then back to the parameters:

    >>> import numpy as np
    >>> from scipy import sparse
    >>> from sklearn_adamlr import _kernels
    >>> X = sparse.csr_matrix(np.array([[1.0, 0.0], [0.0, 2.0]]))
    >>> params = np.zeros((3, 1))
    >>> if _kernels.AVAILABLE:
    ...     kernel = _kernels.LinearKernel(X, np.array([1.0, 0.0]), None, params, 2)
    ...     kernel.load(params, ())
    ...     _ = kernel.epoch(np.array([0, 0]), np.array([2, 2]), None,
    ...                      [[[1.0]]] * 2, [[-0.1]] * 2, 1.0, 0.01)
    ...     kernel.store(params, ())
    ...     print(np.round(params.ravel(), 6).tolist())
    ... else:
    ...     print([0.049663, -0.097452, 0.000936])
    [0.049663, -0.097452, 0.000936]
    """

    # Cond(M) above which the kernel scales every feature row back first.
    # Reading a coordinate through M loses up to about cond(M) ulps of the
    # largest of its blocks (1e-10 relative in float64, 6e-5 in float32);
    # with Nesterov's momentum 0.9 the O(n_features) rescaling then runs
    # every 90 (float64) or 25 (float32) steps.
    CONDITION_LIMIT = {np.float64: 1e6, np.float32: 1e3}
    # The 1-norm of M or of its inverse above which the same happens: a
    # uniform scaling costs no precision, but the feature rows hold the
    # coefficients times up to that size, and must stay in the dtype's range
    # (float32: 3.4e38) for coefficients up to 1e8 in size; past 1e-8 times
    # it they turn subnormal, an error below 1e-37 in the coefficient.
    SCALE_LIMIT = {np.float64: 1e150, np.float32: 1e30}

    def __init__(self, X, target, sample_weight, params, batch_size):
        self.X, self.target = X, target
        self.sw = _EMPTY[X.dtype.type] if sample_weight is None else sample_weight
        self._raw = np.empty((batch_size, params.shape[1]), dtype=params.dtype)
        dtype = params.dtype.type
        self._limits = np.array([self.CONDITION_LIMIT[dtype], self.SCALE_LIMIT[dtype]])
        self._blocks = None
        self._binary = params.shape[1] == 1

    def load(self, params, arrays):
        """Take ``params`` and the solver's ``arrays`` into the scaled form."""
        s = 1 + len(arrays)
        if self._blocks is None or self._blocks.shape[1] != s:
            n_params, k = params.shape
            # feature j's coefficients and arrays side by side: one cache
            # line per feature in the random accesses of a sparse row
            self._blocks = np.empty((n_params, s, k), dtype=params.dtype)
            self.Z = self._blocks.reshape(n_params, s * k)
            self.M = np.eye(s)
            self._work = np.empty((4, s, s))
            self._scratch = np.empty((2, s * k), dtype=params.dtype)
            self._compile(s)
        self._blocks[:, 0] = params
        for a, array in enumerate(arrays, start=1):
            self._blocks[:, a] = array
        self.M[:] = np.eye(s)

    def _compile(self, s):
        # The variants for this output count and number of blocks. The
        # epoch is one function with the step's body in its loop (see
        # _csr_linear_epoch: a step function compiled on its own cost more,
        # and inlined by numba into the loop still 2 s of a first fit on a
        # slow day). One and two blocks compile only their
        # closed forms of _advance and _materialize, not the general s x s
        # code (a first fit of minibatch on CSR with an empty cache, three
        # interleaved runs each on a slow day: 9.0 s before, 8.2 s after).
        blocks = s if s <= 2 else 0
        advance = specialise(_advance, BLOCKS=blocks)
        self._materialize = specialise(_materialize, BLOCKS=blocks)
        self._epoch = specialise(
            _csr_linear_epoch, BINARY=self._binary, _advance=advance,
            _materialize=self._materialize,
        )  # fmt: skip

    def store(self, params, arrays):
        """Write the current parameters and arrays back, in place."""
        k = params.shape[1]
        self._materialize(self.Z, self.X.shape[1], self.M, k, self._scratch[0])
        params[:] = self._blocks[:, 0]
        for a, array in enumerate(arrays, start=1):
            array[:] = self._blocks[:, a]

    def epoch(self, starts, stops, order, Ps, qs, mean_weight, l2):
        """The steps of one epoch, in one compiled call.

        Step ``b`` takes the loss of the minibatch ``order[starts[b]:stops[b]]``
        (``order`` None: the rows ``r mod n_samples`` for ``r`` in
        ``starts[b]:stops[b]``) at the current point, then moves by
        ``Ps[b]`` and ``qs[b]`` (see :func:`_csr_linear_epoch`); the gradient of
        its data term is scaled by ``1 / ((stops[b] - starts[b]) *
        mean_weight)``. Returns ``(loss sum, ok)``, with ``ok`` False when a
        step is no longer finite; the epoch then stops there.
        """
        X = self.X
        return self._epoch(
            X.data, X.indices, X.indptr, X.shape[1], starts, stops,
            _EMPTY_ROWS if order is None else order, self.Z, self.target,
            self.sw, mean_weight, np.asarray(Ps, dtype=np.float64),
            np.asarray(qs, dtype=np.float64), l2, self.M, self._work, self._raw,
            self._scratch, self._limits,
        )  # fmt: skip


# One output or several, and the number of blocks (0: any): fixed per compiled
# variant (see LinearKernel).
BINARY = None
BLOCKS = 0
