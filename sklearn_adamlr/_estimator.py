"""The estimator: validation, classes, and the hand-over to the training loop."""

import copy
import numbers
import warnings
from contextlib import contextmanager

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state, compute_class_weight
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from . import _dask
from ._duality import scaled_gap
from ._loss import loss_for, raw_prediction
from ._penalties import ElasticNet
from ._schedules import SCHEDULES, make_schedule
from ._sparse import check_csr_indices
from ._training import IterateAverage, Problem, Smoothness, train
from .solvers import get_solver
from .solvers._base import capabilities_of

_MAX_SEED = np.iinfo(np.int32).max


@contextmanager
def _rollback_on_error(estimator):
    """Restore every attribute of ``estimator`` if the block raises.

    Fitted arrays are replaced, never modified in place, and the solver state
    and random generator are copied before training, so a shallow snapshot of
    ``__dict__`` is a complete one.
    """
    snapshot = dict(estimator.__dict__)
    try:
        yield
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(snapshot)
        raise


def _auto_learning_rate(solver, smoothness, batch_size, certified=True):
    """The solver's ``'auto'`` step, or a ValueError that says what to do.

    With features beyond about 1e150 the Gram matrix behind the Lipschitz
    constant overflows: the eigensolver then fails with a cryptic
    ``LinAlgError``, or the step silently becomes 0 and nothing is learned.
    """
    try:
        with np.errstate(over="raise", invalid="raise"):
            auto = (
                solver.auto_learning_rate if certified else solver.stream_learning_rate
            )
            rate = float(auto(smoothness, batch_size))
    except (FloatingPointError, np.linalg.LinAlgError, OverflowError):
        rate = np.nan
    if not (np.isfinite(rate) and rate > 0):
        raise ValueError(
            "learning_rate='auto' could not be computed before epoch 1: the "
            "features are too large for the smoothness constant of the loss "
            f"to be finite (got a step of {rate!r}). Scale the features, e.g. "
            "with sklearn.preprocessing.StandardScaler, or pass a float "
            "learning_rate."
        )
    return rate


def _column_scales(X):
    """The root mean square of each column of ``X`` (dense or sparse), in blocks."""
    if hasattr(X, "column_scales"):  # data on a cluster (_dask)
        return X.column_scales()
    total = np.zeros(X.shape[1])
    for start in range(0, X.shape[0], 4096):
        block = X[start : start + 4096]
        if sparse.issparse(block):
            total += np.asarray(block.multiply(block).sum(axis=0)).ravel()
        else:
            total += np.einsum("ij,ij->j", block, block, dtype=np.float64)
    return np.sqrt(total / max(X.shape[0], 1))


# Column scales further apart than this (largest RMS over the median's) are
# named in the ConvergenceWarning. Measured: raw breast_cancer 4.4e3, raw wine
# 3.1e2, raw digits 1.7, raw iris 1.6, any standardized data 1.
_SCALE_RATIO = 100.0


def _scale_advice(scales):
    """A sentence naming badly scaled columns, or an empty string."""
    present = scales[scales > 0]
    if len(present) == 0:
        return ""
    median = float(np.median(present))
    ratio = float(present.max()) / median
    if ratio <= _SCALE_RATIO:
        return ""
    worst = np.argsort(scales)[::-1][:3]
    named = ", ".join(f"{j} (RMS {scales[j]:.3g})" for j in worst)
    return (
        f" The features are on very different scales: columns {named} are "
        f"up to {ratio:.3g} times the median column's RMS ({median:.3g}). "
        "Standardize them, e.g. make_pipeline(StandardScaler(), "
        "AdamLogisticRegression())."
    )


class AdamLogisticRegression(LinearClassifierMixin, BaseEstimator):
    """Logistic regression trained by gradient descent, minibatch SGD or Adam.

    It minimises scikit-learn's :class:`~sklearn.linear_model.LogisticRegression`
    objective,

    ``C * sum_i sw_i * loss_i + (1 - l1_ratio) / 2 * ||w||_2^2 + l1_ratio * ||w||_1``,

    with a sigmoid for two classes and a softmax (multinomial) for three or
    more. The intercept is not penalised and ``class_weight`` multiplies
    ``sample_weight``. Internally the objective is divided by
    ``C * sum(sw)``, which changes its scale, not its minimiser;
    ``loss_curve_`` is on that scale.

    The optimizer is a registered solver (see :func:`available_solvers`):
    ``'gd'`` (full-batch, accelerated, converges to the same optimum as
    ``LogisticRegression``), ``'minibatch'`` (SGD with momentum) or
    ``'adam'``. L1 and elastic net are handled by a proximal
    (soft-thresholding) step for every solver, which gives exact zeros.

    Parameters
    ----------
    C : float, default=1.0
        Inverse of the regularization strength, > 0; ``np.inf`` means no
        penalty.
    l1_ratio : float, default=0.0
        Elastic-net mixing in [0, 1]: 0 is L2, 1 is L1.
    fit_intercept : bool, default=True
        Whether to fit an (unpenalised) intercept.
    class_weight : dict or 'balanced', default=None
        Weights by class, multiplying ``sample_weight``. ``'balanced'`` uses
        ``n_samples / (n_classes * np.bincount(y))`` (weighted); it is not
        supported by :meth:`partial_fit`.
    solver : str or Solver, default='adam'
        A registered solver name, or a :class:`Solver` instance (used as
        given: the estimator's solver hyperparameters are then ignored).
    learning_rate : 'auto' or float, default='auto'
        Base step size. ``'auto'`` asks the solver: ``1 / L`` for ``'gd'``
        (``L`` the Lipschitz constant of the gradient; ``gd`` then adapts its
        step to the local smoothness), ``1 / L_b`` for ``'minibatch'``
        (``L_b`` the expected smoothness of a minibatch), 0.1 for
        ``'adam'``, ``1 / L_mean`` for ``'saga'`` (``L_mean`` the mean
        smoothness of one sample's loss) and for ``'lbfgs'``'s first step
        (its later steps come from its line search); in :meth:`partial_fit`, with
        ``tol=None`` or with ``early_stopping``, where nothing halves the
        step, ``(1 - momentum) / L_b`` for ``'minibatch'``, 0.01 for
        ``'adam'`` and ``1 / (3 L_max)`` for ``'saga'``
        (``Solver.stream_learning_rate``). The value used is
        ``learning_rate_``. In :meth:`fit` with ``tol``, when the full
        objective stops improving (for about 10 updates, 20 for
        ``'minibatch'``, and at least an epoch) the batch size doubles, with
        ``'auto'`` the step of the larger batch; at the full batch the step
        is halved instead, down to a thousandth of the start, and with
        ``'auto'`` ``'minibatch'`` follows the local curvature (the
        Barzilai-Borwein step, never below ``1 / L``; see the user
        guide); ``'saga'`` halves its step after 5 epochs without a lower
        objective, and resumes from its best point.
    schedule : {'constant', 'invscaling'} or callable, default='constant'
        How the step decays with the update count ``t``: ``'invscaling'`` is
        ``learning_rate / t ** power_t``. A callable ``schedule(lr, t)`` must
        pickle to keep the estimator picklable. ``'saga'`` takes a constant
        step (its steps converge without decay) and refuses the others.
    power_t : float, default=0.5
        Exponent of the ``'invscaling'`` schedule.
    batch_size : int or 'auto', default='auto'
        Samples per update, ``min(200, n_samples)`` for ``'auto'``. Ignored
        by full-batch solvers and by ``'saga'``, which steps on one sample
        at a time.
    max_iter : int, default=1000
        Maximum number of epochs (passes over the data) in :meth:`fit`.
    tol : float or None, default=5e-5
        The certificate of convergence: :meth:`fit` stops once the
        *optimality* of the parameters, measured on the whole training data
        after each epoch, is at most ``tol``. The optimality is the max-abs
        of the minimum-norm subgradient of the objective divided by
        ``C * sum(sample_weight)`` (the intercept's gradient included); it
        is zero only at the optimum, and without an L1 part it is the
        max-abs of the gradient, the quantity that ``tol`` bounds for
        ``LogisticRegression``'s lbfgs. The measurement costs one pass over
        ``X`` per epoch. A fit that meets it returns that point; otherwise
        the parameters returned are those with the lowest objective seen
        (the starting point included), and a fit that ends
        above ``tol`` raises a :class:`~sklearn.exceptions.ConvergenceWarning`
        that says how far it is. A small gradient does not bound the
        distance in objective where the objective is flat (nearly separable
        classes): :func:`~sklearn_adamlr.duality_gap` bounds it. With
        ``early_stopping``, ``tol`` is the
        improvement of the validation score instead. None runs ``max_iter``
        epochs and measures nothing (the last iterate is returned).
    n_iter_no_change : int, default=10
        With ``early_stopping``: epochs without an improvement of the
        validation score by ``tol`` before stopping.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data (stratified), stop on
        its accuracy, and keep the parameters of the best epoch. Only for
        :meth:`fit`; holding out copies the training part of ``X``.
    validation_fraction : float, default=0.1
        Share of the data held out for early stopping, in (0, 1).
    shuffle : bool, 'samples' or 'blocks', default=True
        How each epoch visits the data. True (or ``'samples'``): a new random
        order of the samples each epoch, each minibatch gathered into a
        preallocated buffer of ``batch_size`` rows (``X`` is not copied);
        sorted rows (e.g. by label) are then as safe as shuffled ones.
        ``'blocks'``: minibatches are consecutive rows, views of ``X`` that
        are never gathered; each epoch shifts their boundaries by a random
        offset and visits them in a random order. It saves the gathering
        (see the user guide for the measured cost), but rows that are sorted
        stay close together: shuffle such data once beforehand
        (``sklearn.utils.shuffle``). False: the same consecutive minibatches
        in order every epoch. ``solver='saga'``, which steps on one sample at
        a time, reads True and ``'blocks'`` alike: on 1,024 samples or more
        it visits runs of 16 consecutive rows in a random order, which
        halves the cost of an epoch on data larger than the caches without
        slowing its progress, sorted rows included (as measured; see
        :class:`~sklearn_adamlr.solvers._saga.Saga`); ``'samples'`` keeps a
        permutation of the samples.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffling and the early-stopping split. Pass an int for
        reproducible results.
    warm_start : bool, default=False
        Start :meth:`fit` from the current ``coef_`` and ``intercept_``. The
        solver state and step count start afresh, as in ``MLPClassifier``.
    average : bool, default=True
        Where neither the certificate nor a validation score picks the point
        to return, that is in :meth:`partial_fit` and in a :meth:`fit` with
        ``tol=None``, a solver that steps on minibatches (``'adam'``,
        ``'minibatch'``) with a constant step (``schedule='constant'``)
        keeps an average of its iterates at the ends of the epochs (each
        :meth:`partial_fit` call is an epoch), the k-th weighted about as
        k**3 (the polynomial-decay average of Shamir & Zhang, 2013). A
        constant step leaves the iterate moving in a ball of noise around
        the optimum, and the average sits much closer (Polyak & Juditsky,
        1992). Before each epoch the log-loss of the average and of the
        last iterate are measured on rows that the epoch is about to train
        on (in a stream, rows that neither has seen); ``coef_`` and
        ``intercept_`` are the average unless the last iterate did better
        there, and the steps go on from the last iterate. One pass of
        default ``adam`` over 400,000 x 100 standardized rows in
        10,000-row chunks ends at a relative gap of 6.6e-4 to the optimum,
        against 1.6e-2 for the last iterate; the measure takes at most
        2,048 of the epoch's rows, evenly spaced. A decaying
        schedule damps the noise itself, and an average would lag behind
        its converging iterates (adam with ``'invscaling'``, 300 epochs on
        a sparse problem: 2.5e-4 averaged, 2.7e-5 not); full-batch and
        per-sample solvers (``'gd'``, ``'lbfgs'``, ``'saga'``) converge
        without it. Neither is averaged. False returns the last iterate.
    verbose : int, default=0
        Print a line per epoch when > 0.
    momentum : float, default=0.9
        Momentum of the ``'minibatch'`` solver, in [0, 1).
    nesterovs_momentum : bool, default=True
        Nesterov's momentum for ``'minibatch'``; FISTA with restart for
        ``'gd'`` (False gives plain gradient descent).
    beta_1 : float, default=0.9
        Adam's first-moment decay, in [0, 1).
    beta_2 : float, default=0.999
        Adam's second-moment decay, in [0, 1).
    epsilon : float, default=1e-8
        Adam's stability constant.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Coefficients, in the dtype of the training data (float32 or float64).
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts (zeros when ``fit_intercept=False``).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of features seen during fit, when ``X`` has string column names.
    n_iter_ : int
        Epochs run by the last :meth:`fit`, plus one per :meth:`partial_fit`.
    optimality_ : float or None
        The certificate (see ``tol``) at the returned parameters, measured by
        the last :meth:`fit` with ``tol`` and no ``early_stopping``; None
        otherwise (and after :meth:`partial_fit`, which measures nothing).
    t_ : int
        Update steps taken so far (the schedule's clock).
    loss_curve_ : list of float
        Objective per epoch, divided by ``C * sum(sample_weight)``: the mean
        weighted loss of each minibatch on its own labels (before its update)
        plus the penalty at the end of the epoch.
    learning_rate_ : float
        The base step size used (the resolved ``'auto'``).
    validation_scores_ : list of float or None
        Validation accuracy per epoch with ``early_stopping``, else None.
    best_validation_score_ : float or None
        Best validation accuracy with ``early_stopping``, else None.

    See Also
    --------
    sklearn.linear_model.LogisticRegression : The same model, second-order
        and coordinate solvers.
    sklearn.linear_model.SGDClassifier : Linear models by plain SGD.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_adamlr import AdamLogisticRegression
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(), AdamLogisticRegression(random_state=0))
    >>> clf.fit(X, y).score(X, y) > 0.98
    True
    >>> clf[-1].coef_.shape
    (1, 30)
    """

    _parameter_constraints = {
        "C": [Interval(numbers.Real, 0, None, closed="neither")],
        "l1_ratio": [Interval(numbers.Real, 0, 1, closed="both")],
        "fit_intercept": ["boolean"],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "solver": [str, HasMethods(["init_state", "update"])],
        "learning_rate": [
            StrOptions({"auto"}),
            Interval(numbers.Real, 0, None, closed="neither"),
        ],
        "schedule": [StrOptions(set(SCHEDULES)), callable],
        "power_t": [Interval(numbers.Real, 0, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(numbers.Integral, 1, None, closed="left"),
        ],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left"), None],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "shuffle": ["boolean", StrOptions({"samples", "blocks"})],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "average": ["boolean"],
        "verbose": ["verbose"],
        "momentum": [Interval(numbers.Real, 0, 1, closed="left")],
        "nesterovs_momentum": ["boolean"],
        "beta_1": [Interval(numbers.Real, 0, 1, closed="left")],
        "beta_2": [Interval(numbers.Real, 0, 1, closed="left")],
        "epsilon": [Interval(numbers.Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        *,
        C=1.0,
        l1_ratio=0.0,
        fit_intercept=True,
        class_weight=None,
        solver="adam",
        learning_rate="auto",
        schedule="constant",
        power_t=0.5,
        batch_size="auto",
        max_iter=1000,
        tol=5e-5,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        shuffle=True,
        random_state=None,
        warm_start=False,
        average=True,
        verbose=0,
        momentum=0.9,
        nesterovs_momentum=True,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
    ):
        self.C = C
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight
        self.solver = solver
        self.learning_rate = learning_rate
        self.schedule = schedule
        self.power_t = power_t
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.shuffle = shuffle
        self.random_state = random_state
        self.warm_start = warm_start
        self.average = average
        self.verbose = verbose
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model from scratch (or from ``coef_`` with ``warm_start``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; float32 is kept as float32, CSC is converted to
            CSR. On CSR data ``'adam'`` and ``'minibatch'`` update lazily:
            only the coefficients of the features present in a minibatch
            move, with the penalty rescaled so that the optimum is the same
            (see the user guide). A dask array is trained on where its
            blocks live, never gathered (see :doc:`/dask`).
        y : array-like of shape (n_samples,)
            Class labels (at least two classes).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, not all zero; a zero weight drops its
            sample. Negative weights raise a ValueError: they would make the
            objective non-convex (and, with C=np.inf, possibly unbounded
            below).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        with _rollback_on_error(self):
            result, X, returned = self._train(
                X, y, sample_weight, classes=None, incremental=False
            )
        if self.tol is not None and not result.converged:
            warnings.warn(
                self._not_converged_message(result, X, returned),
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One pass over a chunk of data, continuing the previous state.

        The solver state (moments, momentum, step count ``t_`` and so the
        schedule), the random generator and the learning rate carry over
        from call to call and through pickling, so a stream of calls can be
        stopped, saved, loaded and resumed with identical results. The
        penalty is scaled by each chunk's own weight sum, as if the chunk
        were the whole data set. On error the estimator is left as it was.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A chunk of training data. Later chunks are cast to the dtype of
            the first.
        y : array-like of shape (n_samples,)
            Labels, all in ``classes``.
        classes : array-like of shape (n_classes,), default=None
            All the classes of the stream. Required on the first call; on
            later calls, if given, it must equal ``classes_``.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, not all zero; a zero weight drops its
            sample. Negative weights raise a ValueError: they would make the
            objective non-convex (and, with C=np.inf, possibly unbounded
            below).

        Returns
        -------
        self : object
            The updated estimator.
        """
        # scikit-learn's _fit_context validates the parameters of partial_fit
        # on the first call only; a value set by set_params between calls
        # must still give InvalidParameterError, not a cryptic failure later.
        self._validate_params()
        with _rollback_on_error(self):
            self._train(X, y, sample_weight, classes=classes, incremental=True)
        return self

    def _train(self, X, y, sample_weight, *, classes, incremental):
        first_call = not (incremental and hasattr(self, "classes_"))
        if incremental and self.early_stopping:
            raise ValueError(
                "partial_fit does not support early_stopping=True: hold out "
                "your own validation data and call partial_fit in a loop, or "
                "use fit with early_stopping=True."
            )
        if incremental and self.class_weight == "balanced":
            raise ValueError(
                "class_weight 'balanced' is not supported for partial_fit: "
                "compute the weights once with sklearn.utils."
                "compute_class_weight('balanced', classes=classes, y=y) on a "
                "large enough sample of the targets, and pass them as a dict."
            )
        if incremental and first_call and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")

        # A dask array X is checked and trained on where its blocks live.
        distributed = _dask.is_dask_collection(X)
        if distributed:
            if self.early_stopping:
                raise ValueError(
                    "early_stopping=True holds out a validation set in memory, "
                    "which a dask array X does not fit: train with the "
                    "certificate (tol), or hold out your own validation blocks."
                )
            X, labels, finish = _dask.prepare(self, X, y, sample_weight, first_call)
            if first_call:
                self.n_features_in_ = X.shape[1]
                self.__dict__.pop("feature_names_in_", None)
            classes_ = self._resolve_classes(labels, classes, incremental, first_call)
            n_classes = len(classes_)
            loss = loss_for(n_classes)
            X, sw_sum = finish(classes_, loss, self.class_weight)
            sw = None
        else:
            dtype = [np.float64, np.float32] if first_call else self.coef_.dtype
            X, y = validate_data(
                self, X, y, accept_sparse="csr", dtype=dtype, reset=first_call
            )
            if sparse.issparse(X):
                check_csr_indices(X)
            check_classification_targets(y)
            classes_ = self._resolve_classes(y, classes, incremental, first_call)
            class_index = np.searchsorted(classes_, y)
            n_classes = len(classes_)
            loss = loss_for(n_classes)

            sw = self._weights(X, y, classes_, class_index, sample_weight)
            sw_sum = (
                float(X.shape[0]) if sw is None else float(sw.sum(dtype=np.float64))
            )
        if not sw_sum > 0:
            raise ValueError(
                "The sample weights, times the class weights, sum to zero: "
                "there is nothing to learn from. Give some samples a positive "
                "weight."
            )
        alpha = 0.0 if np.isinf(self.C) else 1.0 / (self.C * sw_sum)
        penalty = ElasticNet(alpha=alpha, l1_ratio=self.l1_ratio)

        solver = get_solver(self.solver, self.get_params())
        n_features = X.shape[1]
        n_params = n_features + int(self.fit_intercept)
        k = loss.n_outputs(n_classes)

        # Where no certificate or validation score picks the point to return,
        # the iterates of a minibatch solver are averaged (see average).
        averaged = (
            self.average
            and self.schedule == "constant"
            and not solver.full_batch
            and capabilities_of(solver).data_epoch is None
            and (incremental or self.tol is None)
            and not self.early_stopping
            # its comparison reads rows of X in the client
            and not distributed
        )
        average = IterateAverage() if averaged else None
        if incremental and not first_call:
            self._check_solver_unchanged(solver, n_params, k)
            params = self._pack(X.dtype)
            if averaged and getattr(self, "_n_averaged", 0):
                average = IterateAverage(
                    self._average_point.copy(),
                    self._n_averaged,
                    self._average_preferred,
                )
            if getattr(self, "_iterate", None) is not None:
                # coef_ may be the average: the steps go on from the iterate
                params = self._iterate.copy()
            state = copy.deepcopy(self._solver_state)
            rng = copy.deepcopy(self._rng)
            t = self.t_
            rate_scale = self._rate_scale
        else:
            if self._can_warm_start(classes_, n_params, k, incremental):
                params = self._pack(X.dtype)
            else:
                params = np.zeros((n_params, k), dtype=X.dtype)
            state = solver.init_state(params)
            rng = np.random.RandomState(
                check_random_state(self.random_state).randint(_MAX_SEED)
            )
            t = 0
            rate_scale = 1.0

        target = None if distributed else loss.encode(class_index, X.dtype)
        validation = None
        if self.early_stopping:
            X, target, sw, validation = self._split_validation(
                X, target, class_index, sw, n_classes, rng
            )

        problem = Problem(
            X=X,
            target=target,
            sample_weight=sw,
            loss=loss,
            penalty=penalty,
            fit_intercept=self.fit_intercept,
            weight_total=sw_sum if distributed else None,
        )
        batch_size = (
            min(200, X.shape[0]) if self.batch_size == "auto" else self.batch_size
        )
        rate_for_batch = None
        if self.learning_rate != "auto":
            learning_rate = float(self.learning_rate)
        elif incremental and not first_call:
            learning_rate = self.learning_rate_
        else:
            smoothness = Smoothness(problem)
            # the loop halves a step that stalls only when it measures the
            # certificate (see Solver.stream_learning_rate)
            certified = not incremental and self.tol is not None
            certified = certified and not self.early_stopping
            learning_rate = _auto_learning_rate(
                solver, smoothness, batch_size, certified
            )
            if certified:

                def rate_for_batch(size):
                    return _auto_learning_rate(solver, smoothness, size)

        previous = list(self.loss_curve_) if incremental and not first_call else []
        result = train(
            problem,
            params,
            solver,
            state,
            learning_rate=learning_rate,
            schedule=make_schedule(self.schedule, self.power_t),
            t=t,
            max_epochs=1 if incremental else self.max_iter,
            batch_size=batch_size,
            shuffle=self.shuffle,
            rng=rng,
            tol=None if incremental else self.tol,
            n_iter_no_change=self.n_iter_no_change,
            validation=validation,
            verbose=self.verbose,
            previous_losses=previous,
            epoch_offset=len(previous),
            rate_scale=rate_scale,
            rate_for_batch=rate_for_batch,
            average=average,
        )
        iterate = None
        if result.best_params is not None:
            params = result.best_params
        elif average is not None:
            iterate = params
            if average.preferred:
                params = average.point

        # Commit: nothing above touched the fitted attributes.
        self.classes_ = classes_
        self.coef_ = np.ascontiguousarray(params[:n_features].T)
        if self.fit_intercept:
            self.intercept_ = params[n_features].copy()
        else:
            self.intercept_ = np.zeros(k, dtype=params.dtype)
        self.t_ = result.t
        self.loss_curve_ = previous + result.losses
        self.n_iter_ = (
            (self.n_iter_ + 1) if incremental and not first_call else (result.n_epochs)
        )
        self.learning_rate_ = learning_rate
        self.optimality_ = result.optimality
        self._rate_scale = result.rate_scale
        self.validation_scores_ = result.validation_scores if validation else None
        self.best_validation_score_ = (
            max(result.validation_scores) if validation else None
        )
        self._solver_state = result.state
        self._iterate = iterate
        self._n_averaged = 0 if average is None else average.count
        self._average_point = None if average is None else average.point
        self._average_preferred = True if average is None else average.preferred
        self._solver_class = type(solver)
        # The shape of the solver state depends on it, and coef_ alone cannot
        # tell whether the stream was started with an intercept.
        self._fitted_intercept = bool(self.fit_intercept)
        self._rng = rng
        return result, X, (problem, params)

    def _not_converged_message(self, result, X, returned):
        """What a fit that did not meet its certificate says, and what to do.

        ``returned`` is the ``(problem, params)`` of the returned model: with
        the data in memory, a duality gap then says how far it can be from
        the optimum (two passes over ``X``, paid only by a fit that warns).
        """
        if result.optimality is None:  # early stopping: the validation rule
            return (
                f"Maximum number of epochs (max_iter={self.max_iter}) reached "
                "and the validation score was still improving. Increase "
                "max_iter or n_iter_no_change, or check validation_scores_."
            )
        message = (
            f"The fit stopped after max_iter={self.max_iter} epochs at "
            f"optimality {result.optimality:.3g}, above tol={self.tol:g} "
            "(max-abs of the minimum-norm subgradient of the objective "
            "divided by C * sum(sample_weight); see tol). Its objective is "
            f"{result.objective:.6g} per unit weight, from "
            f"{result.start_objective:.6g} at the start."
        )
        problem, params = returned
        # (not on a dask cluster's blocks: two more distributed passes)
        if not hasattr(problem.X, "blocks"):
            objective, gap = scaled_gap(problem, params)
            # Quoted when it says something: on raw breast_cancer and wine
            # the bound was 330 to 5,400 times the objective, for distances
            # of 0.09 to 7.5 (the user guide's raw-data table).
            if 0 <= gap <= objective - gap:
                message += (
                    f" A duality gap puts it at most {gap / (objective - gap):.2g} "
                    "(relative) above the optimum (see sklearn_adamlr.duality_gap)."
                )
        if not result.objective < result.start_objective:
            message += (
                " No point it evaluated was better than the start: the step "
                "is too large for this data."
            )
        message += _scale_advice(_column_scales(X))
        message += " Increase max_iter"
        if not get_solver(self.solver, self.get_params()).full_batch:
            message += (
                ", or use solver='gd', which adapts its step to the local smoothness"
            )
        return message + "."

    def _resolve_classes(self, y, classes, incremental, first_call):
        present = np.unique(y)
        if not incremental:
            classes_ = present
        elif first_call:
            classes_ = np.unique(classes)
        else:
            classes_ = self.classes_
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
        unseen = np.setdiff1d(present, classes_)
        if len(unseen):
            raise ValueError(
                f"y contains labels not in classes {classes_.tolist()}: "
                f"{unseen.tolist()}. Pass every label of the stream in "
                "`classes` on the first call to partial_fit."
            )
        return classes_

    def _weights(self, X, y, classes_, class_index, sample_weight):
        """Sample weights times class weights, or None for unit weights."""
        if sample_weight is None and self.class_weight is None:
            return None
        sw = _check_sample_weight(
            sample_weight, X, dtype=X.dtype, ensure_non_negative=True
        )
        if self.class_weight == "balanced":
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
        elif self.class_weight is not None:
            cw = compute_class_weight(self.class_weight, classes=classes_, y=y)
            sw = sw * cw[class_index].astype(X.dtype, copy=False)
        return sw

    def _can_warm_start(self, classes_, n_params, k, incremental):
        return (
            not incremental
            and self.warm_start
            and hasattr(self, "coef_")
            and np.array_equal(self.classes_, classes_)
            and self.coef_.shape == (k, n_params - int(self.fit_intercept))
        )

    def _check_solver_unchanged(self, solver, n_params, k):
        if type(solver) is not self._solver_class:
            raise ValueError(
                f"partial_fit was started with solver "
                f"{self._solver_class.__name__} and cannot continue with "
                f"{type(solver).__name__}; call fit to start afresh."
            )
        if self.coef_.shape[0] != k or self.fit_intercept != getattr(
            self, "_fitted_intercept", self.fit_intercept
        ):
            raise ValueError(
                "fit_intercept was changed since the first call to partial_fit; "
                "call fit to start afresh."
            )

    def _pack(self, dtype):
        n_features = self.coef_.shape[1]
        params = np.empty(
            (n_features + int(self.fit_intercept), self.coef_.shape[0]), dtype=dtype
        )
        params[:n_features] = self.coef_.T
        if self.fit_intercept:
            params[n_features] = self.intercept_
        return params

    def _split_validation(self, X, target, class_index, sw, n_classes, rng):
        index = np.arange(X.shape[0])
        train_idx, val_idx = train_test_split(
            index,
            test_size=self.validation_fraction,
            random_state=rng,
            stratify=class_index,
        )
        train_idx.sort()
        val_idx.sort()
        X_val, y_val = X[val_idx], class_index[val_idx]
        n_features = X.shape[1]

        def accuracy(params):
            raw = raw_prediction(X_val, params, n_features)
            pred = raw[:, 0] > 0 if raw.shape[1] == 1 else raw.argmax(axis=1)
            return float(np.mean(pred == y_val))

        sw_train = None if sw is None else sw[train_idx]
        return X[train_idx], target[train_idx], sw_train, accuracy

    # -------------------------------------------------------------- predict

    def decision_function(self, X):
        """Raw predictions: the logit of class 1, or one score per class.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            A dask array gives a dask array, computed block by block.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes, positive means ``classes_[1]``; otherwise the
            largest score's column of ``classes_`` is the prediction.
        """
        check_is_fitted(self)
        if _dask.is_dask_collection(X):
            return _dask.predict_blocks(self, "decision_function", X)
        X = validate_data(self, X, accept_sparse="csr", reset=False)
        if sparse.issparse(X):
            # scipy's product would read past coef_ as our kernels would
            check_csr_indices(X)
        scores = safe_sparse_dot(X, self.coef_.T, dense_output=True) + self.intercept_
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict(self, X):
        """Class labels: the class of the largest score.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            A dask array gives a dask array, computed block by block.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Values of ``classes_``.
        """
        if _dask.is_dask_collection(X):
            return _dask.predict_blocks(self, "predict", X)
        return super().predict(X)

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            A dask array gives a dask array, computed block by block.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows sum to one; columns follow ``classes_``.
        """
        check_is_fitted(self)
        if _dask.is_dask_collection(X):
            return _dask.predict_blocks(self, "predict_proba", X)
        raw = self.decision_function(X)
        return loss_for(len(self.classes_)).predict_proba(raw.reshape(raw.shape[0], -1))

    def predict_log_proba(self, X):
        """Log of the class probabilities, computed stably.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            A dask array gives a dask array, computed block by block.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        if _dask.is_dask_collection(X):
            return _dask.predict_blocks(self, "predict_log_proba", X)
        raw = self.decision_function(X)
        return loss_for(len(self.classes_)).predict_log_proba(
            raw.reshape(raw.shape[0], -1)
        )
