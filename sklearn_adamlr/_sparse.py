"""Lazy updates on sparse data: how often a minibatch touches each feature.

On CSR data with many features, a minibatch has non-zeros in only a few of
them. A solver that declares ``Capabilities(lazy=True)`` (``adam``,
``minibatch``) then updates only the coefficients of the features that the
minibatch touches (and the intercept), so a step costs O(non-zeros of the
batch), not O(n_features). A solver whose step is also linear
(``Capabilities(linear=True)``: ``minibatch``) is lazy only when the penalty
has an L1 part; with L2 alone it takes the dense method's steps, at the same
cost, in scaled coordinates (:class:`~sklearn_adamlr._kernels.LinearKernel`),
and none of what follows applies to it. A lazy solver may run its epochs
compiled (``Capabilities.sparse_kernel``: ``adam``'s defers each step of a
feature until the feature is next read), with the same steps.

Left alone, this would weaken the penalty: a feature present in a fraction
``p_j`` of the minibatches would feel the L2 (and L1) part only ``p_j`` of the
time. So the penalty of feature ``j`` is scaled by ``1 / p_j`` when it is
applied, and the expected update of every coefficient over an epoch is the
one of the dense method: the gradient of the data term is zero on the
minibatches that do not touch ``j``, and the penalty's share arrives, on
average, in full. The fixed points are therefore the minimisers of the same
objective. What differs from the dense method is the path: momentum and
Adam's moments of feature ``j`` move only when ``j`` is touched (as in
"lazy Adam"), and a feature that never occurs in the data passed is not
updated at all (the dense method would shrink its coefficient towards 0).

``p_j`` is the expected share of an epoch's minibatches that contain feature
``j``, for the way the epoch visits the data (``shuffle``):

- ``False``: the fixed consecutive minibatches; ``p_j`` is exact.
- ``'blocks'``: consecutive minibatches whose boundaries are shifted by a
  random offset: two consecutive occurrences of ``j``, ``g`` rows apart, fall into
  different minibatches with probability ``min(1, g / batch_size)``.
- ``'samples'``: random minibatches of ``batch_size`` rows without
  replacement: ``1 - C(n - c_j, b) / C(n, b)`` with ``c_j`` occurrences.
"""

import numpy as np
from scipy.special import gammaln

from . import _kernels
from ._kernels import _numba


def check_csr_indices(X):
    """Raise a ValueError unless the index arrays of CSR ``X`` are valid.

    When scipy builds a CSR matrix it checks the lengths of its arrays, not
    whether ``indptr`` decreases or a column index is out of range (only
    ``X.check_format(full_check=True)`` does), and nothing checks an array
    changed afterwards; nor does ``check_array``. The compiled kernels index
    without bounds checks, so such an index would have them read and write
    outside their arrays. One pass over the indices: about 4 ms for ten
    million non-zeros.

    Parameters
    ----------
    X : CSR matrix of shape (n_samples, n_features)

    Raises
    ------
    ValueError
        If ``indptr`` does not start at 0, decreases, or points past the
        end of ``indices`` or ``data``; or if a column index is negative or
        not less than ``n_features``.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import sparse
    >>> from sklearn_adamlr._sparse import check_csr_indices
    >>> X = sparse.csr_matrix(np.eye(2))
    >>> check_csr_indices(X)
    >>> X.indices[0] = 2
    >>> check_csr_indices(X)
    Traceback (most recent call last):
    ...
    ValueError: X is not a valid CSR matrix: its column indices must be in [0, 2), ...
    """
    n_samples, n_features = X.shape
    indptr, indices = X.indptr, X.indices
    if (
        len(indptr) != n_samples + 1
        or indptr[0] != 0
        or indptr[-1] > min(len(indices), len(X.data))
        or np.any(indptr[1:] < indptr[:-1])
    ):
        raise ValueError(
            "X is not a valid CSR matrix: its indptr must have n_samples + 1 "
            "entries, start at 0, never decrease and end at most at the "
            "length of its indices and data. Were X's arrays changed after X "
            "was built? Build it again from its (data, indices, indptr), and "
            "check it with X.check_format(full_check=True)."
        )
    used = indices[: indptr[-1]]
    if len(used) == 0:
        return
    low, high = used.min(), used.max()
    if low < 0 or high >= n_features:
        raise ValueError(
            f"X is not a valid CSR matrix: its column indices must be in "
            f"[0, {n_features}), but they range from {low} to {high}. Were "
            "X.indices changed after X was built? Build it again with the "
            "right shape, and check it with X.check_format(full_check=True)."
        )


def _touch_counts(indptr, indices, n_features, batch_size, rotate):
    """Expected number of consecutive minibatches that contain each column."""
    n = indptr.shape[0] - 1
    counts = np.zeros(n_features)
    first = np.full(n_features, -1, dtype=np.int64)
    last = np.full(n_features, -1, dtype=np.int64)
    for i in range(n):
        lo, hi = _numba._row_span(indptr, i)
        for p in range(lo, hi):
            j = np.uintp(indices[p])
            if last[j] < 0:
                first[j] = i
            elif rotate:
                counts[j] += min(1.0, (i - last[j]) / batch_size)
            elif i // batch_size != last[j] // batch_size:
                counts[j] += 1.0
            last[j] = i
    for j in range(n_features):
        if last[j] < 0:
            continue
        if rotate:
            # rotated batches wrap around from the end of X to its start
            counts[j] += min(1.0, (n - last[j] + first[j]) / batch_size)
        else:
            counts[j] += 1.0
    return counts


if _numba.AVAILABLE:
    _touch_counts_compiled = _numba.jit(_touch_counts)


def _touch_counts_numpy(indptr, indices, n_features, batch_size, rotate):
    """:func:`_touch_counts` by blocks of rows, in numpy (the reference)."""
    n = len(indptr) - 1
    counts = np.zeros(n_features)
    first = np.full(n_features, -1, dtype=np.int64)
    last = np.full(n_features, -1, dtype=np.int64)
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        lo, hi = indptr[start], indptr[stop]
        cols = np.asarray(indices[lo:hi], dtype=np.int64)
        rows = np.repeat(np.arange(start, stop), np.diff(indptr[start : stop + 1]))
        # each column's occurrences in this block, in row order
        order = np.lexsort((rows, cols))
        cols, rows = cols[order], rows[order]
        new = np.ones(len(cols), dtype=bool)
        new[1:] = cols[1:] != cols[:-1]
        previous = np.empty_like(rows)
        previous[1:] = rows[:-1]
        previous[new] = last[cols[new]]
        seen = previous >= 0
        unseen_cols = cols[~seen]
        first[unseen_cols] = rows[~seen]
        if rotate:
            gaps = np.minimum(1.0, (rows[seen] - previous[seen]) / batch_size)
            np.add.at(counts, cols[seen], gaps)
        else:
            # a new consecutive minibatch for each column seen before: this
            # block *is* one minibatch, and cols[new] lists each column once
            counts[cols[seen & new]] += 1.0
        ends = np.ones(len(cols), dtype=bool)
        ends[:-1] = cols[:-1] != cols[1:]
        last[cols[ends]] = rows[ends]
    seen = last >= 0
    if rotate:
        counts[seen] += np.minimum(1.0, (n - last[seen] + first[seen]) / batch_size)
    else:
        counts[seen] += 1.0
    return counts


def penalty_scale(X, batch_size, shuffle):
    """``1 / p_j``, the scale of the penalty of each feature for lazy updates.

    Parameters
    ----------
    X : CSR matrix of shape (n_samples, n_features)
    batch_size : int
        Samples per minibatch, at most ``n_samples``.
    shuffle : {'samples', 'blocks', False}
        How the epochs visit the data (see ``_plan.shuffle_mode``).

    Returns
    -------
    scale : ndarray of shape (n_features,)
        ``n_batches / E[minibatches containing j]``; 1 for a feature that
        does not occur (its coefficient is never updated).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import sparse
    >>> from sklearn_adamlr._sparse import penalty_scale
    >>> X = sparse.csr_matrix(np.array([[1.0, 0], [1, 0], [0, 1], [1, 0]]))
    >>> penalty_scale(X, batch_size=2, shuffle=False).tolist()
    [1.0, 2.0]
    """
    n, d = X.shape
    n_batches = -(-n // batch_size)
    if shuffle == "samples":
        c = np.bincount(X.indices, minlength=d).astype(np.float64)
        # log C(n - c, b) - log C(n, b): the chance that a batch misses j
        free = n - c
        with np.errstate(invalid="ignore"):
            log_miss = (
                gammaln(free + 1)
                - gammaln(free - batch_size + 1)
                - gammaln(n + 1)
                + gammaln(n - batch_size + 1)
            )
        miss = np.where(free >= batch_size, np.exp(log_miss), 0.0)
        expected = n_batches * (1.0 - miss)
    else:
        count = _touch_counts_compiled if _kernels.enabled() else _touch_counts_numpy
        expected = count(X.indptr, X.indices, d, batch_size, bool(shuffle))
    with np.errstate(divide="ignore"):
        return np.where(expected > 0, n_batches / expected, 1.0)
