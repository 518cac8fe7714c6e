"""Compiled (numba) loss and gradient of a minibatch, in one pass over its rows.

The numpy path (:func:`~sklearn_adamlr._loss.raw_prediction`, the loss's
``loss_gradient``, :func:`~sklearn_adamlr._loss.gradient_from_raw`, the
penalty's ``add_gradient``) makes about a dozen numpy calls per minibatch and
reads the batch twice; its fixed cost of roughly 50 µs per call dominates
small batches. These kernels compute the raw prediction, the weighted loss,
the gradient of the data term and of the L2 part row by row, reading each row
once while it is in cache, with one Python call per minibatch. They are used
for dense C-contiguous and CSR float32/float64 data when numba is installed
(the ``fast`` extra); the numpy path stays the reference, and the tests check
that both give the same numbers.

On CSR data the kernels can also run *lazily* (see
:mod:`sklearn_adamlr._sparse`): they then compute the gradient only on the
columns that the minibatch touches and list those rows of the parameters in
``active``, in increasing order, so that a solver can update them alone.
For a solver whose step is linear (``Solver.linear``), :class:`LinearKernel`
takes the dense method's steps on CSR data instead, in scaled coordinates, at
the same O(non-zeros) cost. A lazy solver with its own compiled epoch
(``Solver.sparse_kernel``, e.g. Adam's) uses the loss helpers here and not the
lazy kernels.
"""

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - exercised when numba is absent
    numba = None

AVAILABLE = numba is not None

# Reassociation lets LLVM vectorise the dot products (a sequential sum is
# bound by the latency of one add per feature); the results differ from the
# numpy path only by rounding. No "nnan"/"ninf": infinities must propagate so
# that divergence is detected.
_FLAGS = {"reassoc", "contract"}

# The unweighted losses log(1 + exp(-|z|)) (binary) and log(sum(exp(z - max)))
# (softmax) are summed as the log of a running product, one log per few
# hundred rows instead of one per row: the per-row log was a third of the
# kernel's time. Each factor is in [1, n_classes]; flushing the product before
# it passes 1e250 keeps it finite. Only a factor closer to 1 than the float
# spacing (a loss below ~1e-16, i.e. a point far on its right side) is lost,
# an absolute error of at most 1e-16 per row.
_FLUSH = 1e250

# Multiplying the lowest set bit of a word by this de Bruijn sequence puts a
# distinct pattern in the top 6 bits for each of the 64 positions; the table
# maps the pattern back to the position (numba has no portable count of
# trailing zeros).
_DE_BRUIJN_MULTIPLIER = 0x03F79D71B4CB0A89
_DE_BRUIJN = np.zeros(64, dtype=np.int64)
for _position in range(64):
    _pattern = ((_DE_BRUIJN_MULTIPLIER << _position) & 0xFFFFFFFFFFFFFFFF) >> 58
    _DE_BRUIJN[_pattern] = _position


def jit(function, inline=False):
    """``function`` compiled by numba as the training kernels are, or None.

    Solvers use it for their optional compiled update; None (numba not
    installed) means they take their numpy path. ``inline=True`` inlines
    the function into its compiled callers: a call that LLVM does not
    inline costs tens of nanoseconds, which matters per coordinate.
    """
    if numba is None:  # pragma: no cover - exercised when numba is absent
        return None
    # cache=True keeps the compiled code on disk: the compile cost (a few
    # seconds) is paid once per machine and dtype, not once per process.
    # error_model="numpy": a division by zero gives inf or nan, as in numpy,
    # instead of a ZeroDivisionError check per division, whose branch keeps
    # LLVM from vectorising a loop that divides. The steps report non-finite
    # results themselves.
    options = dict(cache=True, nogil=True, fastmath=_FLAGS, error_model="numpy")
    if inline:
        options["inline"] = "always"
    return numba.njit(**options)(function)


# How many non-zeros ahead a CSR kernel asks for a feature's row of the
# parameters: enough to cover a fetch from L3 at the loop's pace, few enough
# for the lines to stay in L1 until used. Unsigned, like the positions it is
# added to (see _row_span).
_AHEAD = np.uintp(16)


def _prefetch(array, row, column):
    """Ask the CPU to bring ``array[row, column]``'s cache line into its caches.

    Only a hint: it changes no value, and compiled callers use it to start
    the fetch of a record that they will need some iterations later, when
    an access pattern (an index read from the data) defeats the hardware's
    own prefetcher. Called from Python, it does nothing.
    """


if numba is not None:
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic, overload

    @intrinsic
    def _prefetch_intrinsic(typingctx, array, row, column):
        def codegen(context, builder, signature, args):
            array_type, row_type, column_type = signature.args
            handle = context.make_array(array_type)(context, builder, args[0])
            index = [
                context.cast(builder, value, kind, types.intp)
                for value, kind in zip(args[1:], (row_type, column_type), strict=True)
            ]
            pointer = cgutils.get_item_pointer(
                context, builder, array_type, handle, index, wraparound=False
            )
            i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
            function = cgutils.get_or_insert_function(
                builder.module,
                ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                "llvm.prefetch.p0",  # opaque pointers: the LLVM of numba >= 0.68
            )
            # (address, 0: for a read (asking for a write made no difference),
            # 3: keep in all cache levels, 1: data)
            builder.call(
                function, [builder.bitcast(pointer, i8p), i32(0), i32(3), i32(1)]
            )
            return context.get_dummy_value()

        return types.void(array, row, column), codegen

    @overload(_prefetch, inline="always")
    def _prefetch_overload(array, row, column):
        return lambda array, row, column: _prefetch_intrinsic(array, row, column)


def soft_threshold(x, threshold):
    """``sign(x) * max(|x| - threshold, 0)`` for scalars; NaN stays NaN."""
    shrunk = abs(x) - threshold
    if shrunk <= 0:
        return x - x  # a zero of x's type (x is finite here)
    return np.copysign(shrunk, x)


def _row_span(indptr, i):
    """The positions of row ``i``'s non-zeros in a CSR matrix, unsigned.

    numba guards every access through a signed index with a wrap-around of
    negative values, a compare and a conditional move; positions and column
    indices are never negative, and with unsigned ones the CSR kernels'
    loops over a row's non-zeros shed those instructions: adam's sparse
    epoch went from 0.105 to 0.083 s, minibatch's from 0.091 to 0.068 s.
    Sums with them stay unsigned (``_AHEAD``): numba makes a float of a
    signed and an unsigned integer.
    """
    return np.uintp(indptr[i]), np.uintp(indptr[i + 1])


def _add_loss(total, product, weighted, weight, linear, factor):
    """Add one row's loss ``weight * (linear + log(factor))`` to the sums.

    Returns the new ``(total, product)``: unweighted rows multiply their
    factor into the running product (see ``_FLUSH``) instead of taking a log.
    """
    if weighted:
        return total + weight * (linear + np.log(factor)), product
    product *= factor
    if product > _FLUSH:
        return total + linear + np.log(product), 1.0
    return total + linear, product


def _binary_terms(z, y, weight, scale, one):
    """``(log(1 + exp(z)) - y z - log1p term, log1p term, d/dz * scale)``.

    Returns the part of the loss that needs no logarithm, the factor
    ``1 + exp(-|z|)`` whose log completes it, and the scaled derivative
    ``weight * (sigmoid(z) - y) * scale``, all stably for any ``z``.
    """
    zero = one - one
    e = np.exp(-abs(z))
    inv = one / (one + e)
    p = inv if z > zero else e * inv
    # log(1 + exp(z)) - y z = max(z, 0) - y z + log(1 + exp(-|z|))
    linear = max(z, zero) - (z if y > zero else zero)
    return linear, 1.0 + e, weight * (p - y) * scale


def _dense_binary(X, rows, start, stop, params, target, sw, scale, l2, grad):
    d = X.shape[1]
    one = X.dtype.type(1)
    zero = one - one
    scale = X.dtype.type(scale)
    # one output: 1-d views, so that LLVM sees unit strides
    w = params.reshape(params.size)
    g = grad.reshape(grad.size)
    has_intercept = w.shape[0] > d
    for j in range(g.shape[0]):
        g[j] = zero
    intercept = w[d] if has_intercept else zero
    weighted = sw.shape[0] > 0
    total = 0.0
    product = 1.0
    g_intercept = zero
    for r in range(start, stop):
        i = rows[r] if rows.shape[0] > 0 else r
        z = intercept
        for j in range(d):
            z += X[i, j] * w[j]
        weight = sw[i] if weighted else one
        linear, factor, gi = _binary_terms(z, target[i], weight, scale, one)
        total, product = _add_loss(total, product, weighted, weight, linear, factor)
        for j in range(d):
            g[j] += gi * X[i, j]
        g_intercept += gi
    if has_intercept:
        g[d] = g_intercept
    if l2 != 0.0:
        for j in range(d):
            g[j] += l2 * w[j]
    return total + np.log(product)


def _softmax_terms(z, y, weight, scale):
    """Turn ``z`` into ``weight * scale * (softmax(z) - onehot(y))`` in place.

    Returns ``(z[y] - max(z), sum(exp(z - max(z))))``: the loss is
    ``log(sum) - (z[y] - max)``, the log-sum-exp that never overflows.
    """
    k = z.shape[0]
    top = z[0]
    for c in range(1, k):
        top = max(top, z[c])
    shifted_y = z[y] - top
    norm = z[0] - z[0]
    for c in range(k):
        z[c] = np.exp(z[c] - top)
        norm += z[c]
    factor = weight * scale / norm
    for c in range(k):
        z[c] *= factor
    z[y] -= weight * scale
    return shifted_y, norm


def _dense_multinomial(X, rows, start, stop, params, target, sw, scale, l2, grad):
    d = X.shape[1]
    k = params.shape[1]
    one = X.dtype.type(1)
    zero = one - one
    scale = X.dtype.type(scale)
    has_intercept = params.shape[0] > d
    for j in range(grad.shape[0]):
        for c in range(k):
            grad[j, c] = zero
    z = np.empty(k, dtype=X.dtype)
    weighted = sw.shape[0] > 0
    total = 0.0
    product = 1.0
    for r in range(start, stop):
        i = rows[r] if rows.shape[0] > 0 else r
        for c in range(k):
            z[c] = params[d, c] if has_intercept else zero
        for j in range(d):
            x = X[i, j]
            for c in range(k):
                z[c] += x * params[j, c]
        weight = sw[i] if weighted else one
        shifted_y, norm = _softmax_terms(z, int(target[i]), weight, scale)
        total, product = _add_loss(total, product, weighted, weight, -shifted_y, norm)
        for j in range(d):
            x = X[i, j]
            for c in range(k):
                grad[j, c] += z[c] * x
        if has_intercept:
            for c in range(k):
                grad[d, c] += z[c]
    if l2 != 0.0:
        for j in range(d):
            for c in range(k):
                grad[j, c] += l2 * params[j, c]
    return total + np.log(product)


def _seen(touched, j):
    """Whether column ``j`` was touched before in this minibatch; mark it.

    ``touched`` is a bitmap of the columns the minibatch has touched so far.
    A lazy kernel sets a gradient row on its first touch and adds to it
    after: rather than zeroing the rows the last minibatch left, it assumes
    nothing about what a solver did with ``grad`` between calls. Callers use
    the answer in a select, not a branch: which touch comes first is
    unpredictable.
    """
    word = touched[j >> 6]
    bit = np.uint64(1) << np.uint64(j & 63)
    touched[j >> 6] = word | bit
    return (word & bit) != 0


def _lowest_bit(word):
    """The index of the lowest set bit of a non-zero ``word`` (de Bruijn)."""
    low = word & (~word + np.uint64(1))
    return _DE_BRUIJN[(low * np.uint64(_DE_BRUIJN_MULTIPLIER)) >> np.uint64(58)]


def _csr_finish(grad, params, d, l2, row_scale, active, touched):
    """Add the L2 gradient; when lazy, list the touched rows in ``active``.

    The lazy rows come from the bitmap ``touched`` (cleared on the way) in
    increasing order, so that the solver's step sweeps its arrays forwards,
    which is what the hardware prefetches; the intercept row comes last.
    Returns the number of active rows (0 when not lazy).
    """
    k = grad.shape[1]
    if touched.shape[0] == 0:
        if l2 != 0.0:
            for j in range(d):
                for c in range(k):
                    grad[j, c] += l2 * params[j, c]
        return 0
    n_active = 0
    for index in range(touched.shape[0]):
        word = touched[index]
        if word == 0:
            continue
        touched[index] = 0
        while word != 0:
            j = (index << 6) + _lowest_bit(word)
            word &= word - np.uint64(1)
            active[n_active] = j
            n_active += 1
            if l2 == 0.0:
                continue
            s = l2 * row_scale[j]
            if k == 1:  # binary: no inner loop (13 % of the lazy kernel's time)
                grad[j, 0] += s * params[j, 0]
                continue
            for c in range(k):
                grad[j, c] += s * params[j, c]
    if params.shape[0] > d:
        active[n_active] = d
        n_active += 1
    return n_active


def _csr_binary(
    data, indices, indptr, d, rows, start, stop, params, target, sw, scale, l2,
    row_scale, grad, active, touched,
):  # fmt: skip
    one = data.dtype.type(1)
    zero = one - one
    scale = data.dtype.type(scale)
    lazy = touched.shape[0] > 0
    if not lazy:
        grad[:] = zero
    w = params.reshape(params.size)
    g = grad.reshape(grad.size)
    has_intercept = w.shape[0] > d
    intercept = w[d] if has_intercept else zero
    weighted = sw.shape[0] > 0
    total = 0.0
    product = 1.0
    g_intercept = zero
    for r in range(start, stop):
        i = rows[r] if rows.shape[0] > 0 else r
        lo, hi = _row_span(indptr, i)
        z = intercept
        for p in range(lo, hi):
            z += data[p] * w[np.uintp(indices[p])]
        weight = sw[i] if weighted else one
        linear, factor, gi = _binary_terms(z, target[i], weight, scale, one)
        total, product = _add_loss(total, product, weighted, weight, linear, factor)
        if lazy:
            for p in range(lo, hi):
                j = np.uintp(indices[p])
                g[j] = (g[j] if _seen(touched, j) else zero) + gi * data[p]
        else:
            for p in range(lo, hi):
                g[np.uintp(indices[p])] += gi * data[p]
        g_intercept += gi
    if has_intercept:
        g[d] = g_intercept
    n_active = _csr_finish(grad, params, d, l2, row_scale, active, touched)
    return total + np.log(product), n_active


def _csr_multinomial(
    data, indices, indptr, d, rows, start, stop, params, target, sw, scale, l2,
    row_scale, grad, active, touched,
):  # fmt: skip
    k = params.shape[1]
    one = data.dtype.type(1)
    zero = one - one
    scale = data.dtype.type(scale)
    lazy = touched.shape[0] > 0
    if not lazy:
        grad[:] = zero
    has_intercept = params.shape[0] > d
    if has_intercept:
        for c in range(k):
            grad[d, c] = zero
    z = np.empty(k, dtype=data.dtype)
    weighted = sw.shape[0] > 0
    total = 0.0
    product = 1.0
    for r in range(start, stop):
        i = rows[r] if rows.shape[0] > 0 else r
        for c in range(k):
            z[c] = params[d, c] if has_intercept else zero
        lo, hi = _row_span(indptr, i)
        for p in range(lo, hi):
            x = data[p]
            j = np.uintp(indices[p])
            for c in range(k):
                z[c] += x * params[j, c]
        weight = sw[i] if weighted else one
        shifted_y, norm = _softmax_terms(z, int(target[i]), weight, scale)
        total, product = _add_loss(total, product, weighted, weight, -shifted_y, norm)
        for p in range(lo, hi):
            j = np.uintp(indices[p])
            x = data[p]
            keep = _seen(touched, j) if lazy else True
            for c in range(k):
                grad[j, c] = (grad[j, c] if keep else zero) + z[c] * x
        if has_intercept:
            for c in range(k):
                grad[d, c] += z[c]
    n_active = _csr_finish(grad, params, d, l2, row_scale, active, touched)
    return total + np.log(product), n_active


def _csr_linear(
    data, indices, indptr, d, order, start, stop, Z, target, sw, scale, P, q, l2,
    M, work, raw, scratch, limit,
):  # fmt: skip
    """One step of a linear solver on a CSR minibatch, in scaled coordinates.

    The minibatch is the rows ``order[start:stop]``, or with an empty
    ``order`` the rows ``r mod n_samples`` for ``r`` in ``start:stop``.

    ``Z`` has a row per parameter row, holding the parameters then the
    solver's arrays (``s`` blocks of ``k`` values). For a feature row ``j``
    the solver's quantities are ``M @ Z[j]`` (blocks as vectors), with ``M``
    an ``s x s`` matrix shared by all features; the intercept row is kept as
    is. The step ``x <- A x + q g``, with ``A = P + l2 q e_0^T`` on the
    feature rows (the L2 part of the gradient is ``l2`` times the
    parameters), becomes ``M <- A M`` and ``Z[j] += M^{-1} q g_j``, which
    touches only the features of the minibatch. Once ``M`` would be worse
    conditioned than ``limit``, the feature rows are brought back to
    ``M = I`` first.

    Returns ``(loss, ok)``: ok is False if a raw prediction or the step is no
    longer finite. ``work`` and ``scratch`` are buffers.
    """
    s = P.shape[0]
    k = raw.shape[1]
    width = s * k
    nnz = np.uintp(indices.shape[0])
    n = indptr.shape[0] - 1
    gathered = order.shape[0] > 0
    acc, coef = scratch[0], scratch[1]
    one = data.dtype.type(1)
    zero = one - one
    scale = data.dtype.type(scale)
    has_intercept = Z.shape[0] > d
    weighted = sw.shape[0] > 0
    total = 0.0
    product = 1.0
    ok = True
    for r in range(start, stop):
        i = order[r] if gathered else (r if r < n else r - n)
        lo, hi = _row_span(indptr, i)
        # (indexing raw, not a view of its row: a view per row costs its
        # reference counting)
        if k == 1:
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
        if k == 1:
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
    condition = _advance(A, M, work)
    if not condition <= limit:
        _materialize(Z, d, M, k, acc)
        condition = _advance(A, M, work)
    ok &= np.isfinite(condition)  # else A is singular: no inverse to use
    M[:, :] = work[3]
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
    return total + np.log(product), ok


def _csr_linear_epoch(
    data, indices, indptr, d, starts, stops, order, Z, target, sw, mean_weight,
    Ps, qs, l2, M, work, raw, scratch, limit,
):  # fmt: skip
    """The steps of :func:`_csr_linear` for minibatches ``starts[b]:stops[b]``.

    Step ``b`` is ``Ps[b]``, ``qs[b]``; the gradient of its data term is
    scaled by ``1 / ((stops[b] - starts[b]) * mean_weight)``. Returns
    ``(loss sum, ok)``, and stops at the first step that is not ok.
    """
    total = 0.0
    for b in range(starts.shape[0]):
        start, stop = starts[b], stops[b]
        value, ok = _csr_linear(
            data, indices, indptr, d, order, start, stop, Z, target, sw,
            1.0 / ((stop - start) * mean_weight), Ps[b], qs[b], l2, M, work,
            raw, scratch, limit,
        )  # fmt: skip
        total += value
        if not ok:
            return total, False
    return total, True


def _advance(A, M, work):
    """``work[3] <- A @ M`` and ``work[1] <- work[3]^{-1}``; returns the condition.

    The condition number is in the 1-norm, inf if ``A @ M`` is singular.
    ``work[2]`` is scratch. Gauss-Jordan with partial pivoting on the tiny
    ``s x s`` matrices, without LAPACK's per-call cost.
    """
    s = M.shape[0]
    inverse, lu, product = work[1], work[2], work[3]
    for a in range(s):
        for b in range(s):
            value = 0.0
            for c in range(s):
                value += A[a, c] * M[c, b]
            lu[a, b] = value
            product[a, b] = value
    norm = 0.0
    for b in range(s):
        column = 0.0
        for a in range(s):
            column += abs(lu[a, b])
            inverse[a, b] = 1.0 if a == b else 0.0
        norm = max(norm, column)
    for col in range(s):
        pivot = col
        for a in range(col + 1, s):
            if abs(lu[a, col]) > abs(lu[pivot, col]):
                pivot = a
        if lu[pivot, col] == 0.0:
            return np.inf
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
    return norm * inverse_norm


def _materialize(Z, d, M, k, column):
    """``Z[j] <- M @ Z[j]`` (blocks as vectors) on the feature rows; ``M <- I``.

    ``column`` is scratch of at least ``s`` values. One and two blocks (plain
    SGD, momentum) have loops of their own: the general one is a few times
    slower, and this runs every few dozen steps over every feature.
    """
    s = M.shape[0]
    if s == 1:
        m = Z.dtype.type(M[0, 0])
        for j in range(d):
            for c in range(k):
                Z[j, c] *= m
    elif s == 2:
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


if AVAILABLE:
    soft_threshold = jit(soft_threshold)
    _row_span = jit(_row_span, inline=True)
    _add_loss = jit(_add_loss)
    _binary_terms = jit(_binary_terms)
    _softmax_terms = jit(_softmax_terms)
    _seen = jit(_seen)
    _lowest_bit = jit(_lowest_bit)
    _csr_finish = jit(_csr_finish)
    _dense_binary = jit(_dense_binary)
    _dense_multinomial = jit(_dense_multinomial)
    _csr_binary = jit(_csr_binary)
    _csr_multinomial = jit(_csr_multinomial)
    _advance = jit(_advance)
    _materialize = jit(_materialize)
    _csr_linear = jit(_csr_linear)
    _csr_linear_epoch = jit(_csr_linear_epoch)

_EMPTY_ROWS = np.empty(0, dtype=np.intp)
_EMPTY = {np.float32: np.empty(0, np.float32), np.float64: np.empty(0, np.float64)}


def rows_arg(rows):
    """``(rows, n_rows)`` for a compiled update: n_rows -1 means every row."""
    return (_EMPTY_ROWS, -1) if rows is None else (rows, rows.shape[0])


def threshold_arg(prox):
    """The per-row L1 thresholds of ``prox`` for a compiled update (empty: none)."""
    return _EMPTY[np.float64] if prox is None else prox.threshold


def supports(X, params):
    """Whether the compiled kernels apply to ``X`` and ``params``.

    ``X`` is a C-contiguous array or a CSR matrix (canonical or not), of
    float32 or float64, and ``params`` has its dtype.
    """
    if not AVAILABLE or X.dtype not in (np.float32, np.float64):
        return False
    if params.dtype != X.dtype or not params.flags.c_contiguous:
        return False
    if isinstance(X, np.ndarray):
        return X.flags.c_contiguous
    return getattr(X, "format", None) == "csr"


class Kernel:
    """The compiled loss and gradient of one training call, bound to its data.

    ``kernel(start, stop, rows, params, scale, l2, grad)`` returns
    ``(loss, n_active)``: the weighted loss sum over the minibatch
    ``rows[start:stop]`` (``rows`` None: the rows ``start:stop`` of ``X``)
    at ``params``, with ``scale * [X, 1]^T dloss/draw + l2 * coef`` written
    into ``grad``. When built with ``row_scale`` (CSR only), it is lazy: only
    the rows of ``grad`` listed in ``active[:n_active]`` (increasing, the
    intercept row last) are computed, the other rows are left as they were,
    and the L2 part of row ``j`` is scaled by ``row_scale[j]``; otherwise
    ``n_active`` is -1.

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n_samples, n_features)
    target : ndarray of shape (n_samples,)
    sample_weight : ndarray of shape (n_samples,) or None
    n_outputs : int
    row_scale : ndarray of shape (n_features,) or None
        Lazy mode, with this scale of the penalty per coefficient row.
    """

    def __init__(self, X, target, sample_weight, n_outputs, row_scale=None):
        self.X, self.target = X, target
        self.sw = _EMPTY[X.dtype.type] if sample_weight is None else sample_weight
        self.sparse = not isinstance(X, np.ndarray)
        self.active = _EMPTY_ROWS
        binary = n_outputs == 1
        if self.sparse:
            self._fn = _csr_binary if binary else _csr_multinomial
            d = X.shape[1]
            n_params = d + 1
            self.lazy = row_scale is not None
            # the active rows of one minibatch: at most its non-zeros, plus
            # the intercept row, and never more than the parameters
            self.active = np.empty(n_params if self.lazy else 0, dtype=np.intp)
            self.row_scale = (
                _EMPTY[np.float64] if row_scale is None else np.asarray(row_scale)
            )
            # one bit per column: touched by the current minibatch (lazy
            # only); the kernel leaves it cleared after each call
            n_words = -(-d // 64) if self.lazy else 0
            self.touched = np.zeros(n_words, dtype=np.uint64)
        else:
            self._fn = _dense_binary if binary else _dense_multinomial
            self.lazy = False

    def __call__(self, start, stop, rows, params, scale, l2, grad):
        rows = _EMPTY_ROWS if rows is None else rows
        X = self.X
        if not self.sparse:
            value = self._fn(
                X, rows, start, stop, params, self.target, self.sw, scale, l2, grad
            )
            return value, -1
        value, n_active = self._fn(
            X.data, X.indices, X.indptr, X.shape[1], rows, start, stop, params,
            self.target, self.sw, scale, l2, self.row_scale, grad, self.active,
            self.touched,
        )  # fmt: skip
        return value, (n_active if self.lazy else -1)


class LinearKernel:
    """Steps of a linear solver on CSR data, in scaled coordinates.

    For a solver whose step is linear in the gradient (``Solver.linear``),
    the penalty's L2 part moves every coefficient at every step, but only
    through a small matrix ``M`` shared by all features: the coefficients
    and the solver's arrays of feature ``j`` are ``M @ Z[j]`` (see
    :func:`_csr_linear`). A step then costs O(non-zeros of the minibatch),
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
    >>> from sklearn_adamlr import _fused
    >>> X = sparse.csr_matrix(np.array([[1.0, 0.0], [0.0, 2.0]]))
    >>> params = np.zeros((3, 1))
    >>> if _fused.AVAILABLE:
    ...     kernel = _fused.LinearKernel(X, np.array([1.0, 0.0]), None, params, 2)
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

    def __init__(self, X, target, sample_weight, params, batch_size):
        self.X, self.target = X, target
        self.sw = _EMPTY[X.dtype.type] if sample_weight is None else sample_weight
        self._raw = np.empty((batch_size, params.shape[1]), dtype=params.dtype)
        self._limit = self.CONDITION_LIMIT[params.dtype.type]
        self._blocks = None

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
        self._blocks[:, 0] = params
        for a, array in enumerate(arrays, start=1):
            self._blocks[:, a] = array
        self.M[:] = np.eye(s)

    def store(self, params, arrays):
        """Write the current parameters and arrays back, in place."""
        k = params.shape[1]
        _materialize(self.Z, self.X.shape[1], self.M, k, self._scratch[0])
        params[:] = self._blocks[:, 0]
        for a, array in enumerate(arrays, start=1):
            array[:] = self._blocks[:, a]

    def epoch(self, starts, stops, order, Ps, qs, mean_weight, l2):
        """The steps of one epoch, in one compiled call.

        Step ``b`` takes the loss of the minibatch ``order[starts[b]:stops[b]]``
        (``order`` None: the rows ``r mod n_samples`` for ``r`` in
        ``starts[b]:stops[b]``) at the current point, then moves by
        ``Ps[b]`` and ``qs[b]`` (see :func:`_csr_linear`); the gradient of
        its data term is scaled by ``1 / ((stops[b] - starts[b]) *
        mean_weight)``. Returns ``(loss sum, ok)``, with ``ok`` False when a
        step is no longer finite; the epoch then stops there.
        """
        X = self.X
        return _csr_linear_epoch(
            X.data, X.indices, X.indptr, X.shape[1], starts, stops,
            _EMPTY_ROWS if order is None else order, self.Z, self.target,
            self.sw, mean_weight, np.asarray(Ps, dtype=np.float64),
            np.asarray(qs, dtype=np.float64), l2, self.M, self._work, self._raw,
            self._scratch, self._limit,
        )  # fmt: skip


def loss_gradient(
    X, rows, start, stop, params, target, sample_weight, scale, grad, l2=0.0
):
    """Weighted loss sum over a minibatch, and the scaled gradient into ``grad``.

    Parameters
    ----------
    X : ndarray (C-contiguous) or CSR matrix of shape (n_samples, n_features)
    rows : ndarray of int or None
        Sample indices; the minibatch is ``rows[start:stop]``. None means
        the consecutive rows ``start:stop`` of ``X``.
    start, stop : int
    params : ndarray of shape (n_features + fit_intercept, n_outputs)
    target : ndarray of shape (n_samples,)
        Targets in {0, 1} (one output) or class indices.
    sample_weight : ndarray of shape (n_samples,) or None
    scale : float
        Factor applied to the gradient of the data term.
    grad : ndarray of the shape of ``params``
        Receives ``scale * [X, 1]^T (dloss/draw) + l2 * coef`` for the
        minibatch.
    l2 : float, default=0.0
        Strength of the L2 part of the penalty.

    Returns
    -------
    loss : float
        ``sum(sample_weight * loss)`` over the minibatch.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_adamlr import _fused
    >>> X = np.array([[1.0, 2.0], [0.0, -1.0]])
    >>> params = np.zeros((3, 1))
    >>> grad = np.empty_like(params)
    >>> if _fused.AVAILABLE:
    ...     value = _fused.loss_gradient(
    ...         X, None, 0, 2, params, np.array([1.0, 0.0]), None, 0.5, grad)
    ...     print(round(value, 6), grad.ravel().tolist())
    ... else:
    ...     print("1.386294 [-0.25, -0.75, 0.0]")
    1.386294 [-0.25, -0.75, 0.0]
    """
    kernel = Kernel(X, target, sample_weight, params.shape[1])
    return float(kernel(start, stop, rows, params, scale, l2, grad)[0])
