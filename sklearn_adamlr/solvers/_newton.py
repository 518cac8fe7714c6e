"""Newton's method on the full batch: steps that do not care how features are scaled.

One epoch is one Newton step (see :class:`Newton`), run by
:class:`NewtonEpoch` through ``Capabilities.data_epoch``: the step needs the
data's curvature (:class:`~sklearn_adamlr._hessian.Curvature`), not only a
gradient.
"""

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from .._hessian import (
    Curvature,
    cg_step,
    cholesky_step,
    curve_free_sums,
    free_rows,
)
from .._line_search import line_search
from .._loss import gradient_from_raw, raw_prediction
from ._base import Capabilities, Solver, register_solver

# The Hessian is built as a matrix when the parameters (n_features +
# fit_intercept, times the outputs) are at most this many, else the step is
# solved by conjugate gradients on Hessian-vector products (see Newton).
MATRIX_MAX = 500

# The gap_share of float32 data (see NewtonEpoch.gap_share).
FLOAT32_GAP_SHARE = 1e-5


@dataclass
class NewtonState:
    """State of :class:`Newton`: counters only (a Newton step needs no memory).

    Attributes
    ----------
    n_steps : int
        Newton steps taken.
    n_inner : int
        Conjugate-gradient iterations (or coordinate-descent sweeps, with an
        L1 part) of those steps, for diagnostics.
    n_halvings : int
        Line-search halvings of those steps.
    """

    n_steps: int = 0
    n_inner: int = 0
    n_halvings: int = 0


@register_solver
class Newton(Solver):
    r"""Newton's method on the full batch, with a backtracking line search.

    At the point :math:`x` with gradient :math:`g` and Hessian :math:`H` of
    the smooth part of the objective (see :mod:`sklearn_adamlr._hessian`),
    the step is :math:`d = -H^{-1} g`, taken as :math:`x + \alpha d` with
    the first :math:`\alpha \in \{1, 1/2, 1/4, \dots\}` that lowers the
    objective by at least :math:`10^{-4} \alpha |g^\top d|` (Armijo; the
    trial points cost no pass over ``X``: the raw predictions move by
    :math:`\alpha X d`, computed once). Near the optimum the full step is
    taken and convergence is quadratic. The direction does not change when
    a column of ``X`` is rescaled (only the penalty does), so raw,
    unstandardized features need no more steps than scaled ones.

    :math:`H^{-1} g` is solved in one of two ways, chosen by ``hessian``:

    - ``'matrix'``: the Hessian is built (``n_samples * p^2`` multiply-adds
      for ``p`` parameters, times :math:`K (K + 1) / 2` for ``K`` classes)
      and factored by Cholesky;
    - ``'cg'``: conjugate gradients on Hessian-vector products (two passes
      over ``X`` each), preconditioned by the Hessian's diagonal, to a
      residual of :math:`\min(0.5, \sqrt{\|g\|_1}) \|g\|_1` (as
      scikit-learn's ``newton-cg``), at most 200 iterations;
    - ``'auto'``: ``'matrix'`` when the parameters are at most
      ``MATRIX_MAX`` (500), else ``'cg'``.

    With three or more classes the softmax is unchanged when a constant is
    added to every class's intercept (or, without an L2 part, to a
    feature's coefficients): the Hessian is singular along those
    directions. The step leaves them alone (the ``'matrix'`` form solves
    with them pinned, and both forms centre the step across the classes),
    so intercepts stay centred as the first-order solvers keep them.

    With an L1 part the step is a proximal Newton step (Lee, Sun &
    Saunders, 2014; as glmnet's): the quadratic model plus the L1 penalty is
    minimised by coordinate descent over the matrix Hessian, which gives
    exact zeros, and the line search runs on the whole objective. This needs
    the ``'matrix'`` form: more than ``MATRIX_MAX`` parameters with an L1
    part are refused.

    ``learning_rate`` is the line search's first trial step (``'auto'``: 1,
    the full Newton step). One epoch is one Newton step, and ``max_iter``
    counts them. In ``partial_fit`` each call takes one Newton step on its
    chunk from the current coefficients: for a stream of distinct chunks
    use ``adam``. Dask arrays are not supported.

    Parameters
    ----------
    hessian : {'auto', 'matrix', 'cg'}, default='auto'
        How the Newton system is solved.

    Examples
    --------
    On raw (unscaled) features:

    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn_adamlr import AdamLogisticRegression
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = AdamLogisticRegression(solver="newton").fit(X, y)
    >>> bool(clf.optimality_ <= clf.tol), int(clf.n_iter_) < 20
    (True, True)
    """

    name = "newton"
    full_batch = True
    hyperparameters = ()

    def __init__(self, hessian="auto"):
        if hessian not in ("auto", "matrix", "cg"):
            raise ValueError(
                f"hessian must be 'auto', 'matrix' or 'cg', got {hessian!r}."
            )
        self.hessian = hessian

    def __repr__(self):
        return f"Newton(hessian={self.hessian!r})"

    def auto_learning_rate(self, smoothness, batch_size):
        """1: the full Newton step (no smoothness constant is computed)."""
        return 1.0

    def init_state(self, params):
        """Fresh counters."""
        return NewtonState()

    def update(self, params, grad, state, learning_rate, prox):
        """Not used: a Newton step needs the data (see :class:`NewtonEpoch`)."""
        raise NotImplementedError(
            "Newton steps need the Hessian of the data; they run through "
            "NewtonEpoch, not through update()."
        )

    def form(self, n_params):
        """``'matrix'`` or ``'cg'`` for ``n_params`` parameters."""
        if self.hessian != "auto":
            return self.hessian
        return "matrix" if n_params <= MATRIX_MAX else "cg"


class NewtonEpoch:
    """Newton's steps on one data set: ``Capabilities.data_epoch`` of :class:`Newton`.

    Each epoch measures the objective and gradient at ``params`` (one pass
    over ``X`` for the raw predictions, one for the gradient) and hands them
    to ``observe``, the certificate's hook, which may end the fit there;
    then it takes one Newton step. numpy only: its cost is BLAS's.

    Parameters
    ----------
    solver : Newton
    problem : Problem
    params : ndarray of shape (n_features + fit_intercept, n_outputs)
    compiled : bool
        Unused: there is no compiled path.
    """

    # the engine hands its ``observe`` to each epoch (see DataEpochEngine)
    observes_full_batch = True
    # numpy's BLAS is the whole cost: there is no compiled path to choose
    has_compiled_path = False
    # A point is certified only when its step's model decrease is at most
    # this share of the objective too (see Certificate). Measured on the
    # bundled sets (raw and standardized, C in {0.01, 1, 100}): on the
    # gradient alone, wine standardized at C=100 stopped 6.4e-3 above the
    # optimum and raw digits at C=100 5.4e-2; with it, every fit ends below
    # 1e-8 in one to three more steps.
    gap_share = 1e-8

    def __init__(self, solver, problem, params, compiled):
        self.solver = solver
        self.problem = problem
        self.compiled = False
        if params.dtype == np.float32:
            # float32 sums resolve the objective to about 1e-7 of itself:
            # iris at C=1e4 never met 1e-8 and ran its 1,000 steps
            self.gap_share = FLOAT32_GAP_SHARE
        n_params = params.size
        self.form = solver.form(n_params)
        if problem.penalty.has_prox and self.form != "matrix":
            raise ValueError(
                f"solver='newton' with an L1 part (l1_ratio > 0) needs the "
                f"Hessian as a matrix, and {n_params} parameters exceed "
                f"MATRIX_MAX={MATRIX_MAX}: use solver='gd' (FISTA) or 'saga'."
            )
        d, k = problem.n_features, params.shape[1]
        # the coordinates whose sum over the classes the softmax ignores
        self.free_rows = free_rows(d, problem.fit_intercept, problem.penalty.l2, k)
        self.l1 = np.zeros(params.shape)
        self.l1[:d] = problem.penalty.l1

    def epoch(self, params, state, samples, rate, observe=None):
        """Measure ``params``, hand it to ``observe``, then take one Newton step.

        Returns
        -------
        loss_sum : float
            The weighted loss where the epoch ends (after its step).
        finite : bool
        """
        p = self.problem
        d, W = p.n_features, p.weight_sum
        raw = raw_prediction(p.X, params, d)
        grad_raw = np.empty_like(raw)
        loss_sum = p.loss.loss_gradient(raw, p.target, p.sample_weight, grad_raw)
        grad = np.empty_like(params)
        gradient_from_raw(p.X, grad_raw, d, 1.0 / W, grad)
        p.penalty.add_gradient(params[:d], grad[:d])
        value = loss_sum / W + p.penalty.value(params[:d])
        # The step first: its model's decrease estimates the gap, which the
        # certificate reads through gap_estimate before it stops the fit.
        step, decrease, inner = self._step(params, raw, grad)
        self._estimate = (params.copy(), decrease)
        if observe is not None and observe(params, value, grad, rate) is None:
            return loss_sum, True
        state.n_inner += inner
        new_loss, alpha, halvings = self._line_search(
            params, raw, grad, step, value, min(float(rate), 1.0)
        )
        state.n_halvings += halvings
        if alpha > 0.0:
            params += (alpha * step).astype(params.dtype)
            state.n_steps += 1
            loss_sum = new_loss
        return loss_sum, bool(np.isfinite(params).all())

    def _step(self, params, raw, grad):
        """``(step, model decrease, inner iterations)`` of the step at ``params``.

        The model decrease is what the quadratic model (plus the L1 part)
        predicts the step lowers the objective by: ``g^T H^-1 g / 2``, half
        the squared Newton decrement, without an L1 part.
        """
        p = self.problem
        d = p.n_features
        curvature = Curvature(p, raw)
        g = grad.astype(np.float64)
        if p.penalty.has_prox:
            H = curvature.matrix()
            w = params.ravel().astype(np.float64)
            step, inner = prox_newton_step(H, g.ravel(), w, self.l1.ravel())
            l1_change = p.penalty.l1 * float(
                np.abs(w + step).reshape(params.shape)[:d].sum()
                - np.abs(w).reshape(params.shape)[:d].sum()
            )
            decrease = -(g.ravel() @ step + 0.5 * step @ (H @ step) + l1_change)
            step = step.reshape(params.shape)
        else:
            if self.form == "matrix":
                step, inner = matrix_step(curvature, g, self.free_rows), 0
            else:
                step, inner = cg_step(curvature, g)
            decrease = -0.5 * float(np.vdot(g, step))
        if self.free_rows.any():
            step[self.free_rows] -= step[self.free_rows].mean(axis=1, keepdims=True)
        return step, max(float(decrease), 0.0), inner

    def gap_estimate(self, point):
        """The model decrease of the step at ``point``, if this epoch measured it.

        A fit is certified only when this is small too
        (:class:`~sklearn_adamlr._certify.Certificate`): where the
        objective is flat (nearly separable classes, a weak penalty), a small
        gradient can sit far above the optimum, and the quadratic model sees
        it (wine standardized at C=100: gradient 1e-4, relative gap 6e-3).
        """
        at, decrease = getattr(self, "_estimate", (None, None))
        if at is None or not np.array_equal(at, point):
            return None
        return decrease

    def _line_search(self, params, raw, grad, step, value, alpha):
        """``(loss sum, alpha, halvings)`` of the accepted step (alpha 0: none)."""
        return line_search(self.problem, params, raw, grad, step, value, alpha)


def matrix_step(curvature, grad, free_rows):
    """``-H^{-1} g`` with the Hessian built and factored by Cholesky.

    Along the softmax's free directions (``free_rows``: the sum over the
    classes of those rows) the Hessian is zero; the solve adds the
    curvature of its largest diagonal entry there, which leaves the step
    unchanged elsewhere (the gradient has no component there). A Hessian
    that is still singular (a column of zeros without L2, separable data
    without a penalty) is solved by its eigendecomposition, in the least
    squares sense.
    """
    H = curvature.matrix()
    if free_rows.any():
        curve_free_sums(H, free_rows, grad.shape[1])
    g = grad.ravel()
    try:
        step = cholesky_step(H, g)
    except linalg.LinAlgError:
        values, vectors = linalg.eigh(H)
        keep = values > 1e-12 * max(values.max(), 0.0)
        step = -vectors[:, keep] @ ((vectors[:, keep].T @ g) / values[keep])
    if not np.isfinite(step).all():
        step = -g / np.maximum(np.diag(H), np.finfo(float).tiny)
    return step.reshape(grad.shape)


def prox_newton_step(H, g, w, l1, max_sweeps=100):
    """``(step, sweeps)``: the proximal Newton step by coordinate descent.

    Minimises ``g^T s + s^T H s / 2 + sum(l1 * |w + s|)`` over ``s``, one
    coordinate at a time (``l1`` per coordinate, 0 for the intercept),
    until a sweep changes no coordinate by more than 1e-3 of the step's
    largest entry (the outer line search and the next step correct the
    rest).
    """
    n = len(g)
    step = np.zeros(n)
    Hs = np.zeros(n)
    diag = np.diag(H).copy()
    sweeps = 0
    while sweeps < max_sweeps:
        sweeps += 1
        largest_change = 0.0
        for i in range(n):
            a = diag[i]
            if not a > 0.0:
                continue
            u = w[i] + step[i] - (g[i] + Hs[i]) / a
            threshold = l1[i] / a
            z = np.sign(u) * max(abs(u) - threshold, 0.0)
            change = z - w[i] - step[i]
            if change != 0.0:
                Hs += change * H[:, i]
                step[i] += change
                largest_change = max(largest_change, abs(change))
        if largest_change <= 1e-3 * np.abs(step).max(initial=0.0):
            break
    return step, sweeps


Newton.capabilities = Capabilities(data_epoch=NewtonEpoch)
