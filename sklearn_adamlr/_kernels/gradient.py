"""The compiled loss and gradient of a minibatch, dense or CSR, bound to its data."""

import os
import threading

import numpy as np

from ._numba import _EMPTY, _EMPTY_ROWS
from .csr import csr_kernel
from .dense import _dense_binary, _dense_multinomial

# Rows x features from which a pass is split in two halves (see Kernel._halves):
# 2**20 values take about a millisecond to read, against about 0.1 ms to
# start and join a thread.
SPLIT_SIZE = 2**20
_CORES = os.cpu_count() or 1


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
            d = X.shape[1]
            n_params = d + 1
            self.lazy = row_scale is not None
            self._fn = csr_kernel(binary, self.lazy)
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
        if (
            rows is None
            and not self.lazy
            and (stop - start) * self.X.shape[1] >= SPLIT_SIZE
        ):
            return self._halves(start, stop, params, scale, l2, grad), -1
        return self._call(start, stop, rows, params, scale, l2, grad)

    def _call(self, start, stop, rows, params, scale, l2, grad):
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

    def _halves(self, start, stop, params, scale, l2, grad):
        """The rows ``start:stop`` in two halves, on two threads when there are cores.

        The kernels release the GIL, so the second half runs in a thread of
        its own while this one computes the first; the halves' gradients are
        then added. A large pass is bound by reading ``X``, and two cores
        read it faster than one: 0.038 s as one call on 400,000 x 100
        float64 rows, 0.031 s as two halves on a 2-core machine (a default
        ``lbfgs`` fit there: 0.43-0.50 times ``LogisticRegression()``'s time,
        then 0.32-0.35). The split depends only on the rows, never on the
        cores, so the numbers are the same on every machine (one core runs
        the halves in turn).
        """
        middle = (start + stop) // 2
        other = np.empty_like(grad)
        out = [None]

        def second_half():
            # no L2 part here: it is added once, by the first half
            try:
                out[0] = self._call(middle, stop, None, params, scale, 0.0, other)[0]
            except BaseException as exc:  # raised again in the caller's thread
                out[0] = exc

        if _CORES > 1:
            thread = threading.Thread(target=second_half)
            thread.start()
            value = self._call(start, middle, None, params, scale, l2, grad)[0]
            thread.join()
        else:
            value = self._call(start, middle, None, params, scale, l2, grad)[0]
            second_half()
        if isinstance(out[0], BaseException):
            raise out[0]
        grad += other
        return value + out[0]


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
    >>> from sklearn_adamlr import _kernels
    >>> X = np.array([[1.0, 2.0], [0.0, -1.0]])
    >>> params = np.zeros((3, 1))
    >>> grad = np.empty_like(params)
    >>> if _kernels.AVAILABLE:
    ...     value = _kernels.loss_gradient(
    ...         X, None, 0, 2, params, np.array([1.0, 0.0]), None, 0.5, grad)
    ...     print(round(value, 6), grad.ravel().tolist())
    ... else:
    ...     print("1.386294 [-0.25, -0.75, 0.0]")
    1.386294 [-0.25, -0.75, 0.0]
    """
    kernel = Kernel(X, target, sample_weight, params.shape[1])
    return float(kernel(start, stop, rows, params, scale, l2, grad)[0])
