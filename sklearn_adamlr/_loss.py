"""Log-loss of a linear model: binary (sigmoid) and multinomial (softmax).

The parameters of a linear model are packed in one array ``params`` of shape
``(n_features + fit_intercept, n_outputs)``: ``params[:n_features]`` is
``coef_.T`` and, with an intercept, the last row is ``intercept_``. This
feature-major layout makes ``X @ params[:n_features]`` the raw prediction of a
minibatch without a transpose, and lets a penalty act on a contiguous view.
"""

import numpy as np
from scipy import sparse
from scipy.special import expit


class BinaryLogLoss:
    """Half binomial log-loss with a sigmoid link, for two classes.

    For raw prediction ``z`` and target ``y`` in {0, 1} the pointwise loss is
    ``log(1 + exp(z)) - y * z``, computed with :func:`numpy.logaddexp` so that
    it stays finite for ``|z|`` up to the largest float, and its derivative
    with respect to ``z`` is ``sigmoid(z) - y``.

    Attributes
    ----------
    curvature : float
        Upper bound of the second derivative of the loss with respect to the
        raw prediction, used to bound the Lipschitz constant of the gradient.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_adamlr._loss import BinaryLogLoss
    >>> raw = np.array([[0.0], [1e300]])
    >>> grad = np.empty_like(raw)
    >>> loss = BinaryLogLoss()
    >>> float(loss.loss_gradient(raw, np.array([1.0, 1.0]), None, grad))
    0.6931...
    >>> grad.ravel()
    array([-0.5,  0. ])
    """

    curvature = 0.25

    @staticmethod
    def n_outputs(n_classes):
        """Number of raw-prediction columns for ``n_classes`` classes."""
        return 1

    @staticmethod
    def encode(class_index, dtype):
        """Target array from class indices in ``{0, 1}``."""
        return class_index.astype(dtype, copy=False)

    @staticmethod
    def loss_gradient(raw, target, sample_weight, grad_out):
        """Weighted sum of the loss, and its gradient with respect to ``raw``.

        Parameters
        ----------
        raw : ndarray of shape (n_samples, 1)
            Raw prediction ``X @ coef.T + intercept``.
        target : ndarray of shape (n_samples,)
            Targets in {0, 1}, in the dtype of ``raw``.
        sample_weight : ndarray of shape (n_samples,) or None
            Weights; ``None`` means unit weights.
        grad_out : ndarray of shape (n_samples, 1)
            Receives ``sample_weight * (sigmoid(raw) - target)``.

        Returns
        -------
        loss : float
            ``sum(sample_weight * loss)``, accumulated in float64 so that a
            float32 batch of large losses does not overflow.
        """
        z = raw[:, 0]
        g = grad_out[:, 0]
        # exp(-|z|) underflowing to 0 is the exact answer for huge |z|.
        with np.errstate(under="ignore"):
            pointwise = np.logaddexp(0, z)
            # y * z without the NaN that 0 * inf would give for z = +-inf.
            pointwise -= np.where(target > 0, z, 0)
            expit(z, out=g)
        g -= target
        if sample_weight is not None:
            g *= sample_weight
            return float(
                np.dot(pointwise.astype(np.float64, copy=False), sample_weight)
            )
        return float(pointwise.sum(dtype=np.float64))

    @staticmethod
    def predict_proba(raw):
        """Class probabilities, shape (n_samples, 2), from raw predictions."""
        with np.errstate(under="ignore"):
            p = expit(raw.reshape(-1))
        return np.column_stack([1 - p, p])

    @staticmethod
    def predict_log_proba(raw):
        """Log of the class probabilities, computed without ``log(sigmoid)``."""
        z = raw.reshape(-1)
        with np.errstate(under="ignore"):
            return np.column_stack([-np.logaddexp(0, z), -np.logaddexp(0, -z)])


class MultinomialLogLoss:
    """Multinomial log-loss with a softmax link, for three or more classes.

    For raw predictions ``z`` of shape (n_classes,) and class ``k`` the
    pointwise loss is ``logsumexp(z) - z[k]``; the log-sum-exp subtracts the
    row maximum first, so it never overflows. The gradient with respect to
    ``z`` is ``softmax(z) - onehot(k)``.

    Attributes
    ----------
    curvature : float
        Böhning's bound on the Hessian of the softmax cross-entropy,
        ``(I - 11^T / K) / 2 <= I / 2``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_adamlr._loss import MultinomialLogLoss
    >>> raw = np.zeros((1, 3))
    >>> grad = np.empty_like(raw)
    >>> loss = MultinomialLogLoss.loss_gradient(raw, np.array([2]), None, grad)
    >>> round(loss, 6), grad.round(3).tolist()
    (1.098612, [[0.333, 0.333, -0.667]])
    """

    curvature = 0.5

    @staticmethod
    def n_outputs(n_classes):
        """Number of raw-prediction columns for ``n_classes`` classes."""
        return n_classes

    @staticmethod
    def encode(class_index, dtype):
        """Target array: the class indices themselves."""
        return class_index.astype(np.intp, copy=False)

    @staticmethod
    def loss_gradient(raw, target, sample_weight, grad_out):
        """Weighted sum of the loss, and its gradient with respect to ``raw``.

        Parameters
        ----------
        raw : ndarray of shape (n_samples, n_classes)
            Raw predictions.
        target : ndarray of shape (n_samples,)
            Class indices.
        sample_weight : ndarray of shape (n_samples,) or None
            Weights; ``None`` means unit weights.
        grad_out : ndarray of shape (n_samples, n_classes)
            Receives ``sample_weight * (softmax(raw) - onehot(target))``.

        Returns
        -------
        loss : float
            ``sum(sample_weight * loss)`` in float64.
        """
        row_max = row_maxima(raw)
        np.subtract(raw, row_max[:, None], out=grad_out)
        with np.errstate(under="ignore"):
            np.exp(grad_out, out=grad_out)
        total = row_sums(grad_out)
        grad_out /= total[:, None]
        # logsumexp(z) - z[k] = log(sum exp(z - max)) - (z[k] - max)
        own = _own_class(raw, target)
        pointwise = np.log(total) - (raw.reshape(-1).take(own) - row_max)
        if grad_out.flags.c_contiguous:
            grad_out.reshape(-1)[own] -= 1
        else:
            grad_out[np.arange(len(target)), target] -= 1
        if sample_weight is not None:
            grad_out *= sample_weight[:, None]
            return float(
                np.dot(pointwise.astype(np.float64, copy=False), sample_weight)
            )
        return float(pointwise.sum(dtype=np.float64))

    @staticmethod
    def predict_proba(raw):
        """Class probabilities from raw predictions (a stable softmax)."""
        return softmax_rows(raw)

    @staticmethod
    def predict_log_proba(raw):
        """Log of the class probabilities by log-sum-exp."""
        shifted = raw - row_maxima(raw)[:, None]
        with np.errstate(under="ignore"):
            return shifted - np.log(row_sums(np.exp(shifted)))[:, None]


# Up to this many classes, and at least _COLUMNWISE_ROWS rows per class, a
# row's maximum is taken column by column: numpy's reduction along a short
# last axis pays a call per row, the loop a call per column. Measured (one
# thread, 20,000 rows): 3 classes 25 us against 545, 10 137 against 579, 30
# 418 against 956; 100 2,003 against 1,292. A minibatch of 200 rows: 10
# classes 5.0 us against 6.4, 30 14.8 against 8.6; 256 rows of 20 10.4
# against 9.4.
_COLUMNWISE_MAX = 32
_COLUMNWISE_ROWS = 16


def row_maxima(raw):
    """Each row's maximum, shape ``(n_samples,)``."""
    n, k = raw.shape
    if k > _COLUMNWISE_MAX or n < _COLUMNWISE_ROWS * k:
        return raw.max(axis=1)
    out = raw[:, 0].copy()
    for j in range(1, k):
        np.maximum(out, raw[:, j], out=out)
    return out


def row_sums(A):
    """Each row's sum, shape ``(n_samples,)``: a product with ones.

    numpy's ``sum(axis=1)`` pays a call per row of a few columns: on 20,000
    x 3, 214 us against 11 (one thread); on 1,437 x 10, 20 against 3.
    """
    return A @ np.ones(A.shape[1], dtype=A.dtype)


def column_sums(A):
    """Each column's sum, shape ``(n_columns,)``: a product with ones.

    numpy's ``sum(axis=0)`` over a few columns: on 20,000 x 3, 205 us against
    8 (one thread); on 1,437 x 10, 19 against 3. (Neither is a pairwise sum
    down the rows: numpy adds the rows in turn.)
    """
    return np.ones(A.shape[0], dtype=A.dtype) @ A


def softmax_rows(raw):
    """The softmax of each row, stable (the row's maximum subtracted first)."""
    with np.errstate(under="ignore"):
        p = np.exp(raw - row_maxima(raw)[:, None])
    p /= row_sums(p)[:, None]
    return p


def _own_class(raw, target):
    """The flat indices of each row's own class in ``raw``."""
    return np.arange(0, raw.size, raw.shape[1]) + target


def loss_for(n_classes):
    """The loss for ``n_classes`` classes: sigmoid for 2, softmax for more."""
    return BinaryLogLoss() if n_classes == 2 else MultinomialLogLoss()


def raw_prediction(X, params, n_features, out=None):
    """``X @ params[:n_features] (+ params[n_features])`` for dense or sparse X.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Input rows.
    params : ndarray of shape (n_features + fit_intercept, n_outputs)
        Packed coefficients, intercept last.
    n_features : int
        Number of features; ``params`` has one more row with an intercept.
    out : ndarray of shape (n_samples, n_outputs), default=None
        Buffer to write into.

    Returns
    -------
    raw : ndarray of shape (n_samples, n_outputs)
    """
    coef = params[:n_features]
    if sparse.issparse(X):
        if out is None:
            out = np.asarray(X @ coef)
        else:
            out[...] = X @ coef
    else:
        out = np.dot(X, coef, out=out)
    if params.shape[0] > n_features:
        out += params[n_features]
    return out


def gradient_from_raw(X, grad_raw, n_features, scale, out):
    """Write ``scale * [X, 1]^T @ grad_raw`` into ``out``.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
    grad_raw : ndarray of shape (n_samples, n_outputs)
        Gradient of the summed loss with respect to the raw prediction.
    n_features : int
    scale : float
        ``1 / (sum of weights)`` normalisation of the data term.
    out : ndarray of shape (n_features + fit_intercept, n_outputs)
    """
    if sparse.issparse(X):
        out[:n_features] = X.T @ grad_raw
    else:
        np.dot(X.T, grad_raw, out=out[:n_features])
    if out.shape[0] > n_features:
        if grad_raw.shape[1] == 1:
            # one column: numpy's pairwise sum, which a float32 sum of many
            # rows needs (a product with ones adds them in float32 lanes)
            grad_raw.sum(axis=0, out=out[n_features])
        else:
            out[n_features] = column_sums(grad_raw)
    out *= scale
    return out


def objective(params, X, target, sample_weight, loss, penalty):
    """Value of the scaled objective at ``params`` over the whole data set.

    The objective is ``sum(sw * loss) / sum(sw) + penalty(coef)``, which is
    scikit-learn's ``C * sum(sw * loss) + penalty`` divided by ``C * sum(sw)``:
    the same minimiser, on a scale that does not grow with the data.

    Parameters
    ----------
    params : ndarray of shape (n_features + fit_intercept, n_outputs)
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
    target : ndarray of shape (n_samples,)
    sample_weight : ndarray of shape (n_samples,) or None
    loss : BinaryLogLoss or MultinomialLogLoss
    penalty : ElasticNet

    Returns
    -------
    value : float
    gradient : ndarray of the shape of ``params``
        Gradient of the smooth part (data term and L2 penalty).
    """
    n_features = X.shape[1]
    raw = raw_prediction(X, params, n_features)
    grad_raw = np.empty_like(raw)
    sw_sum = X.shape[0] if sample_weight is None else float(np.sum(sample_weight))
    value = loss.loss_gradient(raw, target, sample_weight, grad_raw) / sw_sum
    grad = np.empty_like(params)
    gradient_from_raw(X, grad_raw, n_features, 1.0 / sw_sum, grad)
    penalty.add_gradient(params[:n_features], grad[:n_features])
    return value + penalty.value(params[:n_features]), grad


def lipschitz_constant(
    X, sample_weight, fit_intercept, curvature, block=4096, column_scale=None
):
    """Lipschitz constant of the gradient of the normalised data term.

    It is ``curvature * lambda_max([X, 1]^T S [X, 1]) / sum(S)`` with ``S`` the
    sample weights. For up to 2,000 columns it is exact, from the Gram matrix
    built in row blocks (no copy of ``X``); otherwise it is estimated by Lanczos
    iterations and enlarged by 2 % to stay an upper bound.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,) or None
    fit_intercept : bool
    curvature : float
        Bound on the loss's second derivative (0.25 binary, 0.5 softmax).
    block : int, default=4096
        Rows per block when building the Gram matrix.
    column_scale : ndarray of shape (n_features,) or None, default=None
        Factors on the columns of ``X`` (a diagonal preconditioner's square
        root, see :mod:`sklearn_adamlr._precondition`); the intercept's
        column keeps 1.

    Returns
    -------
    L : float

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_adamlr._loss import lipschitz_constant
    >>> X = np.array([[1.0, 0.0], [0.0, 2.0]])
    >>> float(lipschitz_constant(X, None, False, 0.25))
    0.5
    """
    n_samples, n_features = X.shape
    sw = np.ones(n_samples) if sample_weight is None else np.asarray(sample_weight)
    sw_sum = float(sw.sum())
    n_cols = n_features + int(fit_intercept)
    if not sparse.issparse(X) and n_cols <= 2000:
        gram = np.zeros((n_cols, n_cols))
        root = None if sample_weight is None else np.sqrt(sw)
        for start in range(0, n_samples, block):
            Xb = np.asarray(X[start : start + block], dtype=np.float64)
            swb = sw[start : start + block]
            # Y^T Y of one array is BLAS's syrk, half the products of a
            # general X^T (S X): 400,000 x 100 in 0.092 s against 0.160 s
            Yb = Xb if root is None else Xb * root[start : start + block, None]
            gram[:n_features, :n_features] += Yb.T @ Yb
            if fit_intercept:
                col = swb @ Xb
                gram[:n_features, n_features] += col
                gram[n_features, :n_features] += col
        if fit_intercept:
            gram[n_features, n_features] = sw_sum
        if column_scale is not None:
            factors = np.append(column_scale, np.ones(int(fit_intercept)))
            gram *= np.outer(factors, factors)
        top = np.linalg.eigvalsh(gram)[-1]
    else:
        from scipy.sparse.linalg import LinearOperator, eigsh

        def matvec(v):
            v = np.ravel(v)
            if column_scale is not None:
                v = np.concatenate([v[:n_features] * column_scale, v[n_features:]])
            z = X @ v[:n_features]
            if fit_intercept:
                z = z + v[n_features]
            z = z * sw
            out = np.empty(n_cols)
            out[:n_features] = X.T @ z
            if column_scale is not None:
                out[:n_features] *= column_scale
            if fit_intercept:
                out[n_features] = z.sum()
            return out

        op = LinearOperator((n_cols, n_cols), matvec=matvec, dtype=np.float64)
        v0 = np.ones(n_cols)
        top = (
            1.02
            * eigsh(op, k=1, which="LA", tol=1e-3, v0=v0, return_eigenvectors=False)[0]
        )
    return curvature * float(top) / sw_sum


def model_arrays(X, y, coef, intercept, sample_weight, classes):
    """A model's arrays as the objective's evaluations take them.

    Returns ``(X, loss, target, coef, intercept, sample_weight)``: dense
    ``X`` as float64 (CSR as it is), the loss of ``coef``'s number of rows,
    ``y`` encoded by its position in ``classes`` (``np.unique(y)`` when
    None), ``coef`` 2-D and ``intercept`` 1-D in float64, and the weights in
    float64 or None.
    """
    y = np.asarray(y)
    coef = np.atleast_2d(np.asarray(coef, dtype=np.float64))
    n_classes = 2 if coef.shape[0] == 1 else coef.shape[0]
    if classes is None:
        classes = np.unique(y)
        if len(classes) != n_classes:
            # (the labels would be re-encoded over those present: y in {0, 2}
            # against three rows scored class 2 as class 1, silently)
            raise ValueError(
                f"y has {len(classes)} distinct label"
                f"{'' if len(classes) == 1 else 's'} but coef is for "
                f"{n_classes} classes: pass classes=, the model's classes_."
            )
    else:
        classes = np.asarray(classes)
        if np.any(classes[1:] <= classes[:-1]):
            # (the labels are encoded by their positions in it, searchsorted)
            raise ValueError(
                f"classes must be sorted and unique, as a fitted model's "
                f"classes_; got {classes.tolist()}."
            )
        unknown = np.setdiff1d(np.unique(y), classes)
        if len(classes) != n_classes or len(unknown):
            raise ValueError(
                f"classes has {len(classes)} labels and coef is for {n_classes} "
                f"classes; y must take its labels from classes (not in it: "
                f"{unknown.tolist()})."
            )
    intercept = np.asarray(intercept, dtype=np.float64).reshape(-1)
    if not sparse.issparse(X):
        X = np.asarray(X, dtype=np.float64)
    loss = BinaryLogLoss() if coef.shape[0] == 1 else MultinomialLogLoss()
    target = loss.encode(np.searchsorted(classes, y), np.float64)
    sw = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    return X, loss, target, coef, intercept, sw


def logistic_objective(
    X, y, coef, intercept, *, C=1.0, l1_ratio=0.0, sample_weight=None, classes=None
):
    """scikit-learn's ``LogisticRegression`` objective at given coefficients.

    ``C * sum_i sw_i * loss_i + (1 - l1_ratio) / 2 * ||w||^2 + l1_ratio * ||w||_1``
    (the penalty term is dropped for ``C=np.inf``), with a sigmoid when
    ``coef`` has one row and a softmax otherwise. It evaluates any fitted
    linear model on the same scale, e.g. ``AdamLogisticRegression`` and
    ``LogisticRegression``.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Labels, all in ``classes``.
    coef : array-like of shape (1, n_features) or (n_classes, n_features)
    intercept : array-like of shape (1,) or (n_classes,)
    C : float, default=1.0
    l1_ratio : float, default=0.0
    sample_weight : array-like of shape (n_samples,), default=None
        Include class weights here, if any.
    classes : array-like of shape (n_classes,), default=None
        Sorted labels, one per class of ``coef`` (two for one row); by
        default ``np.unique(y)``, which must then hold every class. A
        ValueError says when the labels and ``coef`` disagree.

    Returns
    -------
    objective : float

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_adamlr import logistic_objective
    >>> X = np.array([[1.0], [-1.0]])
    >>> y = np.array([0, 1])
    >>> round(logistic_objective(X, y, np.zeros((1, 1)), np.zeros(1)), 6)
    1.386294
    """
    from ._penalties import ElasticNet

    X, loss, target, coef, intercept, sw = model_arrays(
        X, y, coef, intercept, sample_weight, classes
    )
    n_features = coef.shape[1]
    params = np.vstack([coef.T, intercept[None, :]])
    raw = raw_prediction(X, params, n_features)
    data = loss.loss_gradient(raw, target, sw, np.empty_like(raw))
    if np.isinf(C):
        return float(data)
    penalty = ElasticNet(alpha=1.0, l1_ratio=l1_ratio)
    return float(C * data + penalty.value(coef))
