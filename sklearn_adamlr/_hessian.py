"""The curvature of the scaled objective at a point: its Hessian, products, diagonal.

The objective is ``sum(sw * loss(z)) / sum(sw) + penalty`` with raw
predictions ``z = X w + b`` (see :func:`~sklearn_adamlr._loss.objective`).
Its Hessian in the packed parameters (rows: features, then the intercept;
columns: outputs) is ``[X, 1]^T S [X, 1]`` with, for each sample, ``S`` the
second derivative of its loss in ``z`` times ``sw / sum(sw)``, plus the L2
strength on the coefficient rows:

- binary: ``p (1 - p)`` with ``p = sigmoid(z)``;
- multinomial: ``diag(p) - p p^T`` with ``p = softmax(z)``, a ``K x K``
  block per sample, so the Hessian couples the outputs.

:class:`Curvature` holds ``S`` at one point (from the raw predictions, no
pass over ``X``) and gives the Hessian as a matrix, its product with a
direction, and its diagonal, each in one pass over ``X`` in blocks of rows
(a float32 or CSR ``X`` is never copied whole; each block is taken to
float64). Everything is accumulated in float64.
"""

import functools

import numpy as np
from scipy import linalg, sparse
from scipy.linalg import lapack
from scipy.special import expit

from ._loss import column_sums, raw_prediction, softmax_rows

# Rows per block: a block of 4,096 rows of 100 float64 features is 3 MB.
_BLOCK = 4096

# Rows of the sample whose Hessian estimates a first-order fit's gap
# (newton_decrease): a Hessian is a mean over the rows, and a strided sample
# of this many estimates it at a few milliseconds on any data.
SAMPLE_ROWS = 8192

# The conjugate gradients' relative residual in newton_decrease.
_ESTIMATE_RTOL = 0.1

# Curvature.matrix computes every output pair's block in one product
# (Curvature._all_pairs) up to this many multiply-adds, n_samples *
# n_params^2 * K (K + 1) / 2; beyond it the loop over pairs is quicker
# (measured: 3.6e5 110 against 100 us, 1.8e6 380 against 332, 2.6e6 219
# against 333).
_PAIRS_AT_ONCE_MAX = 2_000_000

# Parameters (times the outputs) up to which newton_decrease solves with
# the Hessian as a matrix (a Cholesky factor) instead of by CG. Measured
# near the optimum, two classes (one thread; matrix against CG):
# breast_cancer (569 x 31 parameters) 79 against 135 us; 2,000 rows of 31
# parameters 192 against 236 us, of 65 464 against 383, of 129 1,336
# against 827. Three or more classes, where the matrix is also built in one
# product (_PAIRS_AT_ONCE_MAX): default lbfgs fits (one thread, direct
# against CG; the direct solve lets NewtonStep step near the optimum):
# standardized wine (178 x 14 x 3) 1.51 against 1.94 ms, iris 1.21
# against 1.41, make_classification 500 x 11 x 4 1.99 against 2.24; beyond
# it, 2,000 x 16 x 3 (3.1e6 multiply-adds) 5.10 against 3.66 ms.
DIRECT_MAX = 48


def _blocks(X):
    """``(rows, block)`` over ``X`` in float64, a block of rows at a time."""
    n = X.shape[0]
    for start in range(0, n, _BLOCK):
        rows = slice(start, min(start + _BLOCK, n))
        block = X[rows]
        if sparse.issparse(block):
            block = block.astype(np.float64, copy=False).tocsr()
        else:
            block = np.asarray(block, dtype=np.float64)
        yield rows, block


class Curvature:
    """The Hessian of the scaled objective at the point of ``raw``.

    Parameters
    ----------
    problem : Problem
    raw : ndarray of shape (n_samples, n_outputs)
        The raw predictions at the point.

    Attributes
    ----------
    n_outputs : int
    n_params : int
        ``n_features + fit_intercept``, the rows of the packed parameters.

    Examples
    --------
    The binary Hessian at zero, where every ``p (1 - p)`` is 1/4:

    >>> import numpy as np
    >>> from sklearn_adamlr._hessian import Curvature
    >>> from sklearn_adamlr._loss import BinaryLogLoss
    >>> from sklearn_adamlr._penalties import ElasticNet
    >>> from sklearn_adamlr._problem import Problem
    >>> X = np.array([[1.0, 0.0], [0.0, 2.0]])
    >>> problem = Problem(X, np.array([1.0, 0.0]), None, BinaryLogLoss(),
    ...                   ElasticNet(alpha=0.5, l1_ratio=0.0), True)
    >>> Curvature(problem, np.zeros((2, 1))).matrix()
    array([[0.625, 0.   , 0.125],
           [0.   , 1.   , 0.25 ],
           [0.125, 0.25 , 0.25 ]])
    """

    def __init__(self, problem, raw):
        self.X = problem.X
        self.d = problem.n_features
        self.fit_intercept = problem.fit_intercept
        self.l2 = problem.penalty.l2
        self.n_outputs = raw.shape[1]
        self.n_params = self.d + int(self.fit_intercept)
        scale = np.full(problem.n_samples, 1.0 / problem.weight_sum)
        if problem.sample_weight is not None:
            scale *= problem.sample_weight
        raw = np.asarray(raw, dtype=np.float64)
        if self.n_outputs == 1:
            with np.errstate(under="ignore"):
                p = expit(raw[:, 0])
            # S itself: one weight per sample
            self.weight = scale * p * (1.0 - p)
        else:
            self.proba = softmax_rows(raw)
            self.scale = scale
            # p_i * sw_i / sum(sw), for the products (see _coupled)
            self._scaled_proba = self.proba * scale[:, None]

    def _coupled(self, U, rows):
        """``S U`` on ``rows``: each sample's ``S_i`` times its row of ``U``.

        Multinomial: ``S_i u = c_i (p_i * u - p_i (p_i^T u)) = c_i p_i * (u -
        p_i^T u)``, one product with the scaled probabilities (on 1,437 x 10:
        16 us, against 36 us for the four passes of the first form).
        """
        if self.n_outputs == 1:
            return U * self.weight[rows, None]
        along = np.einsum("ij,ij->i", self.proba[rows], U)
        U = U - along[:, None]
        U *= self._scaled_proba[rows]
        return U

    def matvec(self, V):
        """``H V`` for a direction ``V`` shaped like the packed parameters.

        Two products with ``X`` (``X V`` and ``X^T (S X V)``), block by block.
        """
        V = np.asarray(V, dtype=np.float64)
        d = self.d
        out = np.zeros_like(V)
        for rows, B in _blocks(self.X):
            U = np.asarray(B @ V[:d])
            if self.fit_intercept:
                U += V[d]
            R = self._coupled(U, rows)
            out[:d] += B.T @ R
            if self.fit_intercept:
                # (a product with ones: 2.6 us on 1,437 x 10, R.sum(axis=0) 18)
                out[d] += np.ones(len(R)) @ R
        out[:d] += self.l2 * V[:d]
        return out

    def diagonal(self):
        """The Hessian's diagonal, shaped like the packed parameters."""
        d = self.d
        squares, _, totals = self._class_moments()
        out = np.zeros((self.n_params, self.n_outputs))
        out[:d] = squares + self.l2
        if self.fit_intercept:
            out[d] = totals
        return out

    def _class_moments(self):
        """``(sum s x^2, sum s x, sum s)`` per column and class, one pass over ``X``.

        ``s``: each sample's diagonal curvature for the class, ``c p (1 - p)``.
        """
        d, k = self.d, self.n_outputs
        squares = np.zeros((d, k))
        firsts = np.zeros((d, k))
        totals = np.zeros(k)
        for rows, B in _blocks(self.X):
            if self.n_outputs == 1:
                s = self.weight[rows, None]
            else:
                P = self.proba[rows]
                s = P * (1.0 - P) * self.scale[rows, None]
            squared = B.multiply(B) if sparse.issparse(B) else B * B
            squares += squared.T @ s
            firsts += B.T @ s
            totals += column_sums(s)
        return squares, firsts, totals

    def preconditioner(self, active=None):
        """``apply(r)``: an approximate ``H^-1 r``, conjugate gradients' preconditioner.

        The Hessian's diagonal in the coordinates where each column is
        centred about its curvature-weighted mean, class by class (the
        intercept ``b' = b + m^T w``): there the intercept's row of each
        class's block is zero, so the preconditioner is ``T D^-1 T^T``, with
        ``D`` that diagonal (``sum s x^2 - (sum s x)^2 / sum s``, plus the L2
        part) and ``T`` the change of coordinates. A plain diagonal leaves
        the intercept's coupling to every uncentred column to CG. Measured,
        ``newton``'s CG steps (one thread; Hessian products, then time,
        centred against plain): make_classification's columns scaled by a
        lognormal of sigma 1.5 and shifted by a normal of sigma 3, 5,000 x
        200 rows of 5 classes at C=1, 362 against 3,640 products, 0.67
        against 4.3 s; 20,000 x 100 of 6, 340 against 1,712 (1.4 against
        5.2 s); 50,000 x 50 of 10, 3.2 against 15 s; raw digits 235 against
        465 products (84 against 146 ms); standardized digits at C=1e4 1,533
        against 2,390 (0.38 against 0.55 s); standardized 3,000 x 300, two
        classes, 68 products either way (42 against 35 ms: its one more
        product with ``X`` per solve). ``AdamLogisticRegressionCV`` on
        standardized digits, whose gap estimates solve with it: 0.55 ->
        0.49 s. Without an intercept, the diagonal.

        ``active``: a boolean mask shaped like the parameters, the
        coordinates of a restricted solve (the identity elsewhere).
        """
        d, k = self.d, self.n_outputs
        squares, firsts, totals = self._class_moments()
        floor = max(float(squares.max(initial=0.0)), float(totals.max()), 1.0) * 1e-12
        if self.fit_intercept:
            totals = np.maximum(totals, floor)
            means = firsts / totals
            squares -= firsts * means
        else:
            means = np.zeros((d, k))
        centred = np.maximum(squares + self.l2, floor)
        if active is not None:
            means = np.where(active[:d], means, 0.0)
            centred = np.where(active[:d], centred, 1.0)

        def apply(r):
            out = np.empty_like(r)
            out[:d] = r[:d]
            if self.fit_intercept:
                out[:d] -= means * r[d]
            out[:d] /= centred
            if self.fit_intercept:
                out[d] = r[d] / totals - np.einsum("jc,jc->c", means, out[:d])
            return out

        return apply

    def matrix(self):
        """The Hessian as a ``(n_params * n_outputs)`` square matrix.

        Its rows and columns follow the packed parameters flattened in C
        order (``params.reshape(-1)``). It costs ``n_samples * n_params^2``
        times ``n_outputs (n_outputs + 1) / 2`` multiply-adds.
        """
        k, m = self.n_outputs, self.n_params
        H = np.zeros((m, k, m, k))
        n_pairs = k * (k + 1) // 2
        if (
            k > 1
            and not sparse.issparse(self.X)
            and self.X.shape[0] * m * m * n_pairs <= _PAIRS_AT_ONCE_MAX
        ):
            self._all_pairs(H)
            return self._with_l2(H)
        for rows, B in _blocks(self.X):
            for a in range(k):
                for b in range(a, k):
                    s = self._pair_weight(rows, a, b)
                    block = self._weighted_gram(B, s)
                    H[:, a, :, b] += block
                    if b != a:
                        H[:, b, :, a] += block.T
        return self._with_l2(H)

    def _with_l2(self, H):
        """``H`` (shaped ``(m, k, m, k)``) as a square matrix, the L2 part added."""
        m, k = self.n_params, self.n_outputs
        H = H.reshape(m * k, m * k)
        coef_diag = np.arange(self.d * k)
        H[coef_diag, coef_diag] += self.l2
        return H

    def _all_pairs(self, H):
        """Every output pair's block of ``H`` in one matrix product (dense ``X``).

        ``[X, 1]^T`` times ``[X, 1]`` scaled row by row by each pair's
        weights side by side: a dozen numpy calls where the pair by pair
        loop takes ten a pair, though with twice its multiply-adds (no
        symmetric update). Measured (one thread, loop against this): iris
        (150 x 5 parameters, 3 classes) 74 against 39 us, wine (178 x 14)
        93 against 65, 500 x 11 110 against 100, 1,000 x 11 of 5 classes
        380 against 332, but 1,000 x 21 of 3 219 against 333
        (``_PAIRS_AT_ONCE_MAX``).
        """
        d, m = self.d, self.n_params
        a, b, same = _output_pairs(self.n_outputs)
        P = np.asarray(self.proba)
        # each pair's weights: p_a (1{a = b} - p_b), times sw / sum(sw)
        W = P[:, a] * P[:, b]
        np.negative(W, out=W)
        W[:, same] += P
        W *= self.scale[:, None]
        A = np.empty((len(P), m))
        A[:, :d] = self.X
        if self.fit_intercept:
            A[:, d] = 1.0
        scaled = A[:, :, None] * W[:, None, :]
        blocks = (A.T @ scaled.reshape(len(P), -1)).reshape(m, m, -1)
        # (each block is symmetric: it fills (a, b) and (b, a) alike)
        H[:, a, :, b] = blocks.transpose(2, 0, 1)
        H[:, b, :, a] = blocks.transpose(2, 0, 1)

    def _pair_weight(self, rows, a, b):
        """The weights of the ``(a, b)`` output pair of ``S`` on ``rows``."""
        if self.n_outputs == 1:
            return self.weight[rows]
        P = self.proba[rows]
        s = -P[:, a] * P[:, b]
        if a == b:
            s += P[:, a]
        return s * self.scale[rows]

    def _weighted_gram(self, B, s):
        """``[B, 1]^T diag(s) [B, 1]``, the intercept's row and column last."""
        d = self.d
        m = self.n_params
        out = np.empty((m, m))
        if sparse.issparse(B):
            SB = B.multiply(s[:, None]).tocsr()
            out[:d, :d] = (B.T @ SB).toarray()
            column = np.asarray(SB.sum(axis=0)).ravel()
        else:
            # A pair's weights are of one sign, the sample weights being
            # non-negative: p (1 - p) >= 0 (binary, a multinomial diagonal
            # block), -p_a p_b <= 0 (an off-diagonal one). So the block is
            # sign * R^T R with R = sqrt(|s|) B, which numpy's matmul takes as
            # a symmetric rank-k update (half the multiply-adds). Measured on
            # 455 x 30 rows: 32 -> 22 us.
            sign = -1.0 if s.max(initial=0.0) <= 0.0 else 1.0
            root = np.sqrt(sign * s)
            R = B * root[:, None]
            out[:d, :d] = R.T @ R
            column = root @ R
            if sign < 0.0:
                out[:d, :d] *= -1.0
                column *= -1.0
        if self.fit_intercept:
            out[d, :d] = out[:d, d] = column
            out[d, d] = s.sum()
        return out


@functools.cache
def _output_pairs(k):
    """``(a, b, a == b)`` over the pairs ``a <= b`` of ``k`` outputs, kept.

    (``np.triu_indices`` takes about 10 us, and a small fit asks for them
    at each Newton step.)
    """
    a, b = np.triu_indices(k)
    return a, b, a == b


def cg_step(curvature, grad, max_iter=200, rtol=None, start=None):
    """``(-H^{-1} g, iterations)`` by conjugate gradients on ``H v`` products.

    Preconditioned by the Hessian's diagonal about the columns' weighted
    means (``Curvature.preconditioner``: it undoes the columns' scales and
    the intercept's coupling to their means), and stopped at a residual of
    ``min(0.5, sqrt(|g|_1)) |g|_1`` (scikit-learn's ``newton-cg`` rule: an
    inexact step near the start, an exact one near the optimum), or of
    ``rtol |g|_1`` when given. ``start``:
    a first guess of the answer (zero by default); the stopping rule, and
    so the answer's accuracy, is the same from any start.
    """
    precondition = curvature.preconditioner()
    g_norm = float(np.abs(grad).sum())
    target = (min(0.5, np.sqrt(g_norm)) if rtol is None else rtol) * g_norm
    x = np.zeros_like(grad)
    r = -grad
    if start is not None:
        x += start
        r = r - curvature.matvec(x)
        if float(np.abs(r).sum()) <= target:
            return x, 1
    z = precondition(r)
    direction = z.copy()
    rz = float(np.vdot(r, z))
    it = 0
    for it in range(1, max_iter + 1):
        Hp = curvature.matvec(direction)
        curvature_along = float(np.vdot(direction, Hp))
        if not curvature_along > 0.0:
            if it == 1:
                x = z
            break
        a = rz / curvature_along
        x += a * direction
        r -= a * Hp
        if float(np.abs(r).sum()) <= target:
            break
        z = precondition(r)
        rz_new = float(np.vdot(r, z))
        direction *= rz_new / rz
        direction += z
        rz = rz_new
    return x, it


def newton_decrease(problem, params, grad, start=None):
    """``(s^T H^-1 s / 2, -H^-1 s)``: what a Newton step from ``params`` would gain.

    ``s`` is the minimum-norm subgradient (the gradient without an L1 part)
    and ``H`` the Hessian of the objective's smooth part on a strided sample
    of at most ``SAMPLE_ROWS`` rows (all of them on smaller data), solved by
    :func:`cg_step`. Half the squared Newton decrement: near the optimum,
    an estimate of the gap above it that a small gradient does not give
    where the objective is flat. ``(None, None)`` for data not in memory.
    ``start``: a guess of the step (without an L1 part), as CG's start.
    """
    X = problem.X
    if not (isinstance(X, np.ndarray) or sparse.issparse(X)):
        return None, None
    n, d = problem.n_samples, problem.n_features
    step = _sample_stride(n)
    rows = slice(None, None, step)
    sw = problem.sample_weight
    sample = type(problem)(
        X[rows], problem.target[rows], None if sw is None else sw[rows],
        problem.loss, problem.penalty, problem.fit_intercept,
    )  # fmt: skip
    if sample.weight_sum <= 0:
        return None, None
    raw = raw_prediction(sample.X, params, d)
    # the minimum-norm subgradient (the intercepts' rows: their gradient)
    s = grad.astype(np.float64)
    s[:d] = problem.penalty.subgradient(params[:d], s[:d])
    curvature = Curvature(sample, raw)
    if problem.penalty.has_prox:
        curvature, s = _active_part(curvature, params, s, problem.penalty, d)
    # (the softmax's free directions, where H is singular, are orthogonal to
    # s: whatever CG leaves there does not change s^T direction)
    # An estimate to a few percent is all the certificate needs: a residual
    # of 1e-1 leaves an error of about its square. Measured on digits at
    # C=100 (1,797 rows, 650 parameters): 14 to 40 products where the
    # Newton step's forcing rule took up to 200.
    if problem.penalty.has_prox:
        start = None
        direction = None
    else:
        direction = _direct_step(curvature, s)
    if direction is None:
        direction, _ = cg_step(
            curvature, s, max_iter=100, rtol=_ESTIMATE_RTOL, start=start
        )
    return max(-0.5 * float(np.vdot(s, direction)), 0.0), direction


def _sample_stride(n_samples):
    """The stride of :func:`newton_decrease`'s sample: about ``SAMPLE_ROWS`` rows."""
    return max(1, n_samples // SAMPLE_ROWS)


def solves_directly(n_outputs, n_params, n_samples):
    """Whether :func:`newton_decrease` solves with a Cholesky factor, not CG.

    At most ``DIRECT_MAX`` parameters times outputs; for three or more
    classes, also a Hessian built in one product on the estimate's sample of
    rows (at most ``_PAIRS_AT_ONCE_MAX`` multiply-adds, see
    :meth:`Curvature.matrix`).
    """
    if n_params * n_outputs > DIRECT_MAX:
        return False
    if n_outputs == 1:
        return True
    rows = -(-n_samples // _sample_stride(n_samples))  # the sample's rows
    pairs = n_outputs * (n_outputs + 1) // 2
    return rows * n_params**2 * pairs <= _PAIRS_AT_ONCE_MAX


def _direct_step(curvature, s):
    """``-H^-1 s`` from the Hessian as a matrix, where that is the quicker way.

    Where :func:`solves_directly`; None otherwise (or for a Hessian that is
    not positive definite), for :func:`cg_step`. Along the softmax's free
    sums ``H`` is made curved (:func:`curve_free_sums`): ``s`` has nothing
    there, and neither has the step.
    """
    n_samples = curvature.X.shape[0]
    if not solves_directly(curvature.n_outputs, curvature.n_params, n_samples):
        return None
    H = curvature.matrix()
    k = curvature.n_outputs
    if k > 1:
        free = free_rows(curvature.d, curvature.fit_intercept, curvature.l2, k)
        curve_free_sums(H, free, k)
    try:
        return cholesky_step(H, s.ravel()).reshape(s.shape)
    except linalg.LinAlgError:
        return None


def free_rows(n_features, fit_intercept, l2, n_outputs):
    """The parameter rows whose sum over the classes the softmax ignores.

    The intercept's, and without an L2 part every coefficient's (see
    :func:`curve_free_sums`); none for two classes (one output).
    """
    free = np.zeros(n_features + int(fit_intercept), dtype=bool)
    if n_outputs > 1:
        free[n_features:] = True
        if l2 == 0.0:
            free[:n_features] = True
    return free


def curve_free_sums(H, free_rows, k):
    """Give the Hessian curvature along the softmax's free sums, in place.

    With ``k`` classes the softmax does not change when a constant is added
    to a row of the parameters across the classes (``free_rows``: the
    intercepts', and every coefficient's without an L2 part), and ``H`` is
    zero along those sums. Adding ``scale * u u^T`` there (``u`` the row's
    ones over ``sqrt(k)``, ``scale`` the largest diagonal entry) makes it
    positive definite and leaves the solution of ``H v = g`` unchanged
    elsewhere for a ``g`` with nothing along them, as a gradient has.
    """
    scale = float(np.max(np.diag(H)))
    for row in np.flatnonzero(free_rows):
        block = slice(row * k, (row + 1) * k)
        H[block, block] += scale / k


def cholesky_step(H, g):
    """``-H^-1 g`` by a Cholesky factor of ``H`` (float64).

    LAPACK's ``potrf`` and ``potrs`` called directly: ``scipy.linalg``'s
    ``cho_factor`` and ``cho_solve`` wrap them in a batching layer that took
    9.6 us against 3.6 us on a 30 x 30 system, and a default ``lbfgs`` fit on
    breast_cancer solves six of them.

    Raises
    ------
    numpy.linalg.LinAlgError
        If ``H`` is not positive definite.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_adamlr._hessian import cholesky_step
    >>> cholesky_step(np.array([[4.0, 2.0], [2.0, 3.0]]), np.array([2.0, 2.0]))
    array([-0.25, -0.5 ])
    """
    # (the upper factor, as cho_factor's default: the same arithmetic)
    factor, info = lapack.dpotrf(np.asarray(H, dtype=np.float64))
    if info != 0:
        raise linalg.LinAlgError("the matrix is not positive definite")
    step, info = lapack.dpotrs(factor, np.asarray(g, dtype=np.float64))
    if info != 0:
        raise linalg.LinAlgError("the Cholesky solve failed")
    return -step


def _active_part(curvature, params, s, penalty, d):
    """The Hessian and subgradient on the coordinates an L1 step would move.

    The L1 part is not smooth at zero: a Newton step there is a proximal
    one, which keeps at zero a coefficient whose subgradient is zero
    (``|grad| <= l1``). Its model decrease is the one on the others: the
    non-zero coefficients, those that would leave zero, and the
    intercepts. Along a row of all-active coefficients without an L2 part
    the softmax has no curvature, and the L1 part is what bounds the step:
    the model's share of ``s`` along it (its mean over the classes) is
    dropped.
    """
    active = s != 0
    active[:d] |= params[:d] != 0
    active[d:] = True
    s = np.where(active, s, 0.0)
    if s.shape[1] > 1:
        free = active.all(axis=1)
        if penalty.l2 > 0:
            free[:d] = False
        s[free] -= s[free].mean(axis=1, keepdims=True)
    return _Restricted(curvature, active), s


class _Restricted:
    """``H`` on the ``active`` coordinates, the identity on the others."""

    def __init__(self, curvature, active):
        self.curvature = curvature
        self.active = active

    def matvec(self, V):
        out = self.curvature.matvec(np.where(self.active, V, 0.0))
        return np.where(self.active, out, V)

    def preconditioner(self):
        return self.curvature.preconditioner(self.active)
