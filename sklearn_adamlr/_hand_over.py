"""The hand-over: a minibatch solver's ``fit`` finished by full-batch steps.

A certified ``fit`` of a solver with ``Solver.hand_over`` (``adam``,
``minibatch``) runs its minibatch steps until the batch would first grow:
their noise floor, where a pass over ``X`` buys little progress. The
full-batch solver that ``'auto'`` chooses for the problem (``lbfgs``;
``newton`` on raw or weakly penalised data; FISTA ``gd`` with an L1 part)
then goes on from the best point, under the same certificate. Measured on
400,000 x 100 standardized rows against ``LogisticRegression()``'s 0.38 s:
``adam`` 1.96 s on its own, 0.26 s handing over; ``minibatch`` 0.37 s.
"""

from ._auto import choose_solver
from ._problem import certified_step
from ._training import fresh_run
from .solvers import get_solver


def hands_over(solver, incremental, callbacks, inputs):
    """Whether a training call may hand over (``train``'s ``hand_over``).

    Only in ``fit``; not under scikit-learn's callbacks, which see one
    solver's epochs; not on dask arrays, whose minibatch steps travel to the
    blocks.
    """
    return (
        solver.hand_over
        and not incremental
        and callbacks is None
        and not inputs.distributed
    )


def finish(estimator, inputs, problem, solver, params, first, alpha, rng):
    """``(solver, params, result)`` after the full-batch steps of a hand-over.

    The arguments as they are when the minibatch steps did not hand over,
    or left no epoch of ``max_iter`` for the full-batch solver.

    Parameters
    ----------
    estimator : AdamLogisticRegression
    inputs : FitInputs
    problem : Problem
    solver : Solver
        The minibatch solver.
    params : ndarray
        The minibatch steps' last point (packed).
    first : TrainingResult
        The minibatch steps' result.
    alpha : float
        The penalty's strength, for ``'auto'``'s rules.
    rng : SeededRandomState or numpy.random.RandomState

    Returns
    -------
    solver : Solver
        The full-batch solver that ran.
    params : ndarray
        Its last point.
    result : TrainingResult
        Its result, with the epochs and losses of both parts, and the
        minibatch solver's state, clock and step factor: the stream keeps
        them, for a ``partial_fit`` after the ``fit``.
    """
    if not (first.hand_over and estimator.max_iter > first.n_epochs):
        return solver, params, first
    name = choose_solver(
        estimator.l1_ratio, False, inputs.X, estimator.fit_intercept,
        params.shape[1], alpha=alpha,
    )  # fmt: skip
    solver = get_solver(name, estimator.get_params())
    params = (params if first.best_params is None else first.best_params).copy()
    n = problem.n_samples
    learning_rate, rate_for_batch = certified_step(solver, problem, n)
    result = fresh_run(
        estimator, problem, solver, params,
        learning_rate=learning_rate,
        max_epochs=estimator.max_iter - first.n_epochs,
        batch_size=n,
        rng=rng,
        verbose=estimator.verbose,
        epoch_offset=first.n_epochs,
        rate_for_batch=rate_for_batch,
    )  # fmt: skip
    result.losses = first.losses + result.losses
    result.n_epochs += first.n_epochs
    result.start_objective = first.start_objective
    result.t, result.state = first.t, first.state
    result.rate_scale = first.rate_scale
    return solver, params, result
