"""The estimator: its parameters, the hand-over to the training loop, the commit."""

import functools
import numbers
from contextlib import contextmanager

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from ._advice import not_converged_message
from ._auto import choose_solver
from ._callbacks import (
    CALLBACK_ATTRIBUTES,
    CallbackSupportMixin,
    callback_monitor,
    root_context,
)
from ._hand_over import finish, hands_over
from ._inputs import fit_inputs, split_validation
from ._penalties import ElasticNet
from ._precondition import diagonal
from ._predict import LinearPredictions
from ._problem import Problem, step_size
from ._schedules import SCHEDULES, make_schedule
from ._stream_state import start_stream, unpack
from ._training import train
from ._warn import warn_user
from .solvers import get_solver


@functools.cache
def _init_parameters(cls):
    """``BaseEstimator._get_param_names`` of ``cls``, computed once."""
    return BaseEstimator._get_param_names.__func__(cls)


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
        # scikit-learn's callback context is its own to tear down
        kept = {a: v for a, v in vars(estimator).items() if a in CALLBACK_ATTRIBUTES}
        estimator.__dict__.clear()
        estimator.__dict__.update(snapshot)
        estimator.__dict__.update(kept)
        raise


class AdamLogisticRegression(CallbackSupportMixin, LinearPredictions, BaseEstimator):
    """Logistic regression trained by gradient descent, minibatch SGD or Adam.

    It minimises scikit-learn's :class:`~sklearn.linear_model.LogisticRegression`
    objective,

    ``C * sum_i sw_i * loss_i + (1 - l1_ratio) / 2 * ||w||_2^2 + l1_ratio * ||w||_1``,

    with a sigmoid for two classes and a softmax (multinomial) for three or
    more. The intercept is not penalised and ``class_weight`` multiplies
    ``sample_weight``. Internally the objective is divided by
    ``C * sum(sw)``, which changes its scale, not its minimiser;
    ``loss_curve_`` is on that scale.

    The optimizer is a registered solver (see :func:`available_solvers`),
    by default chosen per call (``solver='auto'``): ``'lbfgs'`` (limited-
    memory BFGS on the full batch), ``'gd'`` (full-batch, accelerated),
    ``'minibatch'`` (SGD with momentum), ``'adam'``, ``'saga'`` or
    ``'newton'`` (Newton's steps, which do not care how the features are
    scaled); each converges to ``LogisticRegression``'s optimum. L1 and
    elastic net are handled by a proximal (soft-thresholding) step for
    every solver, which gives exact zeros.

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
        Weights by class (finite, non-negative; a class left out weighs 1),
        multiplying ``sample_weight``. ``'balanced'``: ``n_samples / (n_classes
        * np.bincount(y))`` (weighted); not supported by :meth:`partial_fit`.
    solver : 'auto', str or Solver, default='auto'
        ``'auto'`` picks, for each call, the quickest way to the certificate:
        in :meth:`fit` ``'newton'`` on raw features (dense columns over 10
        times apart in scale, or far from centred) or a weak penalty on
        small data, else ``'lbfgs'``, or ``'gd'`` with an L1 part (FISTA);
        ``'adam'`` in :meth:`partial_fit`; ``solver_`` says which ran
        (rules: ``sklearn_adamlr._auto``); a later ``partial_fit`` goes on
        with Adam's fresh state. Otherwise a registered name, or a
        :class:`Solver` instance (used as given). In :meth:`fit` with
        ``tol``, ``'adam'`` and ``'minibatch'`` hand over to the full-batch
        solver ``'auto'`` picks where their batch would first grow;
        ``solver_`` then reads e.g. ``'adam+lbfgs'`` (see the user guide).
    learning_rate : 'auto' or float, default='auto'
        Base step size. ``'auto'`` asks the solver: ``1 / L`` for ``'gd'``
        (``L`` the Lipschitz constant of the gradient; ``gd`` then adapts its
        step to the local smoothness), ``1 / L_b`` for ``'minibatch'``
        (``L_b`` the expected smoothness of a minibatch), 0.1 for
        ``'adam'``, ``1 / L_mean`` for ``'saga'`` (``L_mean`` the mean
        smoothness of one sample's loss) and for ``'lbfgs'``'s first step,
        1 for ``'newton'`` (its line search's first trial); in :meth:`partial_fit`, with
        ``tol=None`` or with ``early_stopping``, where nothing halves the
        step, ``(1 - momentum) / L_b`` for ``'minibatch'``, 0.01 for
        ``'adam'`` and ``1 / (3 L_max)`` for ``'saga'``
        (``Solver.stream_learning_rate``). The value used is
        ``learning_rate_``. In :meth:`fit` with ``tol``, when the full
        objective stops improving (for about 10 updates, 20 for
        ``'minibatch'``, and at least an epoch) the batch size doubles (or
        hands over, see ``solver``), with
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
        that says how far it is. Where the objective is flat (nearly
        separable classes) a small gradient is not a small gap: a point is
        certified only when a Newton step's model decrease is also at most
        1e-4 of its objective (1e-8 for ``'newton'``; see the user guide).
        With ``early_stopping``, ``tol`` is the improvement of the
        validation score instead. None runs ``max_iter`` epochs and
        measures nothing (the last iterate is returned).
    n_iter_no_change : int, default=10
        With ``early_stopping``: epochs without an improvement of the
        validation score by ``tol`` before stopping.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` (stratified), stop on its accuracy
        weighted by ``sample_weight`` (as ``SGDClassifier``), keep the best
        epoch's parameters. Only for :meth:`fit`; it copies the training rows.
    validation_fraction : float, default=0.1
        Share of the data held out for early stopping, in (0, 1).
    shuffle : bool, 'samples' or 'blocks', default=True
        How each epoch visits the data. ``'samples'``: a new order of the
        samples each epoch, minibatches gathered into a buffer (``X`` is not
        copied); sorted rows are as safe as shuffled ones. True: the same,
        in runs of 16 rows on dense data of 1,024 rows or more (see the user
        guide: 400k x 100, adam's epoch 7.1 -> 2.6 reads of ``X``).
        ``'blocks'``: minibatches are consecutive rows, views of ``X`` that
        are never gathered; each epoch shifts their boundaries by a random
        offset and visits them in a random order. It saves the gathering
        (see the user guide for the measured cost), but rows that are sorted
        stay close together: shuffle such data once beforehand
        (``sklearn.utils.shuffle``). False: the same consecutive minibatches
        in order every epoch. ``solver='saga'``, which steps on one sample at
        a time, reads True and ``'blocks'`` alike: on 1,024 samples or more
        it visits runs of 16 consecutive rows in a random order, sorted rows
        included (see :class:`~sklearn_adamlr.solvers._saga.Saga`);
        ``'samples'`` keeps a permutation of the samples.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffling and the early-stopping split. Pass an int for
        reproducible results.
    warm_start : bool, default=False
        Start :meth:`fit` from the current ``coef_`` and ``intercept_``. The
        solver state and step count start afresh, as in ``MLPClassifier``.
        Where the classes or features changed, from zero, with a warning.
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
    solver_ : str
        The solver that ran (the name ``solver='auto'`` chose).
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
        "C": [Interval(numbers.Real, 0, None, closed="right")],
        "l1_ratio": [Interval(numbers.Real, 0, 1, closed="both")],
        "fit_intercept": ["boolean"],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "solver": [StrOptions({"auto"}), str, HasMethods(["init_state", "update"])],
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
        solver="auto",
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

    @property
    def penalty(self):
        """The kind of penalty, read from ``l1_ratio`` and ``C`` (read-only).

        ``'l1'`` (``l1_ratio=1``), ``'l2'`` (``l1_ratio=0``),
        ``'elasticnet'`` in between, None with ``C=np.inf``: the values of
        :class:`~sklearn.linear_model.LogisticRegression`'s ``penalty``. Not
        a parameter (``get_params`` does not list it): it lets scikit-learn
        recognise an L1 model, e.g.
        :class:`~sklearn.feature_selection.SelectFromModel`, whose default
        threshold is then 1e-5 (every non-zero coefficient) rather than the
        mean.

        Examples
        --------
        >>> from sklearn_adamlr import AdamLogisticRegression
        >>> AdamLogisticRegression(l1_ratio=1.0).penalty
        'l1'
        """
        if np.isinf(self.C):
            return None
        if self.l1_ratio == 1:
            return "l1"
        return "l2" if self.l1_ratio == 0 else "elasticnet"

    @classmethod
    def _get_param_names(cls):
        # scikit-learn reads __init__'s signature on every get_params, twice
        # a fit (31 us each, of a 1.9 ms gd fit on breast_cancer); it never
        # changes, so it is read once per class
        return _init_parameters(cls)

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
        if self.tol is not None and not (result.converged or result.requested_stop):
            warn_user(
                not_converged_message(self, result, X, returned), ConvergenceWarning
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
        inputs = fit_inputs(self, X, y, sample_weight, classes, incremental, first_call)
        alpha = 0.0 if np.isinf(self.C) else 1.0 / (self.C * inputs.weight_sum)
        penalty = ElasticNet(alpha=alpha, l1_ratio=self.l1_ratio)
        name = self.solver
        if isinstance(name, str) and name == "auto":
            name = choose_solver(
                self.l1_ratio, incremental, inputs.X, self.fit_intercept,
                inputs.loss.n_outputs(len(inputs.classes_)),
                alpha=alpha, moments=inputs.moments,
            )  # fmt: skip
        solver = get_solver(name, self.get_params())
        params, stream = start_stream(self, solver, inputs, incremental, first_call)
        # raw features' preconditioner: a fit's (hand-overs' solvers take it)
        precondition = solver.preconditioned and not incremental
        problem, validation = self._problem(
            inputs, penalty, stream.rng, precondition, sample_weight
        )
        auto_batch = self.batch_size == "auto"
        batch_size = min(200, problem.n_samples) if auto_batch else self.batch_size
        learning_rate, rate_for_batch = step_size(
            self, solver, problem, batch_size, incremental, first_call
        )
        max_epochs = 1 if incremental else self.max_iter
        context = root_context(self, max_epochs)
        callbacks = callback_monitor(self, context, inputs, X, sample_weight)
        previous = list(self.loss_curve_) if incremental and not first_call else []
        result = train(
            problem,
            params,
            solver,
            stream.solver_state,
            learning_rate=learning_rate,
            schedule=make_schedule(self.schedule, self.power_t),
            t=stream.t,
            max_epochs=max_epochs,
            batch_size=batch_size,
            shuffle=self.shuffle,
            rng=stream.rng,
            tol=None if incremental else self.tol,
            n_iter_no_change=self.n_iter_no_change,
            validation=validation,
            verbose=self.verbose,
            previous_losses=previous,
            epoch_offset=len(previous),
            rate_scale=stream.rate_scale,
            rate_for_batch=rate_for_batch,
            average=stream.average,
            monitors=() if callbacks is None else (callbacks,),
            hand_over=hands_over(solver, incremental, callbacks, inputs),
        )
        solver, params, result = finish(
            self, inputs, problem, solver, params, result, alpha, stream.rng
        )
        params = self._commit(inputs, params, stream, result, learning_rate, previous)
        if type(solver) is not stream.solver_class:  # handed over
            self.solver_ += "+" + solver.name
        if callbacks is not None:
            callbacks.end()
        return result, inputs.X, (problem, params, solver)

    def _problem(self, inputs, penalty, rng, precondition, sample_weight):
        """The loop's :class:`Problem`, and the validation score of early stopping."""
        X, target, sw = inputs.X, inputs.target, inputs.sample_weight
        validation = None
        if self.early_stopping:
            X, target, sw, validation = split_validation(
                inputs, self.validation_fraction, rng.generator, sample_weight
            )
        args = (X, self.fit_intercept, X.dtype, penalty.l2, inputs.loss.curvature)
        # (all the rows' moments also serve the training rows: any positive
        # diagonal is a valid preconditioner)
        precond = diagonal(*args, inputs.moments) if precondition else None
        problem = Problem(
            X=X, target=target, sample_weight=sw, loss=inputs.loss,
            penalty=penalty, fit_intercept=self.fit_intercept,
            weight_total=inputs.weight_sum if inputs.distributed else None,
            precond=precond,
        )  # fmt: skip
        return problem, validation

    def _commit(self, inputs, params, stream, result, learning_rate, previous):
        """Set the fitted attributes; the returned point (packed).

        Nothing before it touched them, so a call that raises earlier leaves
        the estimator as it was.
        """
        stream.iterate = None
        if result.best_params is not None:
            params = result.best_params
        elif stream.average is not None:
            stream.iterate = params
            if stream.average.preferred:
                params = stream.average.point
        n_features = inputs.X.shape[1]
        self.classes_ = inputs.classes_
        self.coef_, self.intercept_ = unpack(params, n_features, self.fit_intercept)
        self.t_ = stream.t = result.t
        self.loss_curve_ = previous + result.losses
        # previous: the loss curve of a resumed stream's earlier calls
        self.n_iter_ = self.n_iter_ + 1 if previous else result.n_epochs
        self.learning_rate_ = learning_rate
        solver = stream.solver_class
        self.solver_ = getattr(solver, "name", None) or solver.__name__
        self.optimality_ = result.optimality
        # (partial_fit refuses early_stopping)
        scores = result.validation_scores if self.early_stopping else None
        self.validation_scores_ = scores
        self.best_validation_score_ = None if scores is None else max(scores)
        stream.solver_state = result.state
        stream.rate_scale = result.rate_scale
        self._stream = stream
        return params
