"""Minibatch stochastic gradient descent with (Nesterov) momentum."""

from dataclasses import dataclass

import numpy as np

from .. import _kernels
from .._kernels import _numba
from ._base import Capabilities, Solver, register_solver
from ._metric import ScaledProx


@dataclass
class MomentumState:
    """State of :class:`MinibatchSGD`: the velocity of the parameters.

    ``precond``: the diagonal preconditioner ``P`` (steps by ``P * grad``,
    see ``Solver.preconditioned``), or None.
    """

    velocity: np.ndarray | None
    precond: np.ndarray | None = None


@register_solver
class MinibatchSGD(Solver):
    r"""Minibatch (proximal) SGD with optional momentum.

    With momentum :math:`\mu`, the velocity is
    :math:`v \leftarrow \mu v - \eta g` and the parameters move by
    :math:`v` (heavy ball) or by :math:`\mu v - \eta g` (Nesterov's momentum in
    the form of Sutskever et al., 2013, as in ``MLPClassifier``). The L1
    part is applied after the move by soft-thresholding, and the shrinkage
    is added to the velocity so that the fixed points are those of the L1
    problem: at zero velocity the heavy ball moves by :math:`\eta g`, so its
    threshold is :math:`\eta \lambda_1` and the velocity takes the whole
    shrinkage; Nesterov's step moves by :math:`\eta (1 + \mu) g`, so its
    threshold is :math:`\eta (1 + \mu) \lambda_1` and the velocity takes
    :math:`1 / (1 + \mu)` of the shrinkage.

    ``learning_rate='auto'`` is ``1 / L_b`` in a ``fit`` that measures the
    certificate, with ``L_b`` the expected smoothness of a minibatch of
    ``batch_size`` samples (Gower et al., 2019), the largest step that plain
    SGD takes safely; Nesterov's momentum stays stable at it (the
    deterministic bound is :math:`\eta L < 2 (1 + \mu) / (1 + 2 \mu)`),
    and the training loop halves it when the objective stalls. A smaller
    step, ``(1 - momentum) / L_b``, was measured to be about ten times
    slower there; it is the step of ``partial_fit`` and ``tol=None``, where
    nothing halves the step (:meth:`stream_learning_rate`).

    Without an L1 part the step is linear in the parameters, the velocity
    and the gradient (:meth:`linear_update`). On sparse data it is then the
    dense step, with L2 and momentum moving every coefficient, taken in
    scaled coordinates at the cost of the minibatch's non-zeros; with an L1
    part the updates are lazy (see :mod:`sklearn_adamlr._sparse`).

    Parameters
    ----------
    momentum : float, default=0.9
        Momentum in [0, 1); 0 is plain SGD.
    nesterovs_momentum : bool, default=True
        Use Nesterov's momentum rather than the heavy ball.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_adamlr import AdamLogisticRegression
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = AdamLogisticRegression(solver="minibatch", random_state=0)
    >>> clf.fit(X, y).score(X, y) > 0.95
    True
    """

    name = "minibatch"
    hand_over = True
    preconditioned = True
    hyperparameters = ("momentum", "nesterovs_momentum")
    capabilities = Capabilities(lazy=True, linear=True)
    # Momentum 0.9 makes the objective oscillate over tens of steps on a full
    # batch; measured on the 16 default cases (4 bundled data sets x C in
    # {0.01, 1} x weights), with the step halved on a stall: 20 updates
    # reached the certificate 1e-4 in all of them, 10 in 9 of the 12 without
    # digits.
    stall_patience = 20
    # At the full batch (a small data set, or after the batch has grown) the
    # step 1 / L crawls along the flattest directions: on the 16 default
    # cases (see stall_patience), the 2 fits on digits at C=1 stopped at
    # max_iter=1000 with gaps of 1.1e-3 and 2.0e-3; with the secant step
    # all 16 certify (the worst gap 2.1e-5), and the epochs summed over the
    # 16 fell from 4,197 to 1,455 (1,042 with the hand-over, which serves
    # breast_cancer and digits; wine and iris are one minibatch).
    secant_step = True

    def __init__(self, momentum=0.9, nesterovs_momentum=True):
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum

    def auto_learning_rate(self, smoothness, batch_size):
        """``1 / L_b``."""
        return 1.0 / smoothness.expected(batch_size)

    def stream_learning_rate(self, smoothness, batch_size):
        """``(1 - momentum) / L_b``: the momentum-amplified step of plain SGD.

        The velocity sums past steps with weights ``momentum ** k``, so the
        parameters move by up to ``learning_rate / (1 - momentum)`` per unit
        of gradient; with nothing to halve the step, that amplification is
        the noise of the last iterate. Measured on one pass of
        ``partial_fit`` over 400,000 x 100 dense rows in chunks of 10,000:
        a relative gap of 1.07 at ``1 / L_b`` (2.1 there), 7.6e-2 at
        ``(1 - momentum) / L_b``.
        """
        return (1.0 - self.momentum) / smoothness.expected(batch_size)

    def init_state(self, params):
        """Zero velocity (none without momentum)."""
        return MomentumState(
            velocity=np.zeros_like(params) if self.momentum > 0 else None
        )

    def linear_update(self, state, learning_rate):
        r"""The step without a prox as ``P`` and ``q`` on ``(params, velocity)``.

        Nesterov: :math:`x \leftarrow x + \mu^2 v - \eta (1 + \mu) g`;
        heavy ball: :math:`x \leftarrow x + \mu v - \eta g`; both with
        :math:`v \leftarrow \mu v - \eta g`. Without momentum there is no
        velocity: :math:`x \leftarrow x - \eta g`.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_adamlr import get_solver
        >>> solver = get_solver("minibatch", {"momentum": 0.5})
        >>> state = solver.init_state(np.zeros((3, 1)))
        >>> arrays, P, q = solver.linear_update(state, 0.5)
        >>> P, q
        (((1.0, 0.25), (0.0, 0.5)), (-0.75, -0.5))
        """
        lr, mu = learning_rate, self.momentum
        if state.velocity is None:
            return (), ((1.0,),), (-lr,)
        if self.nesterovs_momentum:
            return (state.velocity,), ((1.0, mu * mu), (0.0, mu)), (-lr * (1 + mu), -lr)
        return (state.velocity,), ((1.0, mu), (0.0, mu)), (-lr, -lr)

    def update(self, params, grad, state, learning_rate, prox, rows=None):
        """One momentum step, then soft-thresholding.

        With ``rows``, only those rows of the parameters and the velocity
        move (lazy updates on sparse data).
        """
        v = state.velocity
        if state.precond is not None:
            # (dense data in memory only: no rows)
            grad *= state.precond
            if prox is not None:
                prox = ScaledProx(prox, state.precond)
        if _step is not None and _kernels.enabled():
            # float(): the secant step is a float32 scalar on float32 data,
            # which numba compiled as a variant of its own mid-fit
            ok = _step(
                params, grad, _EMPTY if v is None else v,
                *_numba.rows_arg(rows), float(learning_rate), self.momentum,
                self.nesterovs_momentum, _numba.threshold_arg(prox),
            )  # fmt: skip
            if not ok:
                raise FloatingPointError("overflow in the momentum update")
            return
        if rows is None:
            self._update(params, grad, v, learning_rate, prox)
            return
        p = params[rows]
        vr = None if v is None else v[rows]
        self._update(p, grad[rows], vr, learning_rate, prox, rows)
        params[rows] = p
        if v is not None:
            v[rows] = vr

    def _update(self, params, grad, v, learning_rate, prox, rows=None):
        """The numpy reference of the step (``rows``: these are those rows)."""
        if v is None:
            np.multiply(grad, learning_rate, out=grad)
            params -= grad
            if prox is not None:
                prox(params, learning_rate, rows)
            return
        mu = self.momentum
        v *= mu
        np.multiply(grad, learning_rate, out=grad)
        v -= grad
        if self.nesterovs_momentum:
            params += mu * v
            params -= grad
        else:
            params += v
        if prox is not None:
            # The shrinkage goes into the velocity too. Otherwise the velocity
            # settles at -lr * g / (1 - momentum) and keeps undoing the prox,
            # and the fixed point solves the L1 problem with its strength
            # scaled by (1 - momentum). With it, a fixed point has zero
            # velocity and satisfies the proximal optimality condition.
            # Nesterov's step moves by lr * (1 + momentum) * g at zero
            # velocity: the threshold takes that step, and the velocity a
            # 1 / (1 + momentum) share of the shrinkage; with lr and the
            # whole shrinkage, as for the heavy ball, its fixed point solved
            # the L1 problem at (1 - mu + mu^2) times its strength (0.91 at
            # mu=0.9: on wine at C=0.1 the fit never certified).
            scale = 1.0 + mu if self.nesterovs_momentum else 1.0
            np.copyto(grad, params)
            prox(params, learning_rate * scale, rows)
            grad -= params
            if scale != 1.0:
                grad /= scale
            v -= grad


_EMPTY = np.empty((0, 0))


def _compiled_step(params, grad, v, rows, n_rows, lr, mu, nesterov, threshold):
    """:meth:`MinibatchSGD._update` for ``rows[:n_rows]`` (all if ``n_rows < 0``).

    ``v`` is empty without momentum. Returns False if a parameter or the
    velocity is no longer finite.
    """
    n = params.shape[0] if n_rows < 0 else n_rows
    momentum = v.shape[0] > 0
    # Nesterov's prox takes the step lr * (1 + mu) (see _update)
    scale = 1.0 + mu if momentum and nesterov else 1.0
    finite = True
    for a in range(n):
        r = a if n_rows < 0 else rows[a]
        for c in range(params.shape[1]):
            g = lr * grad[r, c]
            x = params[r, c]
            vc = g - g
            if momentum:
                vc = mu * v[r, c] - g
                x = x + mu * vc - g if nesterov else x + vc
            else:
                x = x - g
            if threshold.shape[0] > 0:
                shrunk = _numba.soft_threshold(x, threshold[r] * lr * scale)
                if momentum:
                    vc -= (x - shrunk) / scale
                x = shrunk
            params[r, c] = x
            if momentum:
                v[r, c] = vc
                finite &= np.isfinite(vc)
            finite &= np.isfinite(x)
    return finite


_step = _numba.jit(_compiled_step)
