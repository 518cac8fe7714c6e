"""A regularization path: fits over increasing ``C``, each from the one before.

:func:`fit_path` trains the plain estimator's problem (:class:`Problem`, the
loop of :func:`~sklearn_adamlr._training.train`, the registered solvers) at
each ``C`` in turn, from the strongest penalty to the weakest, starting each
fit from the previous one's solution. The solver's state starts afresh at
each ``C`` (an L-BFGS memory holds the curvature of another objective; a
Newton step keeps nothing but its start point).
"""

from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_random_state

from ._advice import sampled_moments
from ._auto import choose_solver
from ._penalties import ElasticNet
from ._precondition import diagonal
from ._problem import Problem, step_size
from ._training import fresh_run
from .solvers import get_solver


@dataclass
class PathFit:
    """The fits of one path.

    Attributes
    ----------
    params : ndarray of shape (n_cs, n_params, n_outputs)
        The packed parameters at each ``C`` (features, then the intercept).
    n_iter : ndarray of shape (n_cs,)
        Epochs of each fit.
    converged : ndarray of shape (n_cs,) of bool
    solvers : list of str
        The solver that ran at each ``C``.
    """

    params: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    solvers: list


def fit_path(template, X, target, sample_weight, loss, n_classes, Cs, l1_ratio,
             start=None, gap_share=None):  # fmt: skip
    """Fit ``template``'s model at each of ``Cs``, in order, warm-started.

    Parameters
    ----------
    template : AdamLogisticRegression
        Its solver, tolerance, step and data parameters are used (its ``C``
        and ``l1_ratio`` are not).
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
    target : ndarray of shape (n_samples,)
        Encoded targets (see the loss's ``encode``).
    sample_weight : ndarray of shape (n_samples,) or None
        Sample weights times class weights.
    loss : BinaryLogLoss or MultinomialLogLoss
    n_classes : int
    Cs : sequence of float
        In the order to fit them: increasing, for a path from the strongest
        penalty.
    l1_ratio : float
    start : ndarray of shape (n_params, n_outputs), default=None
        The first fit's start (zeros by default).
    gap_share : float or None, default=None
        The certificates' gap share where above the solver's own (see
        :class:`~sklearn_adamlr._certify.Certificate`): a fold's fits,
        which only give scores, certify at the first-order solvers' share.

    Returns
    -------
    path : PathFit
    """
    n, d = X.shape
    k = loss.n_outputs(n_classes)
    fit_intercept = template.fit_intercept
    shape = (d + int(fit_intercept), k)
    params = np.zeros(shape, dtype=X.dtype)
    if start is not None:
        params[...] = start
    W = float(n) if sample_weight is None else float(sample_weight.sum())
    batch_size = min(200, n) if template.batch_size == "auto" else template.batch_size
    fits = np.empty((len(Cs),) + shape, dtype=X.dtype)
    n_iter = np.zeros(len(Cs), dtype=int)
    converged = np.zeros(len(Cs), dtype=bool)
    solvers = []
    auto = isinstance(template.solver, str) and template.solver == "auto"
    hyper = template.get_params()
    # raw features (measured once: the scales do not change with C)
    moments = sampled_moments(X) if isinstance(X, np.ndarray) else None
    raw = diagonal(X, fit_intercept, X.dtype, moments=moments) is not None
    for i, C in enumerate(Cs):
        if i >= 2 and np.all(np.isfinite(Cs[i - 2 : i + 1])):
            # The start: the last two solutions' line, extrapolated in log C.
            # Measured on 5 folds x 10 Cs of standardized data, one thread:
            # breast_cancer 40 -> 36 ms (newton), wine 61 -> 45 ms, digits
            # 2.4 -> 1.6 s (newton) and 2.6 -> 1.6 s (lbfgs).
            ratio = np.log(C / Cs[i - 1]) / np.log(Cs[i - 1] / Cs[i - 2])
            params += ratio * (fits[i - 1] - fits[i - 2])
        alpha = 0.0 if np.isinf(C) else 1.0 / (C * W)
        # under 'auto', chosen at each C (see choose_solver's path rule)
        name = template.solver
        if auto:
            name = choose_solver(
                l1_ratio, False, X, fit_intercept, k, True, alpha, moments
            )
        penalty = ElasticNet(alpha=alpha, l1_ratio=l1_ratio)
        # raw features: the first-order solvers' preconditioner, as in fit
        precond = (
            diagonal(X, fit_intercept, X.dtype, penalty.l2, loss.curvature, moments)
            if raw
            else None
        )
        problem = Problem(
            X, target, sample_weight, loss, penalty, fit_intercept, precond=precond
        )
        solver = get_solver(name, hyper)
        learning_rate, rate_for_batch = step_size(
            template, solver, problem, batch_size, False, True
        )
        result = fresh_run(
            template, problem, solver, params,
            learning_rate=learning_rate,
            max_epochs=template.max_iter,
            batch_size=batch_size,
            rng=check_random_state(template.random_state),
            rate_for_batch=rate_for_batch,
            gap_share=gap_share,
        )  # fmt: skip
        if result.best_params is not None:
            params[...] = result.best_params
        fits[i] = params
        n_iter[i] = result.n_epochs
        converged[i] = result.converged
        solvers.append(getattr(solver, "name", type(solver).__name__))
    return PathFit(fits, n_iter, converged, solvers)
