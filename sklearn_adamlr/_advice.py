"""What a fit that stops short says: how far it can be, and what to do."""

import numpy as np
from scipy import sparse

from ._duality import scaled_gap
from .solvers._newton import MATRIX_MAX


def column_moments(X):
    """``(rms, mean, std)`` of each column of ``X``, in blocks (None on dask).

    On dense ``X`` the spread is summed about the first row, so that a
    constant column's ``std`` is exactly 0: from ``rms^2 - mean^2`` the
    rounding left 7.5e-9 on a fold of standardized digits whose rare pixel
    was left out (a constant -0.047), which then looked 6e6 times further
    from centred than its spread.
    """
    if hasattr(X, "column_scales"):  # data on a cluster (_dask)
        return X.column_scales(), None, None
    dense = not sparse.issparse(X) and X.shape[0] > 0
    # sums of the (squared) differences from the first row (from 0 on CSR)
    shift = np.asarray(X[0], dtype=np.float64) if dense else 0.0
    sums = np.zeros(X.shape[1])
    squares = np.zeros(X.shape[1])
    # blocks of at most 4,096 rows and 2**22 entries: the differences are a
    # float64 copy of a block (32 MB at most, on any width)
    rows = max(1, min(4096, 2**22 // max(X.shape[1], 1)))
    for start in range(0, X.shape[0], rows):
        block = X[start : start + rows]
        if sparse.issparse(block):
            squares += np.asarray(block.multiply(block).sum(axis=0)).ravel()
            sums += np.asarray(block.sum(axis=0, dtype=np.float64)).ravel()
        else:
            diff = block - shift
            squares += np.einsum("ij,ij->j", diff, diff)
            sums += diff.sum(axis=0)
    n = max(X.shape[0], 1)
    # Squares beyond float64's range give inf (or nan) without a numpy
    # warning: the callers test for them, and the fit then raises a
    # ValueError that says to scale the features.
    with np.errstate(over="ignore", invalid="ignore"):
        moved = sums / n
        mean = shift + moved
        variance = np.maximum(squares / n - moved**2, 0.0)
        rms = np.sqrt(variance + mean**2) if dense else np.sqrt(squares / n)
        return rms, mean, np.sqrt(variance)


# Rows sampled for the columns' moments by the solver rule (_auto) and the
# raw features' preconditioner (_precondition): a fit reads them once.
SAMPLE_ROWS = 2048


def sampled_moments(X, rows=SAMPLE_ROWS):
    """:func:`column_moments` of a strided sample of about ``rows`` of ``X``'s rows.

    A strided view, not a copy: a few microseconds on any data.
    """
    return column_moments(X[:: max(1, X.shape[0] // rows)])


# Columns far from centred: a column's RMS over its standard deviation
# beyond this (its mean dwarfs its spread, and its coefficient is tangled
# with the intercept's). Measured: raw iris 7.1 (sepal width: mean 3.06,
# standard deviation 0.43), where gd, minibatch, adam and saga stop at
# max_iter; min-max scaled uniform columns 2; standardized 1.
UNCENTERED = 3.0


# Raw features: the root mean squares of X's non-zero columns (and of the
# intercept's column of ones) further apart than this factor. Measured on
# the bundled sets: raw breast_cancer 2.3e5, wine 2.1e3, digits 545 (its
# rare pixels), iris 5.9; standardized 1. lbfgs, gd and the minibatch
# solvers stop short on the first three (lbfgs's relative gaps 8e-2, 5e-1
# and 5e-2 at C=1), and reach 1e-6 on raw iris.
SCALE_SPREAD = 10.0


def spread(scales, fit_intercept, std=None):
    """The largest of the non-zero ``scales`` over the smallest (1: none).

    The intercept's column of ones counts as a column of scale 1, and with
    it a column without spread (``std`` 0: a constant) counts only when
    larger: a smaller constant moves the predictions along the intercept's
    direction, at no more than its curvature, while a larger one raises
    the curvature (a constant 1e6 beside standardized breast_cancer stops
    minibatch far short). Measured: a fold of standardized digits that
    leaves out a rare pixel's few non-zero rows keeps that column at a
    constant -0.047, which made the spread 47 and sent the default fit to
    newton (57 ms against lbfgs's 26 at C=1) and lbfgs to the
    preconditioner (98 epochs against 50).
    """
    present = scales > 0
    if fit_intercept and std is not None:
        present &= (std > 0) | (scales > 1.0)
    present = scales[present]
    if fit_intercept:
        present = np.append(present, 1.0)
    if len(present) == 0:
        return 1.0
    return float(present.max() / present.min())


_NEWTON = ", or use solver='newton', whose steps do not depend on the scales"


def scale_advice(scales, fit_intercept=True, means=None, newton=True, std=None):
    """A sentence naming badly scaled (or uncentred) columns, or an empty string.

    ``newton``: whether ``solver='newton'`` can run the fit (not with an L1
    part beyond its matrix form), to name it.
    """
    ratio = spread(scales, fit_intercept, std)
    cure = (
        " Standardize them, e.g. make_pipeline(StandardScaler(), "
        f"AdamLogisticRegression()){_NEWTON if newton else ''}."
    )
    if ratio <= SCALE_SPREAD:
        named = centring_advice(scales, means, std) if fit_intercept else ""
        return named + cure if named else ""
    order = np.argsort(scales)
    nonzero = order[scales[order] > 0]
    largest = ", ".join(f"{j} (RMS {scales[j]:.3g})" for j in nonzero[::-1][:3])
    smallest = ", ".join(f"{j} (RMS {scales[j]:.3g})" for j in nonzero[:3])
    ones = " (the intercept's column of ones counts, at 1)" if fit_intercept else ""
    return (
        f" The features are on very different scales: the largest columns "
        f"are {largest}, the smallest {smallest}: {ratio:.3g} times apart"
        f"{ones}." + cure
    )


def centring(scales, std):
    """Each column's RMS over its standard deviation.

    0 for a column without spread (constant: ``std`` from
    :func:`column_moments` is exactly 0 there); 1 for a centred one.
    """
    keep = std > 1e-12 * np.maximum(scales, 1e-300)
    ratio = np.zeros_like(scales)
    ratio[keep] = scales[keep] / std[keep]
    return ratio


def centring_advice(scales, means, std):
    """A sentence naming columns far from centred, or an empty string."""
    if means is None:
        return ""
    ratio = centring(scales, std)
    if not ratio.max(initial=0.0) > UNCENTERED:
        return ""
    worst = np.argsort(ratio)[::-1][:3]
    named = ", ".join(
        f"{j} (mean {means[j]:.3g}, standard deviation {std[j]:.3g})"
        for j in worst
        if ratio[j] > UNCENTERED
    )
    return f" The features are far from centred: columns {named}."


def not_converged_message(estimator, result, X, returned):
    """What a fit that did not meet its certificate says, and what to do.

    ``returned`` is the ``(problem, params, solver)`` of the returned model: with
    the data in memory, a duality gap then says how far it can be from
    the optimum (two passes over ``X``, paid only by a fit that warns).
    """
    if result.optimality is None:  # early stopping: the validation rule
        return (
            f"Maximum number of epochs (max_iter={estimator.max_iter}) reached "
            "and the validation score was still improving. Increase "
            "max_iter or n_iter_no_change, or check validation_scores_."
        )
    problem, params, solver = returned
    if result.optimality <= estimator.tol and result.gap_estimate is not None:
        return flat_message(estimator, result, solver)
    message = (
        f"The fit stopped after max_iter={estimator.max_iter} epochs at "
        f"optimality {result.optimality:.3g}, above tol={estimator.tol:g} "
        "(max-abs of the minimum-norm subgradient of the objective "
        "divided by C * sum(sample_weight); see tol). Its objective is "
        f"{result.objective:.6g} per unit weight, from "
        f"{result.start_objective:.6g} at the start."
    )
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
    scales, means, std = column_moments(X)
    newton = not (problem.penalty.has_prox and params.size > MATRIX_MAX)
    advice = scale_advice(scales, estimator.fit_intercept, means, newton, std)
    message += advice + " Increase max_iter"
    # gd stops short on raw data too: the advice then names newton instead
    if not (solver.full_batch or advice):
        message += ", or use solver='gd', which adapts its step to the local smoothness"
    return message + "."


def flat_message(estimator, result, solver):
    """A fit whose gradient met ``tol`` but whose gap estimate did not."""
    gap, at, share = result.gap_estimate
    relative = gap / abs(at) if at else np.inf
    message = (
        f"The fit stopped after max_iter={estimator.max_iter} epochs with its "
        f"optimality {result.optimality:.3g} within tol={estimator.tol:g}, "
        "but the objective is flat there (nearly separable classes, a weak "
        f"penalty): a Newton step's model puts it about {relative:.2g} "
        f"(relative) above the optimum, where a fit is certified at {share:g}. "
        "Increase max_iter"
    )
    if getattr(solver, "name", None) != "newton":
        message += ", or use solver='newton', whose steps reach it"
    return message + ", or use a smaller C."
