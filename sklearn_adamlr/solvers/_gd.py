"""Full-batch proximal gradient descent, accelerated by FISTA with restart."""

from dataclasses import dataclass

import numpy as np

from ._base import Solver, register_solver


@dataclass
class GDState:
    """State of :class:`GradientDescent`.

    Attributes
    ----------
    y : ndarray or None
        Extrapolated point where the gradient is evaluated (FISTA only).
    momentum : float
        FISTA's sequence ``t_k``, reset to 1 at a restart.
    n_restarts : int
        Restarts so far, for diagnostics.
    """

    y: np.ndarray | None
    momentum: float = 1.0
    n_restarts: int = 0


@register_solver
class GradientDescent(Solver):
    r"""Full-batch (proximal) gradient descent, with optional acceleration.

    Without acceleration the update is the textbook one,
    :math:`x_{k+1} = \operatorname{prox}_{\eta g}(x_k - \eta \nabla f(x_k))`.
    With ``nesterovs_momentum=True`` it is FISTA (Beck & Teboulle, 2009):
    the gradient is taken at an extrapolated point
    :math:`y_k = x_k + \frac{t_{k-1} - 1}{t_k}(x_k - x_{k-1})` with
    :math:`t_{k+1} = (1 + \sqrt{1 + 4 t_k^2}) / 2`, and the momentum is
    restarted whenever :math:`(y_k - x_{k+1})^\top (x_{k+1} - x_k) > 0`, the
    gradient restart of O'Donoghue & Candès (2015). The restart recovers the
    linear rate of a strongly convex problem without knowing its constant,
    which is what makes large ``C`` tractable.

    ``learning_rate='auto'`` is ``1 / L`` with ``L`` the exact Lipschitz
    constant of the gradient, so the iterates converge to the optimum.

    Parameters
    ----------
    nesterovs_momentum : bool, default=True
        Use FISTA with gradient restart instead of plain gradient descent.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_adamlr import AdamLogisticRegression
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = AdamLogisticRegression(solver="gd", max_iter=2000, tol=1e-10)
    >>> round(clf.fit(X, y).score(X, y), 3)
    0.989
    """

    name = "gd"
    full_batch = True
    hyperparameters = ("nesterovs_momentum",)

    def __init__(self, nesterovs_momentum=True):
        self.nesterovs_momentum = nesterovs_momentum

    def auto_learning_rate(self, smoothness, batch_size):
        """``1 / L`` for the full-batch gradient."""
        return 1.0 / smoothness.full

    def init_state(self, params):
        """Start FISTA's extrapolation at ``params``."""
        return GDState(y=params.copy() if self.nesterovs_momentum else None)

    def eval_point(self, params, state):
        """The extrapolated point for FISTA, else ``params``."""
        return params if state.y is None else state.y

    def update(self, params, grad, state, learning_rate, prox):
        """One proximal gradient step, then the FISTA extrapolation."""
        if state.y is None:
            params -= learning_rate * grad
            if prox is not None:
                prox(params, learning_rate)
            return
        y = state.y
        # x_new = prox(y - lr * grad), computed in grad's buffer.
        np.multiply(grad, -learning_rate, out=grad)
        grad += y
        if prox is not None:
            prox(grad, learning_rate)
        x_new = grad
        # restart test: (y - x_new) . (x_new - x_old) > 0
        y -= x_new
        params -= x_new
        if np.vdot(y, params) < 0:  # params now holds x_old - x_new
            state.momentum = 1.0
            state.n_restarts += 1
            y[...] = x_new
        else:
            t = state.momentum
            t_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
            beta = (t - 1.0) / t_next
            # y = x_new + beta * (x_new - x_old)
            np.multiply(params, -beta, out=y)
            y += x_new
            state.momentum = t_next
        params[...] = x_new
