"""Loss and gradient of a minibatch of dense, C-contiguous rows, in one pass.

Each row is read once while it is in cache: its raw prediction, its loss and
its share of the gradient, then the L2 part. Rows are ``rows[start:stop]``,
or ``start:stop`` of ``X`` when ``rows`` is empty.
"""

import numpy as np

from ._numba import AVAILABLE, _prefetch, jit
from .rowloss import _add_loss, _binary_terms, _softmax_terms

# Rows ahead whose cache lines a gathered minibatch asks for (see
# _prefetch_row). Measured, adam's marginal epoch on 400,000 x 100 gathered
# in runs of 64 rows (one thread, in reads of X): none 3.1, 2 rows ahead
# 2.6, 4 2.55, 8 2.27, 16 2.38, 32 2.37.
AHEAD = 8


def _prefetch_row(X, rows, r, stop):
    """Ask for the lines of row ``rows[r + AHEAD]``, a gathered row not read yet.

    Gathered rows come in runs from random places (``shuffle=True``): where
    a run starts, the hardware's prefetcher cannot guess the address.
    """
    if rows.shape[0] > 0 and r + AHEAD < stop:
        ahead = rows[r + AHEAD]
        line = max(64 // X.itemsize, 1)
        for j in range(0, X.shape[1], line):
            _prefetch(X, ahead, j)


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
        _prefetch_row(X, rows, r, stop)
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
        _prefetch_row(X, rows, r, stop)
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


if AVAILABLE:
    _prefetch_row = jit(_prefetch_row, inline=True)
    _dense_binary = jit(_dense_binary)
    _dense_multinomial = jit(_dense_multinomial)
