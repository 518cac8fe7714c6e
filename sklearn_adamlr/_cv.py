"""``AdamLogisticRegressionCV``: ``C`` and ``l1_ratio`` chosen along warm paths."""

import numbers

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import get_scorer
from sklearn.model_selection import check_cv
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    _raise_for_params,
    _routing_enabled,
    process_routing,
)
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from ._engines import FIRST_ORDER_GAP_SHARE
from ._estimator import AdamLogisticRegression, _rollback_on_error
from ._inputs import sample_weights
from ._loss import loss_for, raw_prediction
from ._path import fit_path
from ._predict import LinearPredictions
from ._stream_state import unpack
from ._warn import warn_user


class AdamLogisticRegressionCV(LinearPredictions, ClassifierMixin, BaseEstimator):
    """Logistic regression with ``C`` chosen by cross-validation along a path.

    :class:`~sklearn.linear_model.LogisticRegressionCV`'s interface, on
    :class:`AdamLogisticRegression`'s objective and solvers. For each fold
    and each ``l1_ratio``, the fits run from the strongest penalty (the
    smallest ``C``) to the weakest, each starting from the previous ``C``'s
    solution with a fresh solver state: near each other, most fits need a
    few steps (see the user guide's path section for the counts). The
    folds run in parallel with ``n_jobs``. The ``(l1_ratio, C)`` with the
    best mean score over the folds is then refit on all the data, starting
    from the mean of the folds' solutions there. The folds' fits, which only
    give scores, are certified as the first-order solvers' are (a Newton
    step's model decrease at most 1e-4 of the objective, see ``tol``); the
    refit as its solver's own (1e-8 for ``'newton'``).

    Parameters
    ----------
    Cs : int or array-like of float, default=10
        The values of ``C`` to try; an int ``n`` gives ``np.logspace(-4, 4,
        n)``, as ``LogisticRegressionCV``'s.
    l1_ratios : array-like of float, default=(0.0,)
        Elastic-net mixings to try, in [0, 1].
    fit_intercept : bool, default=True
    cv : int, cross-validation generator or iterable, default=None
        As :func:`~sklearn.model_selection.check_cv` takes it: None is
        5-fold stratified.
    scoring : str or callable, default=None
        A scorer's name or a callable ``scorer(estimator, X, y)``, as
        :func:`~sklearn.metrics.get_scorer` takes it; None is accuracy, as
        ``LogisticRegressionCV``'s default.
    solver : 'auto', str or Solver, default='auto'
        As :class:`AdamLogisticRegression`'s (``'auto'`` chooses per fold:
        ``'newton'`` on raw features, ``'lbfgs'``, or ``'gd'`` with an L1
        part).
    tol : float, default=5e-5
        The certificate of each fit (see :class:`AdamLogisticRegression`).
    max_iter : int, default=1000
        Maximum epochs of each fit.
    class_weight : dict or 'balanced', default=None
        As :class:`AdamLogisticRegression`'s.
    n_jobs : int, default=None
        Folds fitted in parallel (joblib).
    verbose : int, default=0
        joblib's verbosity over the folds.
    refit : bool, default=True
        Refit at the best ``(l1_ratio, C)`` on all the data. If False,
        ``coef_`` is the mean of the folds' solutions at each fold's best
        pair, and ``C_`` (``l1_ratio_``) the mean of those pairs' values, as
        ``LogisticRegressionCV`` does.
    random_state : int, RandomState instance or None, default=None
        For the stochastic solvers' orders.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
    intercept_ : ndarray of shape (1,) or (n_classes,)
    Cs_ : ndarray of shape (n_cs,)
        The values of ``C``, increasing.
    l1_ratios_ : ndarray of shape (n_l1_ratios,)
    C_ : float
        The chosen ``C``.
    l1_ratio_ : float
        The chosen ``l1_ratio``.
    scores_ : ndarray of shape (n_folds, n_l1_ratios, n_cs)
        Each fold's score on its held-out part.
    coefs_paths_ : ndarray of shape (n_folds, n_l1_ratios, n_cs, n_outputs, \
n_features + fit_intercept)
        Each fit's coefficients, the intercept last (``n_outputs`` is 1 for
        two classes); ``LogisticRegressionCV``'s layout with
        ``use_legacy_attributes=False``.
    n_iter_ : ndarray of shape (n_folds, n_l1_ratios, n_cs)
        Epochs of each fit.
    solver_ : str
        The solver of the refit (or of the folds' fits without it).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Defined only when ``X`` has feature names that are all strings.

    See Also
    --------
    AdamLogisticRegression : The model at one ``C``.
    sklearn.linear_model.LogisticRegressionCV : The same search with
        scikit-learn's solvers.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_adamlr import AdamLogisticRegressionCV
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(), AdamLogisticRegressionCV(Cs=5))
    >>> model.fit(X, y)[-1].C_
    1.0
    >>> model[-1].scores_.shape
    (5, 1, 5)
    """

    _parameter_constraints = {
        "Cs": [Interval(numbers.Integral, 1, None, closed="left"), "array-like"],
        "l1_ratios": ["array-like"],
        "fit_intercept": ["boolean"],
        "cv": ["cv_object"],
        "scoring": [str, callable, None],
        "solver": AdamLogisticRegression._parameter_constraints["solver"],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "n_jobs": [numbers.Integral, None],
        "verbose": ["verbose"],
        "refit": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        Cs=10,
        l1_ratios=(0.0,),
        fit_intercept=True,
        cv=None,
        scoring=None,
        solver="auto",
        tol=5e-5,
        max_iter=1000,
        class_weight=None,
        n_jobs=None,
        verbose=0,
        refit=True,
        random_state=None,
    ):
        self.Cs = Cs
        self.l1_ratios = l1_ratios
        self.fit_intercept = fit_intercept
        self.cv = cv
        self.scoring = scoring
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.refit = refit
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _template(self):
        """The plain estimator whose settings every fit of the search uses."""
        return AdamLogisticRegression(
            fit_intercept=self.fit_intercept,
            class_weight=self.class_weight,
            solver=self.solver,
            tol=self.tol,
            max_iter=self.max_iter,
            random_state=self.random_state,
        )

    def _grid(self):
        """``(Cs_, l1_ratios_)``, checked."""
        if isinstance(self.Cs, numbers.Integral):
            Cs = np.logspace(-4, 4, self.Cs)
        else:
            Cs = np.sort(np.asarray(self.Cs, dtype=np.float64).ravel())
        if len(Cs) == 0 or not np.all(Cs > 0):
            raise ValueError(f"Cs must be positive values, got {self.Cs!r}.")
        l1 = np.asarray(self.l1_ratios, dtype=np.float64).ravel()
        if len(l1) == 0 or not np.all((l1 >= 0) & (l1 <= 1)):
            raise ValueError(
                f"l1_ratios must be values in [0, 1], got {self.l1_ratios!r}."
            )
        return Cs, l1

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, **params):
        """Choose ``C`` (and ``l1_ratio``) by cross-validation, then refit.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the fits (and, with metadata routing, of the scorer
            if it requests them).
        **params : dict
            With metadata routing enabled, parameters routed to the splitter
            and the scorer.

        Returns
        -------
        self : object
        """
        _raise_for_params(params, self, "fit")
        with _rollback_on_error(self):
            return self._search(X, y, sample_weight, params)

    def _search(self, X, y, sample_weight, params):
        Cs, l1_ratios = self._grid()
        X, y = validate_data(
            self, X, y, accept_sparse="csr", dtype=[np.float64, np.float32]
        )
        check_classification_targets(y)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(
                "This solver needs samples of at least 2 classes in the data, "
                f"but the data contain only one class: {classes[0]!r}."
            )
        template = self._template()
        class_index = np.searchsorted(classes, y)
        loss = loss_for(len(classes))
        sw = sample_weights(template, X, y, classes, class_index, sample_weight)
        target = loss.encode(class_index, X.dtype)
        if _routing_enabled():
            routed = process_routing(self, "fit", sample_weight=sample_weight, **params)
        else:
            routed = Bunch(splitter=Bunch(split={}), scorer=Bunch(score={}))
        cv = check_cv(self.cv, y, classifier=True)
        folds = list(cv.split(X, y, **routed.splitter.split))
        # The default, accuracy, straight from the raw predictions: sklearn's
        # scorer checks its inputs at each call, 1.2 ms of breast_cancer's
        # 2.4 ms per fit of the search (measured, one thread).
        fast = self.scoring is None and not routed.scorer.score
        scorer = None if fast else get_scorer(self.scoring or "accuracy")
        data = (X, y, target, sw, loss, classes, class_index)
        runs = Parallel(n_jobs=self.n_jobs, verbose=self.verbose)(
            delayed(_fold_path)(
                template,
                data,
                train,
                test,
                Cs,
                l1_ratios,
                scorer,
                _fold_params(routed.scorer.score, test),
            )  # fmt: skip
            for train, test in folds
        )
        paths = np.array([run[0] for run in runs])  # (folds, l1, cs, p, k)
        self.scores_ = np.array([run[1] for run in runs])
        self.n_iter_ = np.array([run[2] for run in runs])
        self.coefs_paths_ = np.swapaxes(paths, -1, -2)
        self.Cs_, self.l1_ratios_, self.classes_ = Cs, l1_ratios, classes
        not_converged = sum(run[3] for run in runs)
        solvers = runs[0][4]
        mean = self.scores_.mean(axis=0).ravel()
        best = int(np.argmax(mean))
        best_l1, best_c = divmod(best, len(Cs))
        d = X.shape[1]
        if self.refit:
            self.C_, self.l1_ratio_ = float(Cs[best_c]), float(l1_ratios[best_l1])
            start = paths[:, best_l1, best_c].mean(axis=0)
            path = fit_path(
                template, X, target, sw, loss, len(classes), [self.C_],
                self.l1_ratio_, start=start,
            )  # fmt: skip
            params = path.params[0]
            not_converged += int(not path.converged[0])
            self.solver_ = path.solvers[0]
        else:
            # each fold's own best pair, averaged (LogisticRegressionCV's rule)
            per_fold = self.scores_.reshape(len(folds), -1).argmax(axis=1)
            l1_idx, c_idx = np.divmod(per_fold, len(Cs))
            self.C_ = float(Cs[c_idx].mean())
            self.l1_ratio_ = float(l1_ratios[l1_idx].mean())
            params = paths[np.arange(len(folds)), l1_idx, c_idx].mean(axis=0)
            self.solver_ = solvers
        self.coef_, self.intercept_ = unpack(params, d, self.fit_intercept)
        if not_converged:
            warn_user(
                f"{not_converged} of the search's fits stopped at "
                f"max_iter={self.max_iter} before their certificate (the "
                "weakest penalties' are the slowest): increase max_iter, or "
                "leave out the largest Cs.",
                ConvergenceWarning,
            )
        return self

    def score(self, X, y, sample_weight=None, **score_params):
        """The ``scoring`` of the refit model on ``(X, y)`` (accuracy by default).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
        **score_params : dict
            With metadata routing enabled, parameters of the scorer.

        Returns
        -------
        score : float
        """
        _raise_for_params(score_params, self, "score")
        scorer = get_scorer(self.scoring if self.scoring is not None else "accuracy")
        if _routing_enabled():
            routed = process_routing(
                self, "score", sample_weight=sample_weight, **score_params
            )
            return scorer(self, X, y, **routed.scorer.score)
        if sample_weight is not None:
            return scorer(self, X, y, sample_weight=sample_weight)
        return scorer(self, X, y)

    def get_metadata_routing(self):
        """Where ``fit`` and ``score`` send their metadata: splitter, scorer.

        Returns
        -------
        routing : MetadataRouter
        """
        scorer = get_scorer(self.scoring if self.scoring is not None else "accuracy")
        return (
            MetadataRouter(owner=self)
            .add(
                splitter=check_cv(self.cv),
                method_mapping=MethodMapping().add(caller="fit", callee="split"),
            )
            .add(
                scorer=scorer,
                method_mapping=MethodMapping()
                .add(caller="fit", callee="score")
                .add(caller="score", callee="score"),
            )
        )


def _fold_params(score_params, test):
    """The scorer's per-sample metadata of the held-out rows."""
    out = {}
    for key, value in score_params.items():
        out[key] = np.asarray(value)[test] if value is not None else None
    return out


def _fold_path(template, data, train, test, Cs, l1_ratios, scorer, score_params):
    """One fold: a path per ``l1_ratio``, each fit scored on the held-out rows."""
    X, y, target, sw, loss, classes, class_index = data
    Xt, tt = X[train], target[train]
    swt = None if sw is None else sw[train]
    model = AdamLogisticRegression(fit_intercept=template.fit_intercept)
    model.classes_ = classes
    model.n_features_in_ = X.shape[1]
    d = X.shape[1]
    # the held-out rows, taken once for every fit's score
    Xv, yv, iv = X[test], y[test], class_index[test]
    paths, scores, n_iter = [], [], []
    not_converged = 0
    for l1_ratio in l1_ratios:
        # Its fits only give scores: certified at the first-order solvers'
        # gap share where newton's own asks 1e-8 of the objective (5 folds x
        # 10 Cs of standardized breast_cancer, one thread: 35 -> 30 ms, wine
        # 49 -> 42 ms, iris 45 -> 40 ms; the same scores to 4 digits and C).
        path = fit_path(template, Xt, tt, swt, loss, len(classes), Cs, l1_ratio,
                        gap_share=FIRST_ORDER_GAP_SHARE)  # fmt: skip
        row = []
        for params in path.params:
            if scorer is None:
                row.append(_accuracy(Xv, iv, params, d))
                continue
            model.coef_, model.intercept_ = unpack(params, d, template.fit_intercept)
            row.append(scorer(model, Xv, yv, **score_params))
        paths.append(path.params)
        scores.append(row)
        n_iter.append(path.n_iter)
        not_converged += int((~path.converged).sum())
    return (
        np.array(paths),
        np.array(scores),
        np.array(n_iter),
        not_converged,
        path.solvers[-1],
    )


def _accuracy(X, class_index, params, n_features):
    """The share of rows whose largest raw prediction is their class's."""
    raw = raw_prediction(X, params, n_features)
    if raw.shape[1] == 1:
        predicted = (raw[:, 0] > 0).astype(np.intp)
    else:
        predicted = raw.argmax(axis=1)
    return float(np.mean(predicted == class_index))
