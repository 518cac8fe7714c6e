"""A backtracking line search on the scaled objective (Armijo's rule).

Newton's steps (:class:`~sklearn_adamlr.solvers.Newton`) and the Newton
steps that the certificate hands a quasi-Newton solver
(:class:`~sklearn_adamlr._certify.NewtonStep`) are scaled by it.
"""

import numpy as np

from ._loss import raw_prediction

# Armijo's sufficient decrease: a step is accepted when the objective drops
# by at least this share of the decrease the model predicts.
_ARMIJO = 1e-4


def line_search(problem, params, raw, grad, step, value, alpha=1.0):
    """``(loss sum, alpha, halvings)`` of a backtracking line search (alpha 0: none).

    The first ``alpha`` of ``alpha, alpha / 2, ...`` (40 halvings at most)
    at which ``params + alpha * step`` lowers the scaled objective ``value``
    by at least ``1e-4 * alpha * |decrease|`` (Armijo), ``decrease`` being
    the model's predicted change: the slope ``grad^T step`` (``grad`` the
    smooth part's gradient at ``params``), plus the L1 part's change. None
    is taken along a direction that does not descend. ``raw`` are the raw
    predictions of ``params``; one pass over ``X`` gives those of ``step``,
    after which a trial costs the loss on them, no pass.
    """
    d, W, penalty = problem.n_features, problem.weight_sum, problem.penalty
    step = step.astype(params.dtype)
    decrease = float(np.vdot(grad.astype(np.float64), step))
    if penalty.has_prox:
        decrease += penalty.l1 * float(
            np.abs(params[:d] + step[:d]).sum() - np.abs(params[:d]).sum()
        )
    if not decrease < 0.0:
        return 0.0, 0.0, 0
    moved = raw_prediction(problem.X, step, d)
    # Rounding in the objective's sum: near the optimum a full step's
    # decrease is below it, and is taken when the objective does not
    # rise beyond it.
    slack = 8 * np.finfo(params.dtype).eps * max(abs(value), 1.0)
    scratch = np.empty_like(raw)
    for halvings in range(40):
        trial = raw + alpha * moved
        with np.errstate(over="ignore", invalid="ignore"):
            loss_sum = problem.loss.loss_gradient(
                trial, problem.target, problem.sample_weight, scratch
            )
        coef = params[:d] + alpha * step[:d]
        new_value = loss_sum / W + penalty.value(coef)
        if new_value <= value + _ARMIJO * alpha * decrease + slack:
            return loss_sum, alpha, halvings
        alpha *= 0.5
    return 0.0, 0.0, 40
