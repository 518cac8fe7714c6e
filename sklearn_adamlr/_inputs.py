"""What a training call is given, checked: data, classes, weights, held-out rows.

:func:`fit_inputs` turns the arguments of ``fit`` or ``partial_fit`` into
:class:`FitInputs` (or raises a ValueError that says what to do), in memory
or on a dask cluster (:mod:`sklearn_adamlr._dask`); :func:`split_validation`
holds out the rows of ``early_stopping``.
"""

import functools
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.model_selection import train_test_split
from sklearn.utils import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, validate_data

from ._advice import sampled_moments
from ._dask import is_dask_collection
from ._dask_prepare import prepare
from ._loss import loss_for, raw_prediction
from ._sparse import check_csr_indices


@dataclass
class FitInputs:
    """The checked inputs of one training call.

    Attributes
    ----------
    X : {ndarray, sparse matrix, DaskData}
    y : array-like
        The labels as validated (a dask array's as given).
    target : ndarray or None
        Encoded targets (None on a dask cluster, where the blocks hold them).
    sample_weight : ndarray or None
        Sample weights times class weights; None for unit weights.
    weight_sum : float
    classes_ : ndarray
    class_index : ndarray or None
        Each sample's index in ``classes_`` (None on a dask cluster).
    loss : BinaryLogLoss or MultinomialLogLoss
    distributed : bool
    """

    X: object
    y: object
    target: np.ndarray | None
    sample_weight: np.ndarray | None
    weight_sum: float
    classes_: np.ndarray
    class_index: np.ndarray | None
    loss: object
    distributed: bool

    @functools.cached_property
    def moments(self):
        """``_advice.sampled_moments`` of a dense ``X`` in memory, else None.

        Read once for the solver rule and the preconditioner (40 us of a 1.7
        ms default fit on breast_cancer when each read them).
        """
        return sampled_moments(self.X) if isinstance(self.X, np.ndarray) else None


def check_call(estimator, incremental, first_call, classes):
    """Refuse the parameter combinations that a ``partial_fit`` cannot serve."""
    if incremental and estimator.early_stopping:
        raise ValueError(
            "partial_fit does not support early_stopping=True: hold out "
            "your own validation data and call partial_fit in a loop, or "
            "use fit with early_stopping=True."
        )
    if incremental and estimator.class_weight == "balanced":
        raise ValueError(
            "class_weight 'balanced' is not supported for partial_fit: "
            "compute the weights once with sklearn.utils."
            "compute_class_weight('balanced', classes=classes, y=y) on a "
            "large enough sample of the targets, and pass them as a dict."
        )
    if incremental and first_call and classes is None:
        raise ValueError("classes must be passed on the first call to partial_fit.")


def fit_inputs(estimator, X, y, sample_weight, classes, incremental, first_call):
    """Check a call's arguments; its :class:`FitInputs`.

    Sets ``n_features_in_`` (and ``feature_names_in_``) on a first call, as
    scikit-learn's ``validate_data`` does.
    """
    check_call(estimator, incremental, first_call, classes)
    # A dask array X is checked and trained on where its blocks live.
    if is_dask_collection(X):
        if estimator.early_stopping:
            raise ValueError(
                "early_stopping=True holds out a validation set in memory, "
                "which a dask array X does not fit: train with the "
                "certificate (tol), or hold out your own validation blocks."
            )
        data, labels, finish = prepare(estimator, X, y, sample_weight, first_call)
        if first_call:
            estimator.n_features_in_ = data.shape[1]
            estimator.__dict__.pop("feature_names_in_", None)
        classes_ = resolve_classes(estimator, labels, classes, incremental, first_call)
        loss = loss_for(len(classes_))
        data, sw_sum = finish(classes_, loss, estimator.class_weight)
        inputs = FitInputs(data, y, None, None, sw_sum, classes_, None, loss, True)
    else:
        dtype = [np.float64, np.float32] if first_call else estimator.coef_.dtype
        X, y = validate_data(
            estimator, X, y, accept_sparse="csr", dtype=dtype, reset=first_call
        )
        if sparse.issparse(X):
            check_csr_indices(X)
        if not (isinstance(y, np.ndarray) and y.ndim == 1 and y.dtype.kind in "biu"):
            # A 1-d array of integers or booleans is always binary or
            # multiclass: type_of_target would take 84 us of a 2 ms
            # default fit on breast_cancer to say so.
            check_classification_targets(y)
        classes_ = resolve_classes(estimator, y, classes, incremental, first_call)
        class_index = np.searchsorted(classes_, y)
        loss = loss_for(len(classes_))
        sw = sample_weights(estimator, X, y, classes_, class_index, sample_weight)
        sw_sum = float(X.shape[0]) if sw is None else float(sw.sum(dtype=np.float64))
        target = loss.encode(class_index, X.dtype)
        inputs = FitInputs(X, y, target, sw, sw_sum, classes_, class_index, loss, False)
    if not inputs.weight_sum > 0:
        raise ValueError(
            "The sample weights, times the class weights, sum to zero: "
            "there is nothing to learn from. Give some samples a positive "
            "weight."
        )
    return inputs


def resolve_classes(estimator, y, classes, incremental, first_call):
    """``classes_`` of the call: those of ``y``, or of the stream."""
    present = np.unique(y)
    if not incremental:
        classes_ = present
    elif first_call:
        classes_ = np.unique(classes)
    else:
        classes_ = estimator.classes_
        if classes is not None and not np.array_equal(np.unique(classes), classes_):
            raise ValueError(
                f"`classes={np.unique(classes)!r}` is not the same as on "
                f"the first call to partial_fit, was: {classes_!r}."
            )
    if len(classes_) < 2:
        raise ValueError(
            "This solver needs samples of at least 2 classes in the data, "
            f"but the data contains only one class: {classes_[0]!r}."
        )
    # (a fit's classes are those present)
    unseen = np.setdiff1d(present, classes_) if incremental else ()
    if len(unseen):
        raise ValueError(
            f"y contains labels not in classes {classes_.tolist()}: "
            f"{unseen.tolist()}. Pass every label of the stream in "
            "`classes` on the first call to partial_fit."
        )
    return classes_


def sample_weights(estimator, X, y, classes_, class_index, sample_weight):
    """Sample weights times class weights, or None for unit weights."""
    class_weight = estimator.class_weight
    if sample_weight is None and class_weight is None:
        return None
    sw = _check_sample_weight(sample_weight, X, dtype=X.dtype, ensure_non_negative=True)
    if class_weight == "balanced":
        # n_samples / (n_classes * bincount(y)), with the counts weighted by
        # sample_weight as scikit-learn >= 1.7 does (computed here so that
        # older versions give the same weights).
        counts = np.bincount(
            class_index,
            weights=None if sample_weight is None else sw,
            minlength=len(classes_),
        )
        with np.errstate(divide="ignore"):
            cw = np.where(counts > 0, counts.sum() / (len(classes_) * counts), 0.0)
        sw = sw * cw[class_index].astype(X.dtype, copy=False)
    elif class_weight is not None:
        cw = compute_class_weight(class_weight, classes=classes_, y=y)
        bad = ~(np.isfinite(cw) & (cw >= 0))
        if bad.any():
            # (scikit-learn fits them: a negative weight makes the objective
            # unbounded below, and the failure surfaced later as "features
            # too large" or a divergence, naming the wrong cause)
            raise ValueError(
                "class_weight must be finite and non-negative, got "
                f"{float(cw[bad][0])!r} for class {classes_[bad].tolist()[0]!r}. "
                "A weight of 0 drops a class's samples; to lean towards a "
                "class, give it a larger positive weight, or use "
                "class_weight='balanced'."
            )
        sw = sw * cw[class_index].astype(X.dtype, copy=False)
    return sw


def split_validation(inputs, validation_fraction, rng, sample_weight=None):
    """Hold out a stratified share of the rows; ``(X, target, sw, accuracy)``.

    ``sw``: the training rows' weights (``inputs.sample_weight``'s, class
    weights included). ``accuracy(params)`` scores packed parameters on the
    held-out rows, weighted by the user's ``sample_weight`` there (without
    the class weights), as ``SGDClassifier`` and ``MLPClassifier`` weigh
    their validation scores.
    """
    X, class_index = inputs.X, inputs.class_index
    train_idx, val_idx = train_test_split(
        np.arange(X.shape[0]),
        test_size=validation_fraction,
        random_state=rng,
        stratify=class_index,
    )
    train_idx.sort()
    val_idx.sort()
    X_val, y_val = X[val_idx], class_index[val_idx]
    n_features = X.shape[1]
    weight_val = None
    if sample_weight is not None:
        weight_val = _check_sample_weight(sample_weight, X, dtype=np.float64)[val_idx]

    def accuracy(params):
        raw = raw_prediction(X_val, params, n_features)
        pred = raw[:, 0] > 0 if raw.shape[1] == 1 else raw.argmax(axis=1)
        return float(np.average(pred == y_val, weights=weight_val))

    sw = inputs.sample_weight
    sw_train = None if sw is None else sw[train_idx]
    return X[train_idx], inputs.target[train_idx], sw_train, accuracy
