"""The loss of one row and its derivative, stably, for every compiled kernel.

Each CSR or dense kernel, and a solver's own compiled epoch, computes a row's
raw prediction its own way, then hands it here for the loss terms and the
derivative with respect to the raw prediction.
"""

import numpy as np

from ._numba import AVAILABLE, jit

# The unweighted losses log(1 + exp(-|z|)) (binary) and log(sum(exp(z - max)))
# (softmax) are summed as the log of a running product, one log per few
# hundred rows instead of one per row: the per-row log was a third of the
# kernel's time. Each factor is in [1, n_classes]; flushing the product before
# it passes 1e250 keeps it finite. Only a factor closer to 1 than the float
# spacing (a loss below ~1e-16, i.e. a point far on its right side) is lost,
# an absolute error of at most 1e-16 per row.
_FLUSH = 1e250


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


if AVAILABLE:
    _add_loss = jit(_add_loss)
    _binary_terms = jit(_binary_terms)
    _softmax_terms = jit(_softmax_terms)
