"""Limited-memory BFGS on the full batch, with a line search on gradients only."""

import functools
from dataclasses import dataclass

import numpy as np
from scipy.linalg import lapack

from .. import _kernels
from .._kernels import _numba
from ._base import Solver, register_solver
from ._gd import GDState, GradientDescent

# A trial point is accepted when the slope along the direction there is at
# most this fraction of the slope's magnitude at the start (see LBFGS).
# Measured on breast_cancer, wine, iris and digits (standardized, C in
# {0.01, 1, 100}): 0.9 and 0.5 took the same passes within 4 of 66, and no
# accepted step raised the objective.
_SLOPE_FRACTION = 0.9

# Parameters up to which the numpy path takes the compact form of the
# direction (_compact_product) instead of the two-loop recursion: measured
# with 10 pairs (one thread), 16 against 33 us on 31 parameters, 27 against
# 40 on 650, 56 against 48 on 2,000. The compiled loops take 1 us on 31.
COMPACT_MAX = 1024


@dataclass
class LBFGSState:
    """State of :class:`LBFGS`.

    Attributes
    ----------
    trial : ndarray or None
        The point where the next gradient is taken: the accepted point plus
        ``alpha`` times ``direction``.
    grad : ndarray or None
        The gradient at the accepted point (``params``); None before the
        first update.
    direction : ndarray or None
        The current search direction.
    slope : float
        ``<grad, direction>`` at the accepted point (negative).
    alpha : float
        The trial step along ``direction``.
    s, y : ndarray of shape (memory, *params.shape) or None
        The last ``memory`` moves and gradient changes, a ring buffer.
    rho : ndarray of shape (memory,) or None
        ``1 / <s_i, y_i>`` of each stored pair.
    n_pairs : int
        Pairs stored so far (at most ``memory``).
    head : int
        Index of the slot the next pair fills.
    n_backtracks : int
        Trial steps shortened so far, for diagnostics.
    fista : GDState or None
        With an L1 part, the state of the FISTA steps taken instead.
    precond : ndarray of shape (n_params, 1) or None
        The diagonal preconditioner ``P``: the two-loop recursion starts
        from ``gamma * P`` (see ``Solver.preconditioned``).
    pending_rate : float or None
        Where not None, the direction at the accepted point is still to be
        computed, with this learning rate (see :meth:`LBFGS.eval_point`).
    """

    trial: np.ndarray | None = None
    grad: np.ndarray | None = None
    direction: np.ndarray | None = None
    slope: float = 0.0
    alpha: float = 1.0
    s: np.ndarray | None = None
    y: np.ndarray | None = None
    rho: np.ndarray | None = None
    n_pairs: int = 0
    head: int = 0
    n_backtracks: int = 0
    fista: GDState | None = None
    precond: np.ndarray | None = None
    pending_rate: float | None = None


@register_solver
class LBFGS(Solver):
    r"""Limited-memory BFGS on the full batch (Liu & Nocedal, 1989).

    The direction at the accepted point :math:`x_k` is
    :math:`d_k = -H_k \nabla f(x_k)`, with :math:`H_k` the inverse-Hessian
    estimate of the two-loop recursion (Nocedal & Wright, *Numerical
    Optimization*, 2nd ed., Algorithm 7.4) over the last ``memory`` pairs
    :math:`s_i = x_{i+1} - x_i`, :math:`y_i = \nabla f(x_{i+1}) - \nabla
    f(x_i)`, and the initial scaling :math:`H_k^0 = \frac{s^\top y}{y^\top
    y} I` of the newest pair (the learning rate before the first pair). The
    trial point is :math:`x_k + \alpha d_k` with :math:`\alpha = 1`.

    The line search uses the gradient that the next pass computes anyway,
    never the loss: the trial point is accepted when the slope there,
    :math:`\phi'(\alpha) = \nabla f(x_k + \alpha d_k)^\top d_k`, is at most
    :math:`0.9\,|\phi'(0)|`. For a convex objective a negative slope at the
    trial point implies a lower objective (:math:`f(x + \alpha d) \le f(x) +
    \alpha \phi'(\alpha)`); a small positive one has passed the minimum
    along the line by little, and on a quadratic still lowers the objective.
    Otherwise the step is shortened by secant interpolation of the slope,
    :math:`\alpha \leftarrow \alpha\,\phi'(0) / (\phi'(0) - \phi'(\alpha))`,
    kept within :math:`[0.1\alpha, 0.5\alpha]`. A pair with
    :math:`s^\top y \le 10^{-12} \|s\| \|y\|` is not stored, so :math:`H_k`
    stays positive definite.

    Each update costs one pass over ``X`` (the fused loss and gradient), as a
    ``gd`` step does, plus the two-loop recursion over the pairs (compiled
    with the ``fast`` extra: 1 us a direction on 31 parameters; numpy's
    loops take 33 us, its compact form of the same product 16 us, which is
    what the numpy path runs up to ``COMPACT_MAX`` parameters), but far
    fewer are needed: the certificate of ``tol``
    was met in 9 to 66 passes on breast_cancer, wine, iris and digits
    (standardized, C in {0.01, 1, 100}), where FISTA (``gd``) took 21 to
    144, and in 14 on 400,000 x 100 standardized data (FISTA: 35).

    In a certified ``fit`` it also takes the certificate's Newton steps
    (``takes_direction``, see ``_certify.NewtonStep``): where the objective
    is flat (standardized digits at C=100: 45 epochs instead of 138), and
    near the optimum where that step is a Cholesky solve (two classes, at
    most 48 parameters: breast_cancer in 10 epochs instead of 24).

    The L1 part of an elastic-net penalty is not smooth, and quasi-Newton
    directions do not apply to it: with ``l1_ratio > 0`` the solver takes
    the FISTA steps of :class:`GradientDescent` instead, exact zeros
    included. ``learning_rate`` sets only the first step (and the one after
    a reset); ``'auto'`` is :math:`1 / L_{mean}`, the mean smoothness
    constant of a sample, an upper bound on ``L`` that costs one pass over
    ``X`` where ``gd``'s ``1 / L`` needs the Gram matrix. ``schedule``
    applies to that first step only. In ``partial_fit`` a call takes one
    step on its chunk and keeps the pairs: calls on the same data continue
    as ``fit`` does, while pairs from different chunks mix curvatures, so
    for a stream of distinct chunks use ``adam`` or ``minibatch``.

    Parameters
    ----------
    memory : int, default=10
        Pairs kept for the inverse-Hessian estimate.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_adamlr import AdamLogisticRegression
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = AdamLogisticRegression(solver="lbfgs").fit(X, y)
    >>> round(clf.score(X, y), 3), bool(clf.optimality_ <= clf.tol)
    (0.988, True)
    """

    name = "lbfgs"
    full_batch = True
    preconditioned = True
    takes_direction = True
    hyperparameters = ()

    def __init__(self, memory=10):
        if not (isinstance(memory, (int, np.integer)) and memory >= 1):
            raise ValueError(f"memory must be a positive integer, got {memory!r}.")
        self.memory = int(memory)

    def __repr__(self):
        return f"LBFGS(memory={self.memory})"

    def auto_learning_rate(self, smoothness, batch_size):
        """``1 / L_mean``: a safe first step without the Gram matrix."""
        return 1.0 / smoothness.mean_sample

    def init_state(self, params):
        """No pairs yet; the first gradient is taken at ``params``."""
        return LBFGSState(trial=params.copy())

    def eval_point(self, params, state):
        """The trial point (``params`` before the first update).

        The direction of an accepted point (after the first) is computed
        here, when the next gradient is about to be taken, not in
        :meth:`update`: a Newton step handed over in between
        (:meth:`take_direction`) replaces it unused. Measured: 5 of the 10
        epochs of a default fit on standardized breast_cancer, 16 us each
        on the numpy path.
        """
        if state.fista is not None:
            return state.fista.y
        if state.pending_rate is not None:
            self._new_direction(params, state, state.pending_rate)
        return state.trial

    def update(self, params, grad, state, learning_rate, prox):
        """Accept or shorten the trial step, then set the next trial point."""
        if prox is not None:
            self._fista_update(params, grad, state, learning_rate, prox)
            return
        if state.fista is not None:
            # The L1 part is gone (a new l1_ratio in partial_fit): start
            # afresh from the point where this gradient was taken.
            params[...] = state.fista.y
            state.fista = None
            state.trial = params.copy()
            state.grad = state.direction = None
        if state.grad is None:
            # the first gradient, taken at params: its step (the learning
            # rate's, no pairs to combine) is taken now, so that a learning
            # rate too large fails at the first epoch
            state.grad = grad.copy()
            self._new_direction(params, state, learning_rate)
            return
        slope = float(np.vdot(grad, state.direction))
        if slope > _SLOPE_FRACTION * abs(state.slope):
            # past the minimum along the line by too much: shorten the step
            ratio = state.slope / (state.slope - slope)
            state.alpha *= min(max(ratio, 0.1), 0.5)
            state.n_backtracks += 1
            np.multiply(state.direction, state.alpha, out=state.trial)
            state.trial += params
            return
        self._store_pair(params, grad, state)
        params[...] = state.trial
        state.grad[...] = grad
        state.pending_rate = learning_rate

    def take_direction(self, params, state, direction):
        """Try ``direction`` (the certificate's Newton step) next, at ``alpha = 1``.

        Without an L1 part, and for a descent direction; the line search
        then treats it as its own, and the move it makes is stored as a pair
        like any other.
        """
        # (state.grad is always the gradient at params, the accepted point)
        if state.fista is not None or state.grad is None:
            return False
        direction = np.asarray(direction, dtype=params.dtype)
        slope = float(np.vdot(state.grad, direction))
        if not slope < 0.0:
            return False
        state.direction = direction.copy()
        state.slope = slope
        state.alpha = 1.0
        state.pending_rate = None
        np.add(params, state.direction, out=state.trial)
        return True

    def _store_pair(self, params, grad, state):
        """Keep ``(trial - params, grad - state.grad)`` if its curvature is positive."""
        s = state.trial - params
        y = grad - state.grad
        sy = float(np.vdot(s, y))
        # |s| |y| as the root of two dot products (np.linalg.norm takes 2 us
        # each on 31 parameters, a tenth of a small fit's epoch)
        ss, yy = float(np.vdot(s, s)), float(np.vdot(y, y))
        if not sy > 1e-12 * np.sqrt(ss * yy):
            return
        if state.s is None:
            shape = (self.memory,) + params.shape
            state.s = np.zeros(shape, dtype=params.dtype)
            state.y = np.zeros(shape, dtype=params.dtype)
            state.rho = np.zeros(self.memory)
        state.s[state.head] = s
        state.y[state.head] = y
        state.rho[state.head] = 1.0 / sy
        state.head = (state.head + 1) % self.memory
        state.n_pairs = min(state.n_pairs + 1, self.memory)

    def _new_direction(self, params, state, learning_rate):
        """``-H grad`` by the two-loop recursion, and the trial point at alpha=1."""
        state.pending_rate = None
        q = state.grad.copy()
        precond = state.precond
        if state.n_pairs == 0:
            q *= learning_rate
            if precond is not None:
                q *= precond
        elif _two_loop is not None and _kernels.enabled():
            m = self.memory
            diagonal = (
                _NO_PRECOND if precond is None
                else np.broadcast_to(precond, q.shape).ravel()
            )  # fmt: skip
            _two_loop(state.s.reshape(m, -1), state.y.reshape(m, -1), state.rho,
                      state.head, state.n_pairs, q.reshape(-1), diagonal)  # fmt: skip
        else:
            product = None
            if q.size <= COMPACT_MAX:
                diagonal = (
                    None if precond is None else np.broadcast_to(precond, q.shape)
                )
                product = _compact_product(state.s, state.y, state.rho, state.head,
                                           state.n_pairs, q, diagonal)  # fmt: skip
            if product is not None:
                q[...] = product.reshape(q.shape)
            else:
                _two_loop_numpy(state, self.memory, q, precond)
        np.negative(q, out=q)
        slope = float(np.vdot(state.grad, q))
        if not slope < 0:
            # not a descent direction (rounding, or a gradient of zero):
            # forget the pairs and take a gradient step
            state.n_pairs = state.head = 0
            np.multiply(state.grad, -learning_rate, out=q)
            slope = float(np.vdot(state.grad, q))
        state.direction = q
        state.slope = slope
        state.alpha = 1.0
        np.add(params, q, out=state.trial)

    def _fista_update(self, params, grad, state, learning_rate, prox):
        """With an L1 part: FISTA's step (see :class:`GradientDescent`)."""
        if state.fista is None:
            # the gradient was taken at the trial point: FISTA starts there
            params[...] = state.trial
            state.fista = GDState(y=state.trial.copy(), precond=state.precond)
        GradientDescent().update(params, grad, state.fista, learning_rate, prox)


def _two_loop_numpy(state, memory, q, precond):
    """``q`` (the gradient) becomes ``H q`` in place: the two-loop recursion.

    The reference for the compiled loops (:func:`_two_loop_flat`) and for
    the compact form (:func:`_compact_product`).
    """
    newest = (state.head - 1) % memory
    order = [(newest - j) % memory for j in range(state.n_pairs)]
    a = {}
    for i in order:
        a[i] = state.rho[i] * float(np.vdot(state.s[i], q))
        q -= a[i] * state.y[i]
    # H0 = gamma * P, gamma = s'y / y'Py (P = I without one)
    y_new = state.y[newest]
    if precond is None:
        q *= 1.0 / (state.rho[newest] * float(np.vdot(y_new, y_new)))
    else:
        yy = float(np.vdot(y_new, precond * y_new))
        q *= precond / (state.rho[newest] * yy)
    for i in reversed(order):
        b = state.rho[i] * float(np.vdot(state.y[i], q))
        q += (a[i] - b) * state.s[i]


def _compact_product(s, y, rho, head, n_pairs, g, p):
    r"""``H g`` by the compact form of L-BFGS (flat, float64).

    With the pairs oldest first as the rows of :math:`S` and :math:`Y`,
    :math:`H_0 = \gamma P`, :math:`R` the upper triangle of :math:`S Y^\top`
    and :math:`D` its diagonal (Byrd, Nocedal & Schnabel, 1994, eq. 2.6):

    .. math::

        H g = \gamma P g + W c, \quad
        W = [S^\top, \gamma P Y^\top], \quad
        \begin{pmatrix} 0 & -R \\ -R^\top & -(D + \gamma Y P Y^\top)
        \end{pmatrix} c = W^\top g,

    the same ``H`` as the two-loop recursion in a dozen numpy calls where
    the loops take four per pair. Measured (one thread, 10 pairs): 16 us
    against 33 us on 31 parameters, 27 against 40 on 650, 56 against 48 on
    2,000 (see ``COMPACT_MAX``); equal to the loops within 7e-16 relative.
    """
    memory = s.shape[0]
    m = n_pairs
    order = np.arange(head - m, head) % memory
    S = s.take(order, axis=0).reshape(m, -1)
    Y = y.take(order, axis=0).reshape(m, -1)
    g = g.reshape(-1).astype(np.float64, copy=False)
    p = None if p is None else p.reshape(-1)
    PY = Y if p is None else Y * p
    Z = np.concatenate((S, PY)).astype(np.float64, copy=False)
    G = Z @ Y.T.astype(np.float64, copy=False)  # rows: S Y', then Y P Y'
    gamma = 1.0 / (rho[order[-1]] * G[-1, -1])
    R = G[:m]
    R[_strict_lower(m)] = 0.0
    K = np.zeros((2 * m, 2 * m))
    np.negative(R, out=K[:m, m:])
    K[m:, :m] = K[:m, m:].T
    np.multiply(G[m:], -gamma, out=K[m:, m:])
    K[m:, m:].flat[:: m + 1] -= 1.0 / rho[order]
    w = Z @ g
    w[m:] *= gamma
    _, _, c, info = lapack.dgesv(K, w)
    if info != 0:
        # K is singular only if R is (det K = +-det(R)^2), and R's diagonal
        # is the pairs' s'y > 0: a guard for rounding; the loops then
        return None
    c[m:] *= gamma
    out = c @ Z
    out += gamma * (g if p is None else p * g)
    return out


@functools.cache
def _strict_lower(m):
    """``np.tril_indices(m, -1)``, kept (it takes 10 us; a fit asks ~30 times)."""
    return np.tril_indices(m, -1)


def _two_loop_flat(s, y, rho, head, n_pairs, q, p):
    """The two-loop recursion of :meth:`LBFGS._new_direction`, compiled.

    ``s`` and ``y`` are the ring buffers with each pair flattened, ``head``
    the slot the next pair fills; ``q`` (flat, the gradient) becomes
    ``H grad`` in place; ``p`` (flat, or empty for none) is the diagonal
    preconditioner that ``H0 = gamma * P`` starts from. The same loops as
    the numpy ones, which are the reference (the dot products accumulate in
    float64). Measured on breast_cancer's 31 parameters with 10 pairs: 33
    us a direction by numpy's loops, 16 us by its compact form, 1 us
    compiled.
    """
    memory, size = s.shape
    a = np.empty(n_pairs)
    newest = (head - 1 + memory) % memory
    for j in range(n_pairs):
        i = (newest - j + memory) % memory
        dot = 0.0
        for t in range(size):
            dot += s[i, t] * q[t]
        a[j] = rho[i] * dot
        for t in range(size):
            q[t] -= a[j] * y[i, t]
    yy = 0.0
    if p.shape[0] == 0:
        for t in range(size):
            yy += y[newest, t] * y[newest, t]
        scale = 1.0 / (rho[newest] * yy)
        for t in range(size):
            q[t] *= scale
    else:
        for t in range(size):
            yy += p[t] * y[newest, t] * y[newest, t]
        scale = 1.0 / (rho[newest] * yy)
        for t in range(size):
            q[t] *= scale * p[t]
    for j in range(n_pairs - 1, -1, -1):
        i = (newest - j + memory) % memory
        dot = 0.0
        for t in range(size):
            dot += y[i, t] * q[t]
        b = rho[i] * dot
        for t in range(size):
            q[t] += (a[j] - b) * s[i, t]


_two_loop = _numba.jit(_two_loop_flat)
_NO_PRECOND = np.empty(0)
