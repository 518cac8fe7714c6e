"""Minibatch Adam (Kingma & Ba, 2015), bias-corrected, with a proximal step."""

from dataclasses import dataclass

import numpy as np

from .. import _kernels
from .._kernels import _numba, rowloss
from ._base import Capabilities, Solver, register_solver
from ._metric import ScaledProx


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
    precond : ndarray of shape (n_params, 1) or None
        The diagonal preconditioner ``P`` (see ``Solver.preconditioned``):
        the moments are those of ``sqrt(P) * grad``, the gradient in
        ``v = w / sqrt(P)``, and each step moves ``w`` by ``sqrt(P)`` times
        the step in ``v``.
    """

    m: np.ndarray
    v: np.ndarray
    t: int = 0
    precond: np.ndarray | None = None


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

    On CSR data the steps are lazy (see :mod:`sklearn_adamlr._sparse`); with
    numba, whole epochs run in :class:`AdamSparseKernel`.

    ``learning_rate='auto'`` is 0.1 in a ``fit`` with ``tol`` (0.01 in
    ``partial_fit`` and with ``tol=None``, which never halve it; see
    :meth:`stream_learning_rate`), a step in the units of the parameters
    (Adam's update has magnitude about :math:`\eta` whatever the scale of
    the gradient). In a ``fit`` with ``tol``, the training loop halves it
    whenever the full objective stops improving, which turns the large
    early steps into a fine approach. Measured on the bundled data sets
    (standardized, C in {0.01, 1}, with and without weights): 0.1 reaches
    the default certificate in all 16 cases within 231 epochs; 0.01 did in
    8 of 12 within 1,000 epochs (the optimum of a weakly regularised problem
    lies far from 0, and the steps are small).

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
    hand_over = True
    preconditioned = True
    hyperparameters = ("beta_1", "beta_2", "epsilon")
    # (sparse_kernel is added below: AdamSparseKernel is defined after Adam)
    capabilities = Capabilities(lazy=True)

    def __init__(self, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def auto_learning_rate(self, smoothness, batch_size):
        """A fixed 0.1: Adam's steps are scale free."""
        return 0.1

    def stream_learning_rate(self, smoothness, batch_size):
        """A fixed 0.01: without the certificate's halving, a smaller step.

        Measured on one pass of ``partial_fit`` over 400,000 x 100 dense rows
        in chunks of 10,000: the relative gap to the optimum is 1.7e-1 at a
        step of 0.1, 1.4e-2 at 0.01, 4.6e-3 at 0.003 (0.01 is also the step
        of earlier versions, so streams keep their numbers).
        """
        return 0.01

    def _corrected_rate(self, learning_rate, t):
        """The step size of update ``t`` with the bias correction folded in."""
        b1, b2 = self.beta_1, self.beta_2
        return learning_rate * np.sqrt(1.0 - b2**t) / (1.0 - b1**t)

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
        lr_t = self._corrected_rate(learning_rate, state.t)
        root = _NO_SCALE
        if state.precond is not None:
            # (dense data in memory only: no rows) Adam in v = w / sqrt(P)
            root = np.sqrt(state.precond)
            grad *= root
            if prox is not None:
                prox = ScaledProx(prox, root)
        if _step is not None and _kernels.enabled():
            ok = _step(
                params, grad, state.m, state.v, *_numba.rows_arg(rows),
                lr_t, b1, b2, self.epsilon, _numba.threshold_arg(prox),
                root.reshape(-1),
            )  # fmt: skip
            if not ok:
                raise FloatingPointError("overflow in the Adam update")
        elif rows is None:
            if state.precond is not None:
                lr_t = lr_t * root
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


def _compiled_step(
    params, grad, m, v, rows, n_rows, lr_t, b1, b2, eps, threshold, scale
):
    """:func:`_update` for ``rows[:n_rows]`` (all rows if ``n_rows < 0``).

    ``scale`` (empty for none) multiplies each row's step: a diagonal
    preconditioner's square root.

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
            if scale.shape[0] > 0:
                step *= scale[r]
            x = params[r, c] - step * mc
            if threshold.shape[0] > 0:
                x = _numba.soft_threshold(x, threshold[r] * step)
            params[r, c] = x
            finite &= np.isfinite(vc) and np.isfinite(mc) and np.isfinite(x)
    return finite


# stamp of a feature with no pending step (see _sparse_epoch)
_NONE = np.iinfo(np.int32).max


def _apply(R, j, k, lr_t, b1, b2, eps, l2, threshold, take):
    """Adam's step of record ``j`` from the gradient in its slot, if ``take``.

    ``l2`` is the strength of the L2 part for this row and ``threshold`` its
    L1 threshold per unit of step (0: none). The arithmetic is
    :func:`_compiled_step`'s; the gradient slot is cleared. With ``take``
    False the record keeps its values: the step is computed all the same and
    dropped by a select, not a branch, since whether a feature read by a
    minibatch has a step pending is as unpredictable as the data, and the
    branch's mispredictions cost a tenth of the epoch. Finiteness is checked
    once per epoch, over all records: a moment or a parameter that is no
    longer finite stays so.
    """
    for c in range(k):
        w = R[j, c]
        m = R[j, k + c]
        v = R[j, 2 * k + c]
        pending = R[j, 3 * k + c]
        g = pending + l2 * w
        mc = b1 * m + (1.0 - b1) * g
        vc = b2 * v + g * g * (1.0 - b2)
        step = lr_t / (np.sqrt(vc) + eps)
        x = w - step * mc
        if threshold != 0.0:
            x = _numba.soft_threshold(x, threshold * step)
        R[j, c] = x if take else w
        R[j, k + c] = mc if take else m
        R[j, 2 * k + c] = vc if take else v
        R[j, 3 * k + c] = 0.0 if take else pending


def _multinomial_row(
    data, indices, lo, hi, d, R, F, L1, S, fc, sc, b, lr_table, b1, b2, eps,
    l2, y, weight, scale, z, total, product, weighted,
):  # fmt: skip
    """:func:`_sparse_epoch`'s work on one row of the softmax loss.

    Apart, so that the binary loop stays small; a call per row is cheap
    next to the row's ``k`` classes.
    """
    k = z.shape[0]
    zero = data.dtype.type(0)
    has_intercept = R.shape[0] > d
    nnz = np.uintp(indices.shape[0])
    for c in range(k):
        z[c] = R[d, c] if has_intercept else zero
    for p in range(lo, hi):
        if p + _numba._AHEAD < nnz:
            ahead = indices[p + _numba._AHEAD]
            for line in range(0, F.shape[1], 8):
                _numba._prefetch(F, ahead, line)
        x = data[p]
        j = np.uintp(indices[p])
        pending = S[j, sc]
        take = pending < b
        rate = lr_table[np.uintp(pending if take else 0)]
        _apply(
            R, j, k, rate, b1, b2, eps, l2 * F[j, fc],
            0.0 if L1 is None else L1[j, fc + 1], take,
        )  # fmt: skip
        for c in range(k):
            z[c] += x * R[j, c]
        S[j, sc] = _NONE if take else pending
    shifted_y, norm = rowloss._softmax_terms(z, y, weight, scale)
    for p in range(lo, hi):
        j = np.uintp(indices[p])
        x = data[p]
        for c in range(k):
            R[j, 3 * k + c] += z[c] * x
        S[j, sc] = b
    if has_intercept:
        for c in range(k):
            R[d, 3 * k + c] += z[c]
    return rowloss._add_loss(total, product, weighted, weight, -shifted_y, norm)


def _sparse_epoch(
    data, indices, indptr, d, starts, stops, order, R, F, L1, S, fc, sc,
    target, sw, mean_weight, lr_table, b1, b2, eps, l2, z,
):  # fmt: skip
    """One epoch of lazy Adam steps on CSR data, each applied when next needed.

    Each parameter row has a record (see :class:`AdamSparseKernel`): in
    ``R``, its parameters, ``m``, ``v`` and the gradient of a pending step
    (``k`` values each; zero when none is pending); in ``F``, the lazy scale
    of its L2 part (column ``fc``) and its L1 threshold per unit of step
    (``fc + 1``, read through ``L1``: ``F``, or None when there is no L1
    part); in ``S``, its stamp (column ``sc``). The gradient of
    minibatch ``b`` is summed into the records of its features, stamped
    ``b``; their step is taken when a later minibatch first reads them, or
    at the end of the epoch, with the step size ``lr_table[b]`` of step
    ``b``. A lazy step of a row needs only its own record, so the result is
    the one of stepping at the end of each minibatch, but the record is read
    and written once per minibatch, while it is in cache for the dot
    products. The intercept row is stepped at the end of each minibatch.

    Minibatch ``b`` is the rows ``order[starts[b]:stops[b]]``, or with an
    empty ``order`` the rows ``r mod n`` for ``r`` in ``starts[b]:stops[b]``.
    Returns ``(loss sum, finite)``: finite is False if a parameter or a
    moment is no longer finite.
    """
    n = indptr.shape[0] - 1
    nnz = np.uintp(indices.shape[0])
    k = z.shape[0]
    one = data.dtype.type(1)
    zero = one - one
    has_intercept = R.shape[0] > d
    weighted = sw.shape[0] > 0
    gathered = order.shape[0] > 0
    total = 0.0
    product = 1.0
    for b in range(starts.shape[0]):
        start, stop = starts[b], stops[b]
        scale = data.dtype.type(1.0 / ((stop - start) * mean_weight))
        if has_intercept:
            for c in range(k):
                R[d, 3 * k + c] = zero
        for r in range(start, stop):
            i = order[r] if gathered else (r if r < n else r - n)
            lo, hi = _numba._row_span(indptr, i)
            weight = sw[i] if weighted else one
            if BINARY:
                raw = R[d, 0] if has_intercept else zero
                for p in range(lo, hi):
                    # the record of a feature read soon: its stamp decides
                    # on a step, which needs its values before the dot can
                    # go on (within a contiguous run of rows, the next
                    # non-zeros are the next rows')
                    if p + _numba._AHEAD < nnz:
                        _numba._prefetch(F, indices[p + _numba._AHEAD], 0)
                    # unsigned, like the positions (see _numba._row_span)
                    j = np.uintp(indices[p])
                    # the pending step of the feature, before reading it
                    pending = S[j, sc]
                    take = pending < b
                    rate = lr_table[np.uintp(pending if take else 0)]
                    _apply(
                        R, j, 1, rate, b1, b2, eps, l2 * F[j, fc],
                        0.0 if L1 is None else L1[j, fc + 1], take,
                    )  # fmt: skip
                    # (before the stamp's store, which LLVM cannot tell apart
                    # from the coefficient's: the value is then not reloaded)
                    raw += data[p] * R[j, 0]
                    # not pending now, even if the column comes again in this
                    # row (a CSR matrix with duplicates)
                    S[j, sc] = _NONE if take else pending
                linear, factor, gi = rowloss._binary_terms(
                    raw, target[i], weight, scale, one
                )
                total, product = rowloss._add_loss(
                    total, product, weighted, weight, linear, factor
                )
                for p in range(lo, hi):
                    j = np.uintp(indices[p])
                    R[j, 3] += gi * data[p]
                    S[j, sc] = b
                if has_intercept:
                    R[d, 3] += gi
            else:
                total, product = _multinomial_row(
                    data, indices, lo, hi, d, R, F, L1, S, fc, sc, b, lr_table,
                    b1, b2, eps, l2, int(target[i]), weight, scale, z, total,
                    product, weighted,
                )  # fmt: skip
        if has_intercept:
            _apply(R, d, k, lr_table[b], b1, b2, eps, 0.0, 0.0, True)
    nan = zero  # stays 0 while every value is finite (inf - inf is nan)
    for j in range(R.shape[0]):
        pending = S[j, sc] if j < d else _NONE
        if pending != _NONE:
            _apply(
                R, j, k, lr_table[pending], b1, b2, eps, l2 * F[j, fc],
                0.0 if L1 is None else L1[j, fc + 1], True,
            )  # fmt: skip
            S[j, sc] = _NONE
        for t in range(3 * k):
            nan += R[j, t] - R[j, t]
    return total + np.log(product), nan == zero


_step = _numba.jit(_compiled_step)
_NO_SCALE = np.empty((0, 1))
# numba's cache of these is keyed on this file only: after editing the helpers
# they call in _kernels/_numba.py or _kernels/rowloss.py, clear __pycache__
# (or touch this file).
# The check for a pending step is written out where it is needed (two rows
# loops and the end of the epoch): a helper inlined in the same way, calling
# _apply, left _apply a real call, and the epoch took 0.6 s instead of 0.165 s.
# One output or several: fixed per compiled variant of _sparse_epoch (see
# _numba.specialise), so that a binary fit compiles no softmax.
BINARY = None

if _numba.AVAILABLE:
    _apply = _numba.jit(_apply, inline=True)
    _multinomial_row = _numba.jit(_multinomial_row)


class AdamSparseKernel:
    """Epochs of lazy Adam steps on CSR data, in one compiled call each.

    The lazy step of a minibatch (see :mod:`sklearn_adamlr._sparse`) moves
    the rows of the features it touches, each with its own gradient and
    moments only. So the step of a row can wait until the row is next read:
    :func:`_sparse_epoch` takes it then, while the row's parameters, moments
    and gradient, stored side by side, are in cache for the dot products.
    There is then no list of the rows a minibatch touches to build, and no
    separate sweep over the moments; the numbers are those of
    :meth:`Adam.update` with ``rows``, and one epoch is one compiled call.

    Everything a step reads is in one record per parameter row, aligned to
    and padded to whole 64-byte cache lines: the parameters, ``m``, ``v``
    and the pending gradient (in X's dtype), the lazy scale of the L2 part
    and the L1 threshold (float64), and the stamp (int32). A feature read by
    a minibatch then costs one cache line for the binary loss (a few for
    the softmax's ``k`` classes), asked for a few non-zeros ahead; with the
    scale and the stamp in arrays of their own, each feature cost two more
    cache misses.

    Parameters
    ----------
    solver : Adam
    X : CSR matrix of shape (n_samples, n_features)
    target : ndarray of shape (n_samples,)
    sample_weight : ndarray of shape (n_samples,) or None
    params : ndarray of shape (n_features + fit_intercept, n_outputs)
    row_scale : ndarray of shape (n_features,)
        The lazy scale of the penalty of each feature.
    threshold : ndarray of shape (n_features + fit_intercept,) or None
        The L1 threshold of each row per unit of step (None: no L1 part).

    Examples
    --------
    One epoch of two minibatches on three samples:

    >>> import numpy as np
    >>> from scipy import sparse
    >>> from sklearn_adamlr import get_solver
    >>> from sklearn_adamlr.solvers._adam import AdamSparseKernel
    >>> X = sparse.csr_matrix(np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]))
    >>> adam = get_solver("adam")
    >>> params = np.zeros((3, 1))
    >>> state = adam.init_state(params)
    >>> kernel = AdamSparseKernel(
    ...     adam, X, np.array([1.0, 0.0, 1.0]), None, params, np.ones(2), None)
    >>> kernel.load(params, state)
    >>> loss, finite = kernel.epoch(
    ...     state, np.array([0, 2]), np.array([2, 3]), None, np.full(2, 0.1), 1.0, 0.0)
    >>> kernel.store(params, state)
    >>> state.t, round(loss, 6), np.round(params.ravel(), 4).tolist()
    (2, 2.079442, [0.1965, -0.0947, 0.0744])
    """

    def __init__(self, solver, X, target, sample_weight, params, row_scale, threshold):
        self.solver = solver
        self.X, self.target = X, target
        dtype = params.dtype
        self.sw = _numba._EMPTY[dtype.type] if sample_weight is None else sample_weight
        n_params, k = params.shape
        self.k = k
        # a multiple of 16 bytes, so the float64 scale and threshold that
        # follow are aligned; then the int32 stamp
        values = 4 * k * dtype.itemsize
        size = -(-(values + 2 * 8 + 4) // 64) * 64
        buffer = np.zeros(n_params * size + 64, dtype=np.uint8)
        first = -buffer.ctypes.data % 64
        records = buffer[first : first + n_params * size].reshape(n_params, size)
        self.R = records.view(dtype)
        self.F = records.view(np.float64)
        self.S = records.view(np.int32)
        self.fc, self.sc = values // 8, (values + 2 * 8) // 4
        self.F[: X.shape[1], self.fc] = row_scale
        # None rather than zero thresholds: numba then compiles the epoch
        # without the soft-thresholding, whose branch in the step cost a
        # fifth of its time
        self._L1 = None if threshold is None else self.F
        if threshold is not None:
            self.F[:, self.fc + 1] = threshold
        self.S[:, self.sc] = _NONE
        self._z = np.empty(k, dtype=dtype)
        self._epoch = _numba.specialise(_sparse_epoch, BINARY=k == 1)

    def load(self, params, state):
        """Take ``params`` and the moments of ``state`` into the records."""
        k = self.k
        self.R[:, :k] = params
        self.R[:, k : 2 * k] = state.m
        self.R[:, 2 * k : 3 * k] = state.v

    def epoch(self, state, starts, stops, order, rates, mean_weight, l2):
        """One epoch of minibatches; ``state.t`` advances by their number.

        Minibatch ``b`` is the rows ``order[starts[b]:stops[b]]`` (``order``
        None: the rows ``r mod n_samples`` for ``r`` in
        ``starts[b]:stops[b]``), taken at the step size ``rates[b]`` (before
        the bias correction). The gradient of its data term is scaled by
        ``1 / ((stops[b] - starts[b]) * mean_weight)``; ``l2`` is the
        strength of the L2 part. Returns ``(loss sum, finite)``.
        """
        if len(starts) >= _NONE:  # the stamps are int32
            raise ValueError(
                f"{len(starts)} minibatches per epoch is more than the compiled "
                "Adam epoch handles; use a larger batch_size."
            )
        solver = self.solver
        t = state.t
        lr_table = np.array(
            [solver._corrected_rate(rate, t + b) for b, rate in enumerate(rates, 1)]
        )
        X = self.X
        value, finite = self._epoch(
            X.data, X.indices, X.indptr, X.shape[1], starts, stops,
            _numba._EMPTY_ROWS if order is None else order, self.R, self.F,
            self._L1, self.S, self.fc, self.sc, self.target, self.sw, mean_weight,
            lr_table, solver.beta_1, solver.beta_2, solver.epsilon, l2, self._z,
        )  # fmt: skip
        state.t = t + len(starts)
        return value, finite

    def store(self, params, state):
        """Write the parameters and moments back, in place."""
        k = self.k
        params[:] = self.R[:, :k]
        state.m[:] = self.R[:, k : 2 * k]
        state.v[:] = self.R[:, 2 * k : 3 * k]


Adam.capabilities = Capabilities(lazy=True, sparse_kernel=AdamSparseKernel)
