"""Checks a dask array's blocks where they live, and wraps them for training.

:func:`prepare` is the dask half of :func:`sklearn_adamlr._inputs.fit_inputs`:
validation (shapes, finite values, labels, weights) runs on each block, on
the worker that holds it, with scikit-learn's own checks and so its error
messages; only each block's labels and a few sums come back, and the checked
blocks become a :class:`~sklearn_adamlr._dask.DaskData`.
"""

import numpy as np

from ._dask import DaskData, _tree_sum, rows_of

# ------------------------------------------------------- work on one block


def _check_X_block(block, dtype, name):
    """scikit-learn's checks of ``X`` on one block (its messages); the block cast."""
    from sklearn.utils import check_array

    return check_array(block, dtype=dtype, estimator=name, input_name="X")


def _check_y_block(block, name):
    """The block of labels as 1-d, finite (scikit-learn's messages)."""
    from sklearn.utils import assert_all_finite, column_or_1d

    block = column_or_1d(block, warn=False)
    if block.dtype.kind in "fc":
        assert_all_finite(block, input_name="y", estimator_name=name)
    return block


def _check_weight_block(block, dtype):
    """scikit-learn's checks of the sample weights on one block."""
    from sklearn.utils.validation import _check_sample_weight

    rows = np.empty((len(block), 0), dtype=dtype)  # only its length is read
    return _check_sample_weight(block, rows, dtype=dtype, ensure_non_negative=True)


def _labels(block):
    return (np.unique(block),)


def _class_counts(labels, weights, classes):
    index = np.searchsorted(classes, labels)
    return (np.bincount(index, weights=weights, minlength=len(classes)),)


def _encode_block(labels, classes, loss, dtype):
    return loss.encode(np.searchsorted(classes, labels), dtype)


def _weight_block(labels, weights, classes, class_weight, dtype):
    """Sample weights times the class weights ``class_weight[class]``."""
    factor = class_weight[np.searchsorted(classes, labels)].astype(dtype, copy=False)
    return factor if weights is None else weights * factor


def _sum_block(weights):
    return (float(np.sum(weights, dtype=np.float64)),)


# ------------------------------------------------------------- validation


def _as_column(values, what, row_chunks):
    """Labels or weights as a dask column chunked as ``X``'s rows (or None)."""
    import dask.array as da

    if values is None:
        return None
    if not isinstance(values, da.Array):
        values = np.asarray(values)  # in memory already: labels, weights
        values = da.from_array(values, chunks=values.shape)
    if any(np.isnan(c) for c in values.chunks[0]):
        values = values.compute_chunk_sizes()
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(
            f"{what} should be a 1d array, got an array of shape "
            f"{values.shape} instead."
        )
    n = sum(row_chunks)
    if values.shape[0] != n:
        raise ValueError(
            "Found input variables with inconsistent numbers of samples: "
            f"[{n}, {values.shape[0]}]"
        )
    return values.rechunk((row_chunks,))


def _class_weight_factor(y, weights, classes_, class_weight):
    """The weight of each class: ``'balanced'`` from sample-weighted counts."""
    import dask
    from dask import delayed

    if not isinstance(class_weight, str):
        from sklearn.utils.class_weight import compute_class_weight

        return compute_class_weight(class_weight, classes=classes_, y=classes_)
    count = delayed(_class_counts)
    blocks = y.to_delayed().ravel()
    weight_blocks = (
        [None] * y.numblocks[0] if weights is None else weights.to_delayed().ravel()
    )
    parts = [count(b, w, classes_) for b, w in zip(blocks, weight_blocks, strict=True)]
    (counts,) = dask.compute(_tree_sum(parts))[0]
    with np.errstate(divide="ignore"):
        return np.where(counts > 0, counts.sum() / (len(classes_) * counts), 0.0)


def prepare(estimator, X, y, sample_weight, first_call):
    """Check and persist the inputs on the workers; ``(X, labels, finish)``.

    ``X`` is the checked dask array (persisted), ``labels`` the sorted labels
    present in ``y``, and ``finish(classes_, loss, class_weight)`` returns
    ``(DaskData, weight_sum)`` once the classes are known. Every check runs
    per block on the workers, with scikit-learn's messages.
    """
    import dask
    import dask.array as da

    name = type(estimator).__name__
    X = rows_of(X, name, None if first_call else estimator.n_features_in_)
    n = X.shape[0]
    if first_call:
        dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
    else:
        dtype = estimator.coef_.dtype
    dtype = np.dtype(dtype)

    y = _as_column(y, "y", X.chunks[0])
    sample_weight = _as_column(sample_weight, "sample_weight", X.chunks[0])
    X = X.map_blocks(_check_X_block, dtype, name, dtype=dtype)
    y = y.map_blocks(_check_y_block, name, dtype=y.dtype)
    if sample_weight is not None:
        sample_weight = sample_weight.map_blocks(
            _check_weight_block, dtype, dtype=dtype
        )
    X, y, sample_weight = dask.persist(X, y, sample_weight)
    # The checks run here, on the workers; the first failing block's error
    # is raised in the client, as scikit-learn raises it in memory.
    from dask import delayed

    label_parts = [delayed(_labels)(b) for b in y.to_delayed().ravel()]
    touch = [delayed(np.shape)(b) for b in X.to_delayed().ravel()]
    if sample_weight is not None:
        touch += [delayed(np.shape)(b) for b in sample_weight.to_delayed().ravel()]
    labels_per_block, _ = dask.compute(label_parts, touch)
    labels = np.unique(np.concatenate([part[0] for part in labels_per_block]))
    from sklearn.utils.multiclass import check_classification_targets

    check_classification_targets(labels)

    def finish(classes_, loss, class_weight):
        weights = sample_weight
        if class_weight is not None:
            factor = _class_weight_factor(y, weights, classes_, class_weight)
            if weights is None:
                weights = y.map_blocks(
                    _weight_block, None, classes_, factor, dtype, dtype=dtype
                )
            else:
                weights = da.map_blocks(
                    _weight_block, y, weights, classes_, factor, dtype, dtype=dtype
                )
        target_dtype = np.intp if len(classes_) > 2 else dtype
        target = y.map_blocks(_encode_block, classes_, loss, dtype, dtype=target_dtype)
        target, weights = dask.persist(target, weights)
        if weights is None:
            weight_sum = float(n)
        else:
            parts = [delayed(_sum_block)(w) for w in weights.to_delayed().ravel()]
            weight_sum = dask.compute(_tree_sum(parts))[0][0]
        return DaskData(X, target, weights, weight_sum), weight_sum

    return X, labels, finish
