"""Full-batch proximal gradient descent, accelerated by FISTA with restart."""

from dataclasses import dataclass

import numpy as np

from ._base import Solver, register_solver
from ._metric import ScaledProx, metric_norm


@dataclass
class GDState:
    """State of :class:`GradientDescent`.

    Attributes
    ----------
    y : ndarray or None
        Extrapolated point where the gradient is evaluated (FISTA only).
    momentum : float
        FISTA's sequence ``t_k``, reset to 1 at a restart.
    step : float or None
        The current adaptive step; None before the first update.
    theta : float
        Ratio of the last two steps, for the step's growth limit.
    prev_point : ndarray or None
        The previous gradient point, for the local smoothness estimate.
    prev_grad : ndarray or None
        The gradient at ``prev_point``.
    n_restarts : int
        Restarts so far, for diagnostics.
    precond : ndarray of shape (n_params, 1) or None
        The diagonal preconditioner ``P``: steps by ``P * grad``, measured
        in the preconditioned variables' norm (see ``Solver.preconditioned``).
    """

    y: np.ndarray | None
    momentum: float = 1.0
    step: float | None = None
    theta: float = np.inf
    prev_point: np.ndarray | None = None
    prev_grad: np.ndarray | None = None
    n_restarts: int = 0
    precond: np.ndarray | None = None


@register_solver
class GradientDescent(Solver):
    r"""Full-batch (proximal) gradient descent, with optional acceleration.

    Without acceleration (``nesterovs_momentum=False``) it is the textbook
    method with a fixed step :math:`\eta`,
    :math:`x_{k+1} = \operatorname{prox}_{\eta g}(x_k - \eta \nabla f(x_k))`.

    With ``nesterovs_momentum=True`` (the default) it is FISTA (Beck &
    Teboulle, 2009): the gradient is taken at an extrapolated point
    :math:`y_k = x_k + \frac{t_{k-1} - 1}{t_k}(x_k - x_{k-1})` with
    :math:`t_{k+1} = (1 + \sqrt{1 + 4 t_k^2}) / 2`, and the momentum restarts
    whenever :math:`(y_k - x_{k+1})^\top (x_{k+1} - x_k) > 0`, the gradient
    restart of O'Donoghue & Candès (2015). Its step starts at the given
    learning rate (``1 / L`` for ``'auto'``) and then follows the local
    smoothness estimate of Malitsky & Mishchenko (2020),
    :math:`\eta_k = \min(\sqrt{1 + \theta_{k-1}}\,\eta_{k-1},\;
    \|y_k - y_{k-1}\| / (2 \|\nabla f(y_k) - \nabla f(y_{k-1})\|))` with
    :math:`\theta_k = \eta_k / \eta_{k-1}`. Near the optimum of a logistic
    loss the curvature is far below the global bound ``L``, so the step grows
    by orders of magnitude: this is what makes large ``C`` converge in
    hundreds rather than tens of thousands of epochs. The step uses only
    gradients, so the solver still never evaluates the loss; the schedule
    is not applied after the first step.

    Parameters
    ----------
    nesterovs_momentum : bool, default=True
        FISTA with restart and adaptive steps; False gives plain proximal
        gradient descent with a fixed step.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_adamlr import AdamLogisticRegression
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = AdamLogisticRegression(solver="gd").fit(X, y)
    >>> round(clf.score(X, y), 3)
    0.988
    """

    name = "gd"
    full_batch = True
    preconditioned = True
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
        if state.precond is not None and prox is not None:
            prox = ScaledProx(prox, state.precond)
        if state.y is None:
            if state.precond is not None:
                grad *= state.precond
            params -= learning_rate * grad
            if prox is not None:
                prox(params, learning_rate)
            return
        y = state.y
        step = self._adapt_step(state, y, grad, learning_rate)
        # x_new = prox(y - step * P * grad), computed in grad's buffer.
        np.multiply(grad, -step, out=grad)
        if state.precond is not None:
            grad *= state.precond
        grad += y
        if prox is not None:
            prox(grad, step)
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

    @staticmethod
    def _adapt_step(state, point, grad, learning_rate):
        """Malitsky & Mishchenko's step from the last two gradients."""
        if state.prev_point is None:
            state.prev_point = point.copy()
            state.prev_grad = grad.copy()
            state.step = float(learning_rate)
            return state.step
        prev_point, prev_grad = state.prev_point, state.prev_grad
        # The differences are formed in the previous buffers, which are then
        # refilled with the current point and gradient.
        prev_point -= point
        prev_grad -= grad
        dx = metric_norm(prev_point, state.precond, inverse=True)
        dg = metric_norm(prev_grad, state.precond)
        growth = np.sqrt(1.0 + state.theta) * state.step
        step = min(growth, dx / (2.0 * dg)) if dg > 0 else growth
        if not np.isfinite(step) or step <= 0:
            step = state.step
        state.theta = step / state.step
        state.step = step
        prev_point[...] = point
        prev_grad[...] = grad
        return step
