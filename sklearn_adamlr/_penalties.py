"""Elastic-net penalty (L2, L1 and their mix) with its proximal operator.

The intercept is never penalised: callers pass the coefficient rows of the
packed parameters only.
"""

import numpy as np


class ElasticNet:
    """``alpha * ((1 - l1_ratio) / 2 * ||w||_2^2 + l1_ratio * ||w||_1)``.

    ``l1_ratio=0`` is the L2 penalty, ``l1_ratio=1`` the L1 penalty. The L2
    part is smooth and enters the gradient; the L1 part is handled by its
    proximal operator, soft-thresholding, which yields exact zeros and has no
    undefined "gradient" at 0.

    Parameters
    ----------
    alpha : float
        Overall strength; ``1 / (C * sum(sample_weight))`` for scikit-learn's
        ``C``, and 0 for ``C=np.inf``.
    l1_ratio : float
        Share of the L1 part, in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_adamlr._penalties import ElasticNet
    >>> pen = ElasticNet(alpha=1.0, l1_ratio=1.0)
    >>> w = np.array([[0.5], [-2.0], [0.05]])
    >>> float(pen.value(w))
    2.55
    >>> pen.prox(w, 0.1)
    >>> w.ravel()
    array([ 0.4, -1.9,  0. ])
    """

    def __init__(self, alpha, l1_ratio):
        self.alpha = float(alpha)
        self.l1_ratio = float(l1_ratio)
        self.l2 = self.alpha * (1.0 - self.l1_ratio)
        self.l1 = self.alpha * self.l1_ratio

    @property
    def has_prox(self):
        """Whether the penalty has a non-smooth (L1) part."""
        return self.l1 > 0

    def value(self, coef):
        """Penalty value at ``coef``."""
        value = 0.0
        if self.l2:
            value += 0.5 * self.l2 * float(np.vdot(coef, coef))
        if self.l1:
            value += self.l1 * float(np.abs(coef).sum())
        return value

    def add_gradient(self, coef, grad):
        """Add the gradient of the smooth (L2) part at ``coef`` to ``grad``."""
        if self.l2:
            grad += self.l2 * coef

    def stationarity(self, coef, grad):
        """Largest entry of the minimum-norm subgradient of the objective.

        With ``grad`` the gradient of the smooth part (the data term and the
        L2 part) at ``coef``, the subdifferential of the objective in
        coordinate ``j`` is ``grad_j + l1 * sign(coef_j)`` where ``coef_j !=
        0``, and the interval ``grad_j + [-l1, l1]`` where ``coef_j == 0``.
        Its element closest to zero is what this measures, as a max-abs over
        all coordinates: zero exactly at the optimum, and, without an L1
        part, the max-abs of the gradient (the quantity lbfgs's ``tol``
        bounds in :class:`~sklearn.linear_model.LogisticRegression`).

        Parameters
        ----------
        coef : ndarray
            Coefficients (no intercept).
        grad : ndarray of the shape of ``coef``
            Gradient of the smooth part at ``coef``.

        Returns
        -------
        value : float

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_adamlr._penalties import ElasticNet
        >>> pen = ElasticNet(alpha=1.0, l1_ratio=0.5)
        >>> pen.stationarity(np.array([0.0, 2.0]), np.array([0.3, -0.5]))
        0.0
        >>> pen.stationarity(np.array([0.0, 2.0]), np.array([0.8, 0.1]))
        0.6
        """
        if not self.l1:
            return float(np.abs(grad).max(initial=0.0))
        return float(np.abs(self.subgradient(coef, grad)).max(initial=0.0))

    def subgradient(self, coef, grad):
        """The minimum-norm subgradient itself (see :meth:`stationarity`).

        ``grad + l1 * sign(coef)`` where ``coef != 0``; at zero, ``grad``
        shrunk towards zero by ``l1`` (zero when ``|grad| <= l1``).

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_adamlr._penalties import ElasticNet
        >>> pen = ElasticNet(alpha=1.0, l1_ratio=0.5)
        >>> pen.subgradient(np.array([0.0, 0.0, 2.0]), np.array([0.8, 0.3, 0.1]))
        array([0.3, 0. , 0.6])
        """
        if not self.l1:
            return grad
        return np.where(
            coef != 0,
            grad + self.l1 * np.sign(coef),
            np.sign(grad) * np.maximum(np.abs(grad) - self.l1, 0.0),
        )

    def prox(self, coef, step):
        """Soft-threshold ``coef`` in place by ``l1 * step``.

        Parameters
        ----------
        coef : ndarray
            Coefficients, modified in place.
        step : float or ndarray of the shape of ``coef``
            The step size just taken: a scalar for gradient descent and SGD,
            Adam's per-coordinate step otherwise (the proximal operator in the
            diagonal metric of the preconditioner).
        """
        if not self.l1:
            return
        threshold = self.l1 * step
        shrunk = np.abs(coef)
        shrunk -= threshold
        np.maximum(shrunk, 0, out=shrunk)
        np.copysign(shrunk, coef, out=coef)
