"""Compiling the kernels ahead of the first fit.

With the ``fast`` extra, the first fit of each kind compiles the kernels it
uses, seconds each with an empty numba cache, and numba keeps them on disk
for later processes. :func:`compile_kernels` runs one small fit of every
kind, so that the cost is paid once where it is cheap to pay (building an
image or an environment: ``python -m sklearn_adamlr --compile``) rather than
by a user's first fit. Each fit marks its kind as compiled, so that later
small fits of that kind run the compiled code (see :mod:`._kernels.pays`):
without it they run the numpy path rather than wait for a compilation.
"""

import time
import warnings

import numpy as np
from scipy import sparse

from . import _kernels
from ._estimator import AdamLogisticRegression
from .solvers import available_solvers


def compile_kernels(solvers=None, dtypes=(np.float64, np.float32)):
    """Compile, or load from numba's cache, the kernels every kind of fit uses.

    One small fit per kind: each solver, dense and CSR data, each dtype, two
    and three classes, with the L2 penalty and with elastic net (whose L1
    part compiles variants of its own). Sample weights and the number of
    rows or columns compile nothing new.

    Parameters
    ----------
    solvers : list of str, default=None
        The solvers to compile for; all registered ones by default.
    dtypes : tuple of dtypes, default=(np.float64, np.float32)

    Returns
    -------
    kinds : int
        The number of kinds of fit run (0 without numba, which has nothing
        to compile).
    seconds : float

    Examples
    --------
    >>> from sklearn_adamlr._warmup import compile_kernels
    >>> kinds, seconds = compile_kernels(solvers=["gd"], dtypes=("float64",))
    >>> kinds in (0, 8)
    True
    """
    if not _kernels.AVAILABLE:
        return 0, 0.0
    start = time.perf_counter()
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 4))
    targets = ((X[:, 0] > 0).astype(int), np.arange(len(X)) % 3)
    kinds = 0
    with warnings.catch_warnings(), _kernels.pays.forced("always"):
        # one epoch each: a ConvergenceWarning every time, and nothing else
        warnings.simplefilter("ignore")
        for dtype in dtypes:
            for data in (X.astype(dtype), sparse.csr_matrix(X.astype(dtype))):
                for solver in solvers or available_solvers():
                    for y in targets:
                        for l1_ratio in (0.0, 0.5):
                            AdamLogisticRegression(
                                solver=solver, l1_ratio=l1_ratio, max_iter=1
                            ).fit(data, y)
                            kinds += 1
    return kinds, time.perf_counter() - start
