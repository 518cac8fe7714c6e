"""Minibatch Adam (Kingma & Ba, 2015), bias-corrected, with a proximal step."""

from dataclasses import dataclass

import numpy as np

from .. import _fused
from ._base import Solver, register_solver


@dataclass
class AdamState:
    """State of :class:`Adam`.

    Attributes
    ----------
    m : ndarray
        First-moment estimate.
    v : ndarray
        Second-moment estimate.
    t : int
        Adam steps taken, for the bias correction.
    """

    m: np.ndarray
    v: np.ndarray
    t: int = 0


@register_solver
class Adam(Solver):
    r"""Minibatch Adam with bias correction and a proximal L1 step.

    With gradient :math:`g` at step :math:`t`:

    .. math::

        m &\leftarrow \beta_1 m + (1 - \beta_1) g, \qquad
        v \leftarrow \beta_2 v + (1 - \beta_2) g^2, \\
        \eta_t &= \eta \sqrt{1 - \beta_2^t} / (1 - \beta_1^t), \qquad
        s = \eta_t / (\sqrt{v} + \epsilon), \qquad
        x \leftarrow x - s \odot m.

    This is the "efficient" form of Algorithm 1 of Kingma & Ba, as in
    ``MLPClassifier``: :math:`\epsilon` is added *outside* the square root,
    to the uncorrected :math:`\sqrt{v}`. The L1 part is then applied by
    soft-thresholding each coordinate with its own step :math:`s_j`, the
    proximal operator in the metric of Adam's diagonal preconditioner, so
    zeros are exact.

    ``learning_rate='auto'`` is 0.01, a step in the units of the parameters
    (Adam's update has magnitude about :math:`\eta` whatever the scale of
    the gradient); on standardized features it reaches the optimum to
    about 1e-3 relative within a few hundred epochs.

    Parameters
    ----------
    beta_1 : float, default=0.9
        Decay of the first moment, in [0, 1).
    beta_2 : float, default=0.999
        Decay of the second moment, in [0, 1).
    epsilon : float, default=1e-8
        Added to :math:`\sqrt{v}` for numerical stability.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_adamlr import AdamLogisticRegression
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = AdamLogisticRegression(solver="adam", random_state=0)
    >>> clf.fit(X, y).score(X, y) > 0.95
    True
    """

    name = "adam"
    hyperparameters = ("beta_1", "beta_2", "epsilon")
    lazy = True

    def __init__(self, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def auto_learning_rate(self, smoothness, batch_size):
        """A fixed 0.01: Adam's steps are scale free."""
        return 0.01

    def init_state(self, params):
        """Zero moments."""
        return AdamState(m=np.zeros_like(params), v=np.zeros_like(params))

    def update(self, params, grad, state, learning_rate, prox, rows=None):
        """One Adam step, then per-coordinate soft-thresholding.

        With ``rows``, only those rows of the parameters and moments move
        (lazy updates on sparse data); the bias correction follows the
        global step count.
        """
        b1, b2 = self.beta_1, self.beta_2
        state.t += 1
        t = state.t
        lr_t = learning_rate * np.sqrt(1.0 - b2**t) / (1.0 - b1**t)
        if _step is not None and _fused.AVAILABLE:
            ok = _step(
                params, grad, state.m, state.v, *_fused.rows_arg(rows),
                lr_t, b1, b2, self.epsilon, _fused.threshold_arg(prox),
            )  # fmt: skip
            if not ok:
                raise FloatingPointError("overflow in the Adam update")
        elif rows is None:
            _update(params, grad, state.m, state.v, lr_t, b1, b2, self.epsilon, prox)
        else:
            p, m, v = params[rows], state.m[rows], state.v[rows]
            _update(p, grad[rows], m, v, lr_t, b1, b2, self.epsilon, prox, rows)
            params[rows], state.m[rows], state.v[rows] = p, m, v


def _update(params, grad, m, v, lr_t, b1, b2, epsilon, prox, rows=None):
    """The numpy reference of the Adam step (``rows``: these are those rows)."""
    m *= b1
    m += (1.0 - b1) * grad
    v *= b2
    np.square(grad, out=grad)
    grad *= 1.0 - b2
    v += grad
    # grad's buffer becomes the per-coordinate step s = lr_t / (sqrt(v) + eps)
    np.sqrt(v, out=grad)
    grad += epsilon
    np.divide(lr_t, grad, out=grad)
    if prox is None:
        grad *= m
        params -= grad
    else:
        params -= grad * m
        prox(params, grad, rows)


def _compiled_step(params, grad, m, v, rows, n_rows, lr_t, b1, b2, eps, threshold):
    """:func:`_update` for ``rows[:n_rows]`` (all rows if ``n_rows < 0``).

    Returns False if a moment or a parameter is no longer finite: numba
    raises no floating-point error, and an infinite ``v`` would otherwise
    only freeze its coordinate.
    """
    n = params.shape[0] if n_rows < 0 else n_rows
    finite = True
    for a in range(n):
        r = a if n_rows < 0 else rows[a]
        for c in range(params.shape[1]):
            g = grad[r, c]
            mc = b1 * m[r, c] + (1.0 - b1) * g
            vc = b2 * v[r, c] + g * g * (1.0 - b2)
            m[r, c] = mc
            v[r, c] = vc
            step = lr_t / (np.sqrt(vc) + eps)
            x = params[r, c] - step * mc
            if threshold.shape[0] > 0:
                x = _fused.soft_threshold(x, threshold[r] * step)
            params[r, c] = x
            finite &= np.isfinite(vc) and np.isfinite(mc) and np.isfinite(x)
    return finite


_step = _fused.jit(_compiled_step)
