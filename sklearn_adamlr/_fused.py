"""Compiled (numba) loss and gradient of a dense minibatch, in one pass over it.

The numpy path (:func:`~sklearn_adamlr._loss.raw_prediction`, the loss's
``loss_gradient``, :func:`~sklearn_adamlr._loss.gradient_from_raw`) makes about
a dozen numpy calls per minibatch and reads the batch twice; its fixed cost
of roughly 50 µs per call dominates small batches. These kernels compute the
raw prediction, the weighted loss and the gradient row by row, reading each
row once while it is in cache, with one Python call per minibatch. They are
used for dense C-contiguous float32/float64 data when numba is installed
(the ``fast`` extra); the numpy path stays the reference, and the tests check
that both give the same numbers.
"""

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - exercised when numba is absent
    numba = None

AVAILABLE = numba is not None


def _binary(X, rows, start, stop, params, target, sw, scale, grad):
    d = X.shape[1]
    has_intercept = params.shape[0] > d
    grad[:] = 0.0
    total = 0.0
    for r in range(start, stop):
        i = rows[r] if rows.shape[0] > 0 else r
        z = params[d, 0] if has_intercept else 0.0
        for j in range(d):
            z += X[i, j] * params[j, 0]
        w = sw[i] if sw.shape[0] > 0 else 1.0
        # log(1 + exp(z)) - y * z and sigmoid(z) - y, stably for any z
        if z > 0:
            e = np.exp(-z)
            loss = z + np.log1p(e)
            p = 1.0 / (1.0 + e)
        else:
            e = np.exp(z)
            loss = np.log1p(e)
            p = e / (1.0 + e)
        y = target[i]
        if y > 0:
            loss -= z
        total += w * loss
        g = w * (p - y) * scale
        for j in range(d):
            grad[j, 0] += g * X[i, j]
        if has_intercept:
            grad[d, 0] += g
    return total


def _multinomial(X, rows, start, stop, params, target, sw, scale, grad):
    d = X.shape[1]
    k = params.shape[1]
    has_intercept = params.shape[0] > d
    grad[:] = 0.0
    z = np.empty(k, dtype=np.float64)
    total = 0.0
    for r in range(start, stop):
        i = rows[r] if rows.shape[0] > 0 else r
        for c in range(k):
            z[c] = params[d, c] if has_intercept else 0.0
        for j in range(d):
            x = X[i, j]
            for c in range(k):
                z[c] += x * params[j, c]
        top = z[0]
        for c in range(1, k):
            top = max(top, z[c])
        y = int(target[i])
        shifted_y = z[y] - top
        norm = 0.0
        for c in range(k):
            z[c] = np.exp(z[c] - top)
            norm += z[c]
        w = sw[i] if sw.shape[0] > 0 else 1.0
        # logsumexp(z) - z[y] = log(norm) - (z[y] - top)
        total += w * (np.log(norm) - shifted_y)
        for c in range(k):
            z[c] = w * scale * (z[c] / norm - (1.0 if c == y else 0.0))
        for j in range(d):
            x = X[i, j]
            for c in range(k):
                grad[j, c] += z[c] * x
        if has_intercept:
            for c in range(k):
                grad[d, c] += z[c]
    return total


# Reassociation lets LLVM vectorise the dot products (a sequential sum is
# bound by the latency of one add per feature); the results differ from the
# numpy path only by rounding. No "nnan"/"ninf": infinities must propagate so
# that divergence is detected.
_FLAGS = {"reassoc", "contract"}

if AVAILABLE:
    # cache=True keeps the compiled code on disk: the compile cost (a few
    # seconds) is paid once per machine and dtype, not once per process.
    _binary = numba.njit(cache=True, nogil=True, fastmath=_FLAGS)(_binary)
    _multinomial = numba.njit(cache=True, nogil=True, fastmath=_FLAGS)(_multinomial)

_EMPTY_ROWS = np.empty(0, dtype=np.intp)
_EMPTY = {np.float32: np.empty(0, np.float32), np.float64: np.empty(0, np.float64)}


def supports(X, params):
    """Whether the compiled kernels apply to ``X`` and ``params``."""
    return (
        AVAILABLE
        and isinstance(X, np.ndarray)
        and X.dtype in (np.float32, np.float64)
        and X.flags.c_contiguous
        and params.dtype == X.dtype
    )


def kernel_for(params, X, sample_weight, rows):
    """The compiled kernel and its array arguments, resolved once per call.

    Returns ``(kernel, rows, sw)`` such that
    ``kernel(X, rows, start, stop, params, target, sw, scale, grad)`` is
    :func:`loss_gradient` without its per-call Python overhead.
    """
    rows = _EMPTY_ROWS if rows is None else rows
    sw = _EMPTY[X.dtype.type] if sample_weight is None else sample_weight
    return (_binary if params.shape[1] == 1 else _multinomial), rows, sw


def loss_gradient(X, rows, start, stop, params, target, sample_weight, scale, grad):
    """Weighted loss sum over a minibatch, and the scaled gradient into ``grad``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), C-contiguous
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
        Receives ``scale * [X, 1]^T (dloss/draw)`` for the minibatch.

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
    kernel, rows, sw = kernel_for(params, X, sample_weight, rows)
    return float(kernel(X, rows, start, stop, params, target, sw, scale, grad))
