"""``solver='auto'``: the solver of a call, by rules with their measurements.

The estimator's default. A named solver runs as named.
"""

import numpy as np
from scipy import sparse

from ._advice import SCALE_SPREAD, UNCENTERED, centring, sampled_moments, spread
from .solvers._newton import MATRIX_MAX

# The penalty's strength per unit weight, 1 / (C * sum(sample_weight)),
# below which the objective is flat enough for newton to be the quicker way
# to its certificate. Measured on standardized sets (one thread, best of 5;
# newton against lbfgs): breast_cancer at C=100 (alpha 1.8e-5) 2.4 against
# 4.6 ms, at C=1e4 2.8 against 27.5 ms; wine at C=100 (5.6e-5) 3.6 against
# 4.0 ms; iris at C=100 (6.7e-5) 2.7 against 1.6 ms; at C=1 (alpha 1.8e-3
# to 6.7e-3) lbfgs is quicker everywhere (1.2 to 1.5 ms against 1.9 to 2.5).
# Since lbfgs takes the certificate's Newton steps (_certify.NewtonStep) the
# two are within 10% of each other at C=100 and 1e4 (measured again,
# 2026-12-06: breast_cancer 1.78 against 1.78 and 2.18 against 2.34 ms; wine
# 3.05 against 3.24 and 3.91 against 3.92; iris 2.32 against 2.62, but 3.06
# against 2.00 at 1e4), and at C=1 (1.46 against 1.51 ms on breast_cancer,
# 2.00 against 1.90 on wine): the rule stays, for the few steps it takes.
WEAK_PENALTY = 1e-4

# The weak-penalty rule's rows at most: the flat objectives it is for are
# those of few rows (near separable); on 20,000 x 20 standardized rows at
# C=1 (alpha 5e-5) lbfgs took 8.6 ms and newton 15 ms.
SMALL_ROWS = 10_000


# Rule 5, lbfgs, the default elsewhere. Measured against
# LogisticRegression() on standardized breast_cancer, wine and iris:
# - first, 0.82x, 0.75x and 0.63x (its two-loop compiled; gd 1.3x, 1.0x,
#   1.0x; adam 3x to 5x; newton 1.3x, 1.6x, 1.2x, though to 1e-9 where
#   lbfgs stops near 1e-5);
# - again the same day, one thread: 1.0x, 1.05x, 0.85x compiled, and 1.54x,
#   1.54x to 1.6x, 1.34x to 1.4x on the numpy path, which a new process runs
#   for fits this small (see _kernels.pays; newton there 1.3x on
#   breast_cancer);
# - 1.04x, 1.25x and 1.13x once a fit's fixed costs were cut (newton 0.99x,
#   1.28x, 0.98x): a random generator made only when it draws, integer
#   labels not sent through type_of_target, one read of the columns'
#   moments, LAPACK's Cholesky called directly, and lbfgs's direction not
#   made where a Newton step replaces it;
# - 1.03x, 0.99x and 0.83x once three classes' Newton steps near the
#   optimum were direct solves too (newton 0.96x, 1.06x, 0.76x; 2026-12-07).
# On 400,000 x 100, 0.26x (gd 0.62x, adam 4.1x). On digits, 29 ms against
# 232 ms for LogisticRegression() with its default threads on 2 cores, but
# 13 ms with one thread: 2.3x (2026-12-06; newton 73 ms); then 1.6x to 1.7x
# once the softmax loss stopped using numpy's reductions along its short
# last axis (a call per row) and three or more classes ran numpy's matrix
# products instead of the compiled kernel, which also took 20,000 x 12 rows
# of 3 classes from 1.7x to 0.81x and 100,000 x 10 of 4 from 1.6x to 0.66x.
# On dask arrays each of its steps is one distributed pass.


def scale_spread(X, fit_intercept):
    """How far apart the columns' scales are (see ``_advice.spread``).

    Measured on a strided sample of the rows of dense ``X``; 1 for
    standardized data.
    """
    rms, _, std = sampled_moments(X)
    return spread(rms, fit_intercept, std)


def uncentred(X):
    """The largest RMS over standard deviation of a column (1: centred).

    On a strided sample of the rows of dense ``X``, the columns of non-zero
    spread; see ``_advice.UNCENTERED``.
    """
    rms, _, std = sampled_moments(X)
    return float(centring(rms, std).max(initial=1.0))


def _raw(X, fit_intercept, moments=None):
    """Rule 2's test: :func:`scale_spread` or :func:`uncentred`, one measure."""
    rms, _, std = sampled_moments(X) if moments is None else moments
    if spread(rms, fit_intercept, std) > SCALE_SPREAD:
        return True
    return fit_intercept and centring(rms, std).max(initial=1.0) > UNCENTERED


def choose_solver(
    l1_ratio,
    incremental,
    X=None,
    fit_intercept=True,
    n_outputs=1,
    path=False,
    alpha=None,
    moments=None,
):
    """The registered name that ``solver='auto'`` runs for a call.

    The first rule that applies:

    1. ``partial_fit``: ``'adam'``, the streaming optimizer;
       a path over ``C`` (:class:`~sklearn_adamlr.AdamLogisticRegressionCV`)
       of at most ``MATRIX_MAX`` parameters, without an L1 part (or with
       one, for two classes, where the penalty is not weak): ``'newton'``;
    2. raw features (dense ``X`` in memory whose columns' scales are more
       than ``_advice.SCALE_SPREAD`` (10) apart, see :func:`scale_spread`,
       or, with an intercept, a column whose mean is large against its
       spread, see :func:`uncentred`):
       ``'newton'``, whose steps do not depend on the scales (with an L1
       part, only where its Hessian is a matrix: at most ``MATRIX_MAX``
       parameters);
    3. a weak L2 penalty (``alpha`` below ``WEAK_PENALTY``, no L1 part), at
       most ``MATRIX_MAX`` parameters and ``SMALL_ROWS`` rows, ``X`` in
       memory: ``'newton'``;
    4. an L1 part (``l1_ratio > 0``): ``'gd'``, FISTA's proximal steps;
    5. otherwise: ``'lbfgs'``, the fewest passes over ``X``.

    Parameters
    ----------
    l1_ratio : float
    incremental : bool
        A ``partial_fit`` call.
    X : array-like of shape (n_samples, n_features), default=None
        The validated data of a ``fit`` (None: rule 2 does not apply).
    fit_intercept : bool, default=True
    n_outputs : int, default=1
        Columns of the parameters (1 for two classes, else the classes).
    path : bool, default=False
        The fits of a path over ``C``, each from the one before.
    alpha : float, default=None
        The penalty's strength per unit weight, ``1 / (C * sum(sw))``.
    moments : tuple of ndarray, default=None
        ``_advice.sampled_moments(X)``, where the caller has them.

    Returns
    -------
    name : str

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_adamlr._auto import choose_solver
    >>> choose_solver(0.0, incremental=False), choose_solver(1.0, False)
    ('lbfgs', 'gd')
    >>> choose_solver(0.0, incremental=True)
    'adam'
    >>> X = np.random.RandomState(0).normal(size=(50, 2)) * [1.0, 1000.0]
    >>> choose_solver(0.0, incremental=False, X=X)
    'newton'
    """
    if incremental:
        # Its moments carry from chunk to chunk: one pass of default adam
        # over 400,000 x 100 rows in 10,000-row chunks ends 6.6e-4 above the
        # optimal objective (its average; the user guide, streaming).
        return "adam"
    if _newton_rule(l1_ratio, X, fit_intercept, n_outputs, path, alpha, moments):
        return "newton"
    if l1_ratio > 0:
        # The optimum's exact zeros: at C=0.01, l1_ratio=1 on standardized
        # breast_cancer gd keeps the optimum's 2 features, where lbfgs,
        # adam and saga keep 3 at the default tol (minibatch 2 or 3, with
        # its random order). Default fits
        # at C=1, l1_ratio=1 took 0.52x, 0.75x, 2.2x and 0.21x the time of
        # LogisticRegression(solver='saga') on breast_cancer, wine, iris and
        # digits (lbfgs, which takes gd's steps with an L1 part, 0.47x to
        # 2.3x; saga 2.2x to 5x; adam 1.6x to 14x).
        return "gd"
    # (measured: see rule 5's comment at the top of the module)
    return "lbfgs"


def _newton_rule(l1_ratio, X, fit_intercept, n_outputs, path, alpha, moments):
    """Rules 1 (a path), 2 (raw features) and 3 (a weak penalty) of newton."""
    if not (isinstance(X, np.ndarray) or sparse.issparse(X)):
        return False  # not in memory (a dask array's blocks)
    small = (X.shape[1] + int(fit_intercept)) * n_outputs <= MATRIX_MAX
    weak = alpha is not None and alpha < WEAK_PENALTY
    proximal = n_outputs == 1 and not weak
    if path and small and (l1_ratio == 0 or proximal):
        # With an L1 part only for two classes and not under a weak penalty:
        # there its coordinate descent crawls, on correlated columns and
        # along the softmax's nearly free directions (standardized
        # breast_cancer at C=1e4, l1_ratio=1: 1,000 steps in 5.9 s; iris,
        # l1_ratio=0.5, C=1e4: 143 to 252 steps), where its exact steps
        # elsewhere gave saga's choice on breast_cancer (gd's, certified at
        # tol, differed by one held-out sample).
        # Its steps keep the warm start, and the weak penalties' flat fits
        # take it as few steps as the others: a fold's path over 10 Cs on
        # standardized breast_cancer took 3 to 6 Newton steps a C, where
        # lbfgs took 10 to 379 epochs (the last ones at C=1e3, 1e4); the
        # whole search 40 ms against 334 ms (5 folds, one thread).
        return True
    if not sparse.issparse(X) and _raw(X, fit_intercept, moments):
        # Raw iris: its columns' scales are 5.9 apart, but a column's mean
        # 7.1 times its spread; lbfgs takes 3.0 ms to 1e-6, newton 2.1 ms
        # to 4e-13 (LogisticRegression(solver='newton-cholesky') 1.4 ms).
        # Raw bundled sets at C=1 (relative gap to sklearn's optimum, and
        # time against LogisticRegression(solver='newton-cholesky'), one
        # thread): breast_cancer 5e-16 in 2.1 ms (1.7 ms), wine 6e-16 in
        # 2.9 ms (2.0 ms), digits 4e-10 in 167 ms (212 ms), where lbfgs
        # stopped at 8e-2, 5e-1 and 5e-2 (measured 2026-12-06). With an L1
        # part its proximal steps need the matrix form.
        return l1_ratio == 0 or small
    # (see WEAK_PENALTY; not with an L1 part, as in a path)
    return weak and small and X.shape[0] <= SMALL_ROWS and l1_ratio == 0
