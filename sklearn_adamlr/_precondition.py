"""A diagonal preconditioner for the first-order solvers on raw features.

On features whose scales are far apart (raw breast_cancer: column RMS from
1e-3 to 500), one step size cannot suit every coefficient: ``1 / L`` is set
by the largest column and crawls along the smallest. Changing variables to
``v = D w``, with ``D`` about the columns' RMS (with the L2 part's share,
see :func:`diagonal`), gives every column a curvature near 1. The solvers
take that change as a preconditioner ``P = D^-2`` on the packed
parameters' rows, without copying ``X``:

- ``gd`` and ``minibatch`` step by ``P * grad``, measure their adaptive
  and secant steps in ``v``'s norm (``|dw|_{P^-1} / |dg|_P``) and
  soft-threshold each coefficient by its own ``step * l1 * P_j``;
- ``lbfgs`` starts its two-loop recursion from ``gamma * P`` instead of
  ``gamma * I`` (``gamma = s'y / y'Py``), which is L-BFGS on ``v``;
- ``adam`` keeps the moments of ``sqrt(P) * grad`` (the gradient in ``v``)
  and moves each coefficient by ``sqrt(P_j)`` times its step in ``v``;
- their automatic steps come from the smoothness constants of the problem in
  ``v`` (:class:`~sklearn_adamlr._problem.Smoothness` with ``P``).

Only in ``fit``, on dense data in memory whose columns' scales are more than
``_advice.SCALE_SPREAD`` apart (the raw-data rule of ``solver='auto'``,
which runs ``newton`` there instead); the certificate, the warnings and the
returned coefficients are in ``w``, as always. A solver takes it when its
class sets ``preconditioned`` (:class:`~sklearn_adamlr.Solver`); the steps'
helpers are in :mod:`sklearn_adamlr.solvers._metric`.
"""

import numpy as np

from ._advice import SCALE_SPREAD, sampled_moments, spread


def diagonal(X, fit_intercept, dtype, l2=0.0, curvature=0.25, moments=None):
    """``P`` of shape ``(n_features + fit_intercept, 1)``, or None where not needed.

    ``1 / (rms_j^2 + l2 / curvature)`` for each column: the inverse of the
    Hessian's diagonal at zero, over ``curvature`` (the loss's bound on its
    second derivative). 1 for the intercept (its column of ones has RMS 1,
    no penalty). The L2 part keeps a rare column's ``P`` bounded: with
    ``1 / rms_j^2`` alone, raw digits' rarest pixels (RMS 1e-2) made the L2
    part's curvature in ``v`` 1e4 times its own, and the automatic step
    that small (lbfgs at C=0.01: 4.4e-5 above the optimum before, 7.7e-3
    with it). None for sparse or out-of-memory data, and for columns within
    ``SCALE_SPREAD`` of each other in scale (standardized data: nothing
    changes). The scales are a strided sample's (``_advice.sampled_moments``:
    any positive diagonal is a valid preconditioner), or ``moments``, the
    same sample's where the caller has read them.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_adamlr._precondition import diagonal
    >>> X = np.array([[1.0, 100.0], [-1.0, -300.0], [1.0, 200.0]])
    >>> (1 / diagonal(X, True, np.float64)).ravel().round().tolist()  # mean squares
    [1.0, 46667.0, 1.0]
    >>> diagonal(X / [[1.0, 100.0]], True, np.float64) is None
    True
    """
    if not isinstance(X, np.ndarray):
        return None
    rms, _, std = sampled_moments(X) if moments is None else moments
    # (squares beyond float64's range: the steps overflow and say so)
    if not np.isfinite(rms).all() or spread(rms, fit_intercept, std) <= SCALE_SPREAD:
        return None
    precond = np.ones((X.shape[1] + int(fit_intercept), 1))
    curvatures = rms**2 + l2 / curvature
    present = curvatures > 0
    precond[: X.shape[1]][present, 0] = 1.0 / curvatures[present]
    if precond.min() < np.finfo(dtype).tiny:
        return None  # beyond the dtype's range, as above
    return precond.astype(dtype)
