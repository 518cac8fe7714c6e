"""Compiled (numba) kernels: a minibatch's loss and gradient in one pass over its rows.

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

The modules, each readable on its own:

- :mod:`._numba`: numba's options (:func:`jit`) and the helpers every kernel
  inlines (a prefetch, a CSR row's span, soft-thresholding);
- :mod:`.rowloss`: one row's loss and derivative, stably;
- :mod:`.dense` and :mod:`.csr`: a minibatch's loss and gradient, the CSR
  ones also *lazily* (see :mod:`sklearn_adamlr._sparse`);
- :mod:`.gradient`: :class:`Kernel`, those kernels bound to one data set;
- :mod:`.linear`: :class:`LinearKernel`, a linear solver's steps on CSR data
  in scaled coordinates.

A solver with its own compiled epoch (``Capabilities.sparse_kernel``, e.g.
Adam's) uses the helpers of :mod:`._numba` and :mod:`.rowloss`.

``AVAILABLE`` is read at call time by :func:`enabled` (which :func:`supports`
and the solvers ask), so that setting it to False (as the tests do) sends
every call to the numpy path. :mod:`.pays` decides, per fit, whether a fit
runs compiled code at all: a small fit does not wait for a compilation.
"""

import numpy as np

from . import _numba, pays
from ._numba import jit, rows_arg, soft_threshold, threshold_arg
from .gradient import Kernel, loss_gradient
from .linear import LinearKernel

AVAILABLE = _numba.AVAILABLE

__all__ = [
    "AVAILABLE",
    "Kernel",
    "LinearKernel",
    "enabled",
    "jit",
    "loss_gradient",
    "rows_arg",
    "soft_threshold",
    "supports",
    "threshold_arg",
]


def enabled():
    """Whether compiled code may run here: numba is installed and the fit allows it.

    See :mod:`.pays` for when a fit allows it.

    Examples
    --------
    >>> from sklearn_adamlr import _kernels
    >>> _kernels.enabled() == _kernels.AVAILABLE
    True
    """
    return AVAILABLE and pays.allowed()


def supports(X, params):
    """Whether the compiled kernels apply to ``X`` and ``params``.

    ``X`` is a C-contiguous array or a CSR matrix (canonical or not), of
    float32 or float64, and ``params`` has its dtype.
    """
    if not enabled() or X.dtype not in (np.float32, np.float64):
        return False
    if params.dtype != X.dtype or not params.flags.c_contiguous:
        return False
    if isinstance(X, np.ndarray):
        return X.flags.c_contiguous
    return getattr(X, "format", None) == "csr"
