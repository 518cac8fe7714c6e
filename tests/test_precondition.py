"""The diagonal preconditioner of gd, lbfgs and minibatch on raw features
(``sklearn_adamlr._precondition``), against references written here: the
preconditioner from its formula, L-BFGS's two-loop recursion in the
preconditioned variables, a gradient step, the Lipschitz constant by numpy's
eigensolver, and scikit-learn's optimum on raw data."""

import warnings

import numpy as np
import pytest
from conftest import REFERENCE, spy_engines, standardized
from scipy import sparse
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from sklearn_adamlr import AdamLogisticRegression, _kernels
from sklearn_adamlr._penalties import ElasticNet
from sklearn_adamlr._precondition import diagonal
from sklearn_adamlr._problem import Problem, Smoothness
from sklearn_adamlr.solvers._gd import GDState, GradientDescent
from sklearn_adamlr.solvers._lbfgs import LBFGS, LBFGSState


def test_the_diagonal_is_the_inverse_curvature_of_each_column():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 3)) * [0.01, 1.0, 100.0]
    P = diagonal(X, True, np.float64, l2=0.02, curvature=0.25)
    expected = 1.0 / (np.mean(X**2, axis=0) + 0.02 / 0.25)
    np.testing.assert_allclose(P[:3, 0], expected, rtol=1e-12)
    assert P[3, 0] == 1.0  # the intercept: its column of ones, no penalty
    assert diagonal(X.astype(np.float32), False, np.float32).dtype == np.float32
    # a column of zeros (no curvature, no L2 part): left at 1, not 1 / 0
    Z = np.hstack([X, np.zeros((300, 1))])
    np.testing.assert_array_equal(diagonal(Z, True, np.float64)[3:, 0], [1.0, 1.0])


def test_a_constant_column_spreads_the_scales_only_beyond_the_intercepts():
    # Beside the intercept, a constant column smaller than 1 moves the
    # predictions along the intercept's direction (no spread); a larger one
    # raises the curvature (see _advice.spread). Without an intercept, each
    # counts by its scale.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 3))
    small, large = X.copy(), X.copy()
    small[:, 0] = 0.01
    large[:, 0] = 100.0
    assert diagonal(small, True, np.float64) is None
    assert diagonal(small, False, np.float64) is not None
    assert diagonal(large, True, np.float64) is not None


@pytest.mark.parametrize("load", [load_breast_cancer, load_digits, load_wine])
def test_no_preconditioner_where_the_scales_are_close_or_the_data_sparse(load):
    X, _ = standardized(load)
    assert diagonal(X, True, np.float64) is None
    raw, _ = load(return_X_y=True)
    assert diagonal(sparse.csr_matrix(raw), True, np.float64) is None
    assert diagonal(raw, True, np.float64) is not None
    # squares beyond float64: the steps overflow and say so, unpreconditioned
    assert diagonal(raw * 1e200, True, np.float64) is None


def _two_loop_reference(s_list, y_list, g):
    """Textbook L-BFGS direction -H g, H0 = (s'y / y'y) I, newest pair last."""
    q = g.copy()
    alphas = []
    for s, y in reversed(list(zip(s_list, y_list, strict=True))):
        a = (s @ q) / (s @ y)
        alphas.append(a)
        q -= a * y
    s, y = s_list[-1], y_list[-1]
    r = (s @ y) / (y @ y) * q
    for (s, y), a in zip(
        zip(s_list, y_list, strict=True), reversed(alphas), strict=True
    ):
        b = (y @ r) / (s @ y)
        r += (a - b) * s
    return -r


@pytest.mark.parametrize("compiled", [False, True])
def test_lbfgs_with_a_diagonal_is_lbfgs_in_the_scaled_variables(monkeypatch, compiled):
    if compiled and not _kernels.AVAILABLE:
        pytest.skip("numba is not installed")
    monkeypatch.setattr(_kernels, "AVAILABLE", compiled)
    rng = np.random.RandomState(1)
    n = 6
    P = rng.uniform(0.01, 100.0, size=(n, 1))
    root = np.sqrt(P[:, 0])  # w = root * v
    pairs = [(rng.normal(size=n), None) for _ in range(3)]
    A = rng.normal(size=(n, n))
    A = A @ A.T + np.eye(n)  # a convex quadratic's Hessian, for s'y > 0
    pairs = [(s, A @ s) for s, _ in pairs]
    g = rng.normal(size=n)
    # in v: s_v = s / root, y_v = root * y, g_v = root * g; back: d = root * d_v
    expected = root * _two_loop_reference(
        [s / root for s, _ in pairs], [root * y for _, y in pairs], root * g
    )
    solver = LBFGS(memory=5)
    state = LBFGSState(trial=np.zeros((n, 1)), grad=g[:, None].copy(), precond=P)
    for s, y in pairs:
        state.trial = s[:, None]
        solver._store_pair(np.zeros((n, 1)), y[:, None] + g[:, None], state)
        state.grad = g[:, None].copy()
    solver._new_direction(np.zeros((n, 1)), state, 0.1)
    np.testing.assert_allclose(state.direction[:, 0], expected, rtol=1e-10)


def test_a_gradient_step_scales_each_row_and_its_threshold():
    P = np.array([[4.0], [0.25], [1.0]])
    params = np.array([[1.0], [1.0], [0.5]])
    grad = np.array([[0.1], [0.2], [0.3]])
    penalty = ElasticNet(alpha=0.2, l1_ratio=1.0)

    def prox(values, step, rows=None):
        penalty.prox(values[:2], step[:2] if np.ndim(step) else step)

    prox.threshold = np.array([0.2, 0.2, 0.0])
    state = GDState(y=None, precond=P)
    GradientDescent(nesterovs_momentum=False).update(params, grad, state, 0.5, prox)
    moved = np.array([1.0 - 0.5 * 4 * 0.1, 1.0 - 0.5 * 0.25 * 0.2, 0.5 - 0.5 * 0.3])
    # soft-thresholding by step * l1 * P_j: 0.4 and 0.025; not the intercept
    expected = [moved[0] - 0.4, moved[1] - 0.025, moved[2]]
    np.testing.assert_allclose(params[:, 0], expected, rtol=1e-12)


def test_the_smoothness_is_the_scaled_problems():
    rng = np.random.RandomState(2)
    X = rng.normal(size=(200, 3)) * [0.1, 1.0, 30.0]
    P = diagonal(X, True, np.float64, l2=0.01)
    problem = Problem(
        X=X, target=(X[:, 0] > 0).astype(float), sample_weight=None,
        loss=LogisticRegression, penalty=ElasticNet(alpha=0.01, l1_ratio=0.0),
        fit_intercept=True, precond=P,
    )  # fmt: skip
    problem.loss = type("Loss", (), {"curvature": 0.25})()
    Z = np.hstack([X, np.ones((200, 1))]) * np.sqrt(P[:, 0])
    top = np.linalg.eigvalsh(Z.T @ Z / 200)[-1]
    smoothness = Smoothness(problem, preconditioned=True)
    assert smoothness.full == pytest.approx(0.25 * top + 0.01 * P[:3].max(), rel=1e-10)
    rows = 0.25 * np.sum(Z**2, axis=1)
    assert smoothness.max_sample == pytest.approx(rows.max() + 0.01 * P[:3].max())
    assert smoothness.mean_sample == pytest.approx(rows.mean() + 0.01 * P[:3].max())
    # a solver without the preconditioner keeps the unscaled constants
    plain = Smoothness(problem)
    W = np.hstack([X, np.ones((200, 1))])
    top = np.linalg.eigvalsh(W.T @ W / 200)[-1]
    assert plain.full == pytest.approx(0.25 * top + 0.01, rel=1e-10)


def test_a_minibatchs_expected_smoothness_is_gower_et_als():
    # L_b = (n (b - 1) L + (n - b) L_max) / (b (n - 1)), sampling without
    # replacement (Gower et al., 2019, Prop. 3.8): L_max for one sample, L
    # for all of them, the line between in 1 / b
    rng = np.random.RandomState(3)
    X = rng.normal(size=(50, 4)) * [0.5, 1.0, 2.0, 4.0]
    problem = Problem(
        X=X, target=(X[:, 0] > 0).astype(float), sample_weight=None,
        loss=type("Loss", (), {"curvature": 0.25})(),
        penalty=ElasticNet(alpha=0.01, l1_ratio=0.0), fit_intercept=True,
    )  # fmt: skip
    smoothness = Smoothness(problem)
    L, top = smoothness.full, smoothness.max_sample
    assert top > 2 * L  # the two ends apart
    assert smoothness.expected(1) == top
    assert smoothness.expected(50) == smoothness.expected(80) == L
    for b in (2, 7, 49):
        expected = (50 * (b - 1) * L + (50 - b) * top) / (b * 49)
        assert smoothness.expected(b) == pytest.approx(expected, rel=1e-14)
    assert L < smoothness.expected(7) < top


def _objective(X, y, est, C):
    P = est.predict_proba(X)
    index = np.searchsorted(est.classes_, y)
    return C * -np.log(P[np.arange(len(y)), index]).sum() + 0.5 * np.sum(est.coef_**2)


# Relative gaps to newton-cholesky's optimum on raw data, before the
# preconditioner / with it, measured: each with it within twice its value.
RAW_GAPS = {
    ("wine", 1.0, "lbfgs"): (4.9e-1, 8.7e-7),
    ("wine", 0.01, "lbfgs"): (9.7e-3, 4.3e-11),
    ("breast_cancer", 0.01, "lbfgs"): (5.5e-8, 1.2e-9),
    ("wine", 1.0, "gd"): (3.7, 6.8e-2),
    ("wine", 0.01, "gd"): (2.6e-1, 3.8e-7),
    ("breast_cancer", 1.0, "gd"): (8.5e-1, 9.6e-2),
    ("wine", 1.0, "minibatch"): (7.5, 2.5e-2),
    ("wine", 0.01, "minibatch"): (7.1e-1, 4.3e-6),
    ("digits", 0.01, "lbfgs"): (4.4e-5, 3.1e-6),
    ("wine", 1.0, "adam"): (5.8e-1, 6.4e-2),
    ("wine", 0.01, "adam"): (1.1e-1, 2.9e-6),
}
LOADERS = {
    "wine": load_wine,
    "breast_cancer": load_breast_cancer,
    "digits": load_digits,
}


@pytest.mark.parametrize("name, C, solver", list(RAW_GAPS))
def test_raw_data_land_closer_or_warn_naming_the_cure(name, C, solver):
    X, y = LOADERS[name](return_X_y=True)
    ref = LogisticRegression(C=C, solver="newton-cholesky", tol=1e-12, max_iter=1000)
    optimum = _objective(X, y, ref.fit(X, y), C)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = AdamLogisticRegression(solver=solver, C=C, random_state=0).fit(X, y)
    gap = (_objective(X, y, est, C) - optimum) / optimum
    before, measured = RAW_GAPS[name, C, solver]
    assert gap <= 2 * measured
    messages = [str(w.message) for w in caught if w.category is ConvergenceWarning]
    if est.optimality_ <= est.tol:
        assert messages == []
    else:
        (message,) = messages
        assert "StandardScaler" in message and "solver='gd'" not in message


@pytest.mark.parametrize("solver", ["adam", "minibatch"])
def test_the_compiled_steps_take_the_preconditioner_as_numpy_does(monkeypatch, solver):
    if not _kernels.AVAILABLE:
        pytest.skip("numba is not installed")
    X, y = load_wine(return_X_y=True)  # one minibatch: no hand-over
    fits = {}
    for compiled in (True, False):
        monkeypatch.setattr(_kernels, "AVAILABLE", compiled)
        ran = spy_engines(monkeypatch)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits[compiled] = AdamLogisticRegression(
                solver=solver, C=0.1, l1_ratio=0.5, max_iter=200, random_state=0
            ).fit(X, y)
        assert set(ran) == {"KernelEngine" if compiled else REFERENCE}
        assert fits[compiled]._stream.solver_state.precond is not None
    # measured: 4.4e-16 apart (adam, 1,000 epochs), the same zeros
    np.testing.assert_allclose(fits[True].coef_, fits[False].coef_, atol=1e-12)
    np.testing.assert_array_equal(fits[True].coef_ == 0, fits[False].coef_ == 0)
    assert np.count_nonzero(fits[True].coef_ == 0) > 0


def test_partial_fit_takes_no_preconditioner():
    X, y = load_wine(return_X_y=True)
    est = AdamLogisticRegression(solver="gd").fit(X, y)
    assert est._stream.solver_state.precond is not None
    est.partial_fit(X, y)
    assert est._stream.solver_state.precond is None


@pytest.mark.parametrize("solver", ["gd", "lbfgs"])
def test_an_uncertified_fit_takes_the_preconditioned_step(solver):
    # tol=None: the automatic step is the stream's, from the smoothness of the
    # problem in v as a certified fit's (measured equal on raw breast_cancer:
    # 0.198 for gd, 0.177 for lbfgs; unpreconditioned, 1 / L is set by the
    # column of RMS 500)
    X, y = load_breast_cancer(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        certified = AdamLogisticRegression(solver=solver, max_iter=3).fit(X, y)
        free = AdamLogisticRegression(solver=solver, tol=None, max_iter=3).fit(X, y)
    assert free.learning_rate_ == pytest.approx(certified.learning_rate_, rel=1e-12)
    assert free.learning_rate_ > 0.1
