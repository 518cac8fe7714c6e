"""Loss and gradient of a minibatch of CSR rows, plain or lazy.

The plain kernels write the whole gradient. The lazy ones (see
:mod:`sklearn_adamlr._sparse`) compute only the rows of the parameters whose
features the minibatch touches, list them in ``active`` in increasing order,
and scale the L2 part of each by its ``row_scale``.
"""

import numpy as np

from ._numba import AVAILABLE, _row_span, jit, specialise
from .rowloss import _add_loss, _binary_terms, _softmax_terms

# Multiplying the lowest set bit of a word by this de Bruijn sequence puts a
# distinct pattern in the top 6 bits for each of the 64 positions; the table
# maps the pattern back to the position (numba has no portable count of
# trailing zeros).
_DE_BRUIJN_MULTIPLIER = 0x03F79D71B4CB0A89
_DE_BRUIJN = np.zeros(64, dtype=np.int64)
for _position in range(64):
    _pattern = ((_DE_BRUIJN_MULTIPLIER << _position) & 0xFFFFFFFFFFFFFFFF) >> 58
    _DE_BRUIJN[_pattern] = _position


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
    if not LAZY:
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
    lazy = LAZY
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
    lazy = LAZY
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


# Whether the kernels are lazy: fixed per compiled variant (see csr_kernel).
LAZY = None


def csr_kernel(binary, lazy):
    """The compiled CSR loss-and-gradient kernel of this output and mode.

    Each is a variant (:func:`specialise`) that compiles only its own mode:
    the full-data passes of the certificate never compile the lazy
    bookkeeping (0.4 s of a first CSR fit with an empty cache).
    """
    # inlined by numba: compiled once, within its caller (0.1 s less in a
    # first CSR fit; the lazy epoch's speed is unchanged, 0.104 s)
    finish = specialise(_csr_finish, inline=True, LAZY=lazy)
    function = _csr_binary if binary else _csr_multinomial
    return specialise(function, LAZY=lazy, _csr_finish=finish)


if AVAILABLE:
    _seen = jit(_seen)
    _lowest_bit = jit(_lowest_bit)
