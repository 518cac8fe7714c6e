"""Each update rule against scikit-learn's own optimizer, step by step.

``MLPClassifier``'s optimizers (``sklearn.neural_network._stochastic_optimizers``)
implement Adam in the "efficient" form of Kingma & Ba and SGD with the heavy
ball or Nesterov's momentum in the form of Sutskever et al.: written apart
from this package, given the same gradients they must take the same steps.
Both of our paths run: the compiled step (numba) and the numpy one. FISTA
(``gd``) has no such twin in scikit-learn: it is checked against a reference
written here from the update rules its docstring states.
"""

import numpy as np
import pytest
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer

from sklearn_adamlr import _kernels, get_solver
from sklearn_adamlr.solvers import LBFGS, _adam, _minibatch


def _gradients(shape, n_steps, seed=0):
    rng = np.random.RandomState(seed)
    # gradients that shrink and change sign, as near an optimum
    return [rng.normal(size=shape) * 0.97**t for t in range(n_steps)]


@pytest.fixture(params=["compiled", "numpy"])
def path(request, monkeypatch):
    """Which step runs; yields the calls of the compiled steps, checked after."""
    calls = []
    if request.param == "numpy":
        monkeypatch.setattr(_kernels, "AVAILABLE", False)
    elif not _kernels.AVAILABLE:
        pytest.skip("numba not installed")
    for module in (_adam, _minibatch):
        compiled = module._step

        def spy(*args, _compiled=compiled):
            calls.append(1)
            return _compiled(*args)

        monkeypatch.setattr(module, "_step", spy)
    yield calls
    # the compiled step is the one that ran, or none of it
    assert bool(calls) == (request.param == "compiled")


@pytest.mark.parametrize(
    "beta_1, beta_2, epsilon", [(0.9, 0.999, 1e-8), (0.5, 0.9, 1e-3)]
)
def test_adam_takes_sklearns_steps(path, beta_1, beta_2, epsilon):
    hyper = dict(beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
    solver = get_solver("adam", hyper)
    start = np.random.RandomState(1).normal(size=(6, 3))
    ours, theirs = start.copy(), [start.copy()]
    state = solver.init_state(ours)
    reference = AdamOptimizer(theirs, learning_rate_init=0.05, **hyper)
    for grad in _gradients(start.shape, 200):
        solver.update(ours, grad.copy(), state, 0.05, None)
        reference.update_params(theirs, [grad.copy()])
    assert np.abs(ours - start).max() > 0.5  # the steps moved
    # measured: 4.4e-16 after 200 steps, compiled or numpy
    np.testing.assert_allclose(ours, theirs[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9])
def test_momentum_sgd_takes_sklearns_steps(path, momentum, nesterov):
    solver = get_solver(
        "minibatch", dict(momentum=momentum, nesterovs_momentum=nesterov)
    )
    start = np.random.RandomState(2).normal(size=(6, 1))
    ours, theirs = start.copy(), [start.copy()]
    state = solver.init_state(ours)
    reference = SGDOptimizer(
        theirs, learning_rate_init=0.1, momentum=momentum, nesterov=nesterov
    )
    for grad in _gradients(start.shape, 200, seed=3):
        solver.update(ours, grad.copy(), state, 0.1, None)
        reference.update_params(theirs, [grad.copy()])
    assert np.abs(ours - start).max() > 0.5
    # measured: 5.3e-15 after 200 steps, compiled or numpy
    np.testing.assert_allclose(ours, theirs[0], rtol=0, atol=1e-12)


# ---------------------------------------------------------------- FISTA (gd)


def _smooth_gradient(X, y, l2):
    """The gradient of mean logistic loss + l2/2 |coef|^2, from scratch.

    Parameters are (n_features + 1, 1), the intercept last and unpenalised.
    """

    def gradient(params):
        z = X @ params[:-1, 0] + params[-1, 0]
        r = 1.0 / (1.0 + np.exp(-z)) - y
        g = np.empty_like(params)
        g[:-1, 0] = X.T @ r / len(y) + l2 * params[:-1, 0]
        g[-1, 0] = r.mean()
        return g

    return gradient


def _soft_threshold_prox(l1):
    """prox of step * l1 * |coef|_1, in place, the intercept row left alone."""

    def prox(params, step):
        coef = params[:-1]
        coef[...] = np.sign(coef) * np.maximum(np.abs(coef) - step * l1, 0.0)

    return prox


def _fista_reference(gradient, prox, start, eta0, n_steps):
    """FISTA with gradient restart and Malitsky & Mishchenko's step.

    Written from ``GradientDescent``'s docstring (Beck & Teboulle 2009;
    O'Donoghue & Candes 2015; Malitsky & Mishchenko 2020), not from its code.
    Returns the iterates x_1..x_n and the number of restarts.
    """
    x = start.copy()
    y = start.copy()
    t, step, theta = 1.0, None, np.inf
    previous = None
    iterates, restarts = [], 0
    for _ in range(n_steps):
        g = gradient(y)
        if step is None:
            step = eta0
        else:
            dx = np.linalg.norm(y - previous[0])
            dg = np.linalg.norm(g - previous[1])
            growth = np.sqrt(1.0 + theta) * step
            # equal gradients (converged) bound nothing: the step grows
            new = growth if dg == 0 else min(growth, dx / (2.0 * dg))
            theta, step = new / step, new
        previous = (y.copy(), g.copy())
        x_new = y - step * g
        prox(x_new, step)
        if np.vdot(y - x_new, x_new - x) > 0:
            t, y = 1.0, x_new.copy()
            restarts += 1
        else:
            t_next = (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0
            y = x_new + (t - 1.0) / t_next * (x_new - x)
            t = t_next
        x = x_new
        iterates.append(x.copy())
    return iterates, restarts


def _small_problem():
    rng = np.random.RandomState(4)
    X = rng.normal(size=(40, 3)) * [1.0, 3.0, 0.3]
    y = (X @ [1.0, -0.5, 2.0] + rng.normal(size=40) > 0).astype(float)
    return X, y


@pytest.mark.parametrize("l1", [0.0, 0.05])
def test_gd_takes_fistas_steps(l1):
    X, y = _small_problem()
    gradient, prox = _smooth_gradient(X, y, 0.01), _soft_threshold_prox(l1)
    start = np.zeros((4, 1))
    eta0 = 0.3
    expected, restarts = _fista_reference(gradient, prox, start, eta0, 100)
    solver = get_solver("gd", dict(nesterovs_momentum=True))
    ours = start.copy()
    state = solver.init_state(ours)
    largest_step = 0.0
    for k in range(100):
        grad = gradient(solver.eval_point(ours, state).copy())
        solver.update(ours, grad, state, eta0, None if l1 == 0 else prox)
        largest_step = max(largest_step, state.step)
        # measured: 0 apart (the same operations, in the same order)
        np.testing.assert_allclose(ours, expected[k], rtol=0, atol=1e-12)
    # the trajectory went through both branches and grew its step. The
    # largest step, not the last: once converged, the step is a ratio of
    # rounding errors (with l1, the last one was 13 times eta0 on one
    # machine and 3.8 times on another, the trajectory the same)
    assert restarts > 0 and state.n_restarts == restarts
    assert largest_step > 10 * eta0  # measured: 83 and 13 times
    if l1:
        assert np.count_nonzero(ours[:-1] == 0.0) >= 1  # exact zeros


def test_gd_without_momentum_is_the_textbook_proximal_step():
    X, y = _small_problem()
    gradient, prox = _smooth_gradient(X, y, 0.01), _soft_threshold_prox(0.05)
    solver = get_solver("gd", dict(nesterovs_momentum=False))
    ours = np.zeros((4, 1))
    expected = ours.copy()
    state = solver.init_state(ours)
    for _ in range(50):
        solver.update(ours, gradient(solver.eval_point(ours, state)).copy(), state,
                      0.2, prox)  # fmt: skip
        expected = expected - 0.2 * gradient(expected)
        prox(expected, 0.2)
        np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12)
    assert np.abs(ours).max() > 0.5


# ---------------------------------------------------------------- L-BFGS


def _lbfgs_reference(gradient, start, eta0, n_steps, memory=10):
    """L-BFGS with the gradient-only line search that ``LBFGS`` documents.

    Written from its docstring (two-loop recursion of Nocedal & Wright,
    Algorithm 7.4, with H0 = s'y / y'y; accept a trial point when the slope
    there is at most 0.9 |slope at the start|, else shorten the step by the
    secant of the slope, clipped to [0.1, 0.5]), not from its code. Returns
    the accepted point after each gradient, and the number of shortenings.
    """
    x = start.copy()
    g = gradient(x)
    pairs = []

    def direction(g):
        q = g.copy()
        alphas = []
        for s, y in reversed(pairs):
            a = np.vdot(s, q) / np.vdot(y, s)
            q = q - a * y
            alphas.append(a)
        if pairs:
            s, y = pairs[-1]
            q = q * (np.vdot(s, y) / np.vdot(y, y))
        else:
            q = q * eta0
        for (s, y), a in zip(pairs, reversed(alphas), strict=True):
            b = np.vdot(y, q) / np.vdot(y, s)
            q = q + (a - b) * s
        return -q

    d = direction(g)
    alpha = 1.0
    points, shortened = [], 0
    for _ in range(n_steps - 1):
        trial = x + alpha * d
        g_trial = gradient(trial)
        slope0, slope = np.vdot(g, d), np.vdot(g_trial, d)
        if slope > 0.9 * abs(slope0):
            alpha *= np.clip(slope0 / (slope0 - slope), 0.1, 0.5)
            shortened += 1
        else:
            s, y = trial - x, g_trial - g
            if np.vdot(s, y) > 1e-12 * np.linalg.norm(s) * np.linalg.norm(y):
                pairs = (pairs + [(s, y)])[-memory:]
            x, g = trial, g_trial
            d, alpha = direction(g), 1.0
        points.append(x.copy())
    return points, shortened


@pytest.mark.parametrize(
    "eta0, min_shortened, max_gradient",
    # measured: 2 shortenings and a gradient of 3e-17; 8 and 2.5e-10; the
    # trajectories 2e-15 and 1.2e-14 apart
    [(0.3, 1, 1e-15), (300.0, 5, 1e-9)],
)
def test_lbfgs_takes_the_documented_steps(eta0, min_shortened, max_gradient):
    # 300: the first trial step is far too long (its logits overflow exp)
    X, y = _small_problem()
    gradient = _smooth_gradient(X, y, 0.01)
    start = np.zeros((4, 1))
    with np.errstate(over="ignore"):
        expected, shortened = _lbfgs_reference(gradient, start, eta0, 40, memory=3)
    solver = get_solver("lbfgs")
    solver.memory = 3  # fewer pairs than steps: the ring buffer wraps
    ours = start.copy()
    state = solver.init_state(ours)
    solver.update(ours, gradient(ours), state, eta0, None)
    for k in range(39):
        with np.errstate(over="ignore"):
            grad = gradient(solver.eval_point(ours, state).copy())
        solver.update(ours, grad, state, eta0, None)
        np.testing.assert_allclose(ours, expected[k], rtol=0, atol=1e-12)
    # both shortened the early trial steps (their counts can differ by one
    # at the end, where the slopes are rounding: measured 1 and 2 at 0.3)
    assert min(state.n_backtracks, shortened) >= min_shortened
    # it reached the optimum: a gradient of zero
    assert np.abs(gradient(ours)).max() < max_gradient


def test_lbfgs_at_a_zero_gradient_forgets_its_pairs_and_stays_put():
    # no descent direction: the pairs are dropped and the step is the
    # (zero) gradient step, never a NaN from 0 / 0
    X, y = _small_problem()
    gradient = _smooth_gradient(X, y, 0.01)
    solver = get_solver("lbfgs")
    params = np.zeros((4, 1))
    state = solver.init_state(params)
    for _ in range(4):
        solver.update(params, gradient(solver.eval_point(params, state)), state,
                      0.3, None)  # fmt: skip
    assert state.n_pairs > 0
    solver.update(params, np.zeros_like(params), state, 0.3, None)
    # (the direction, and with it the reset, is made when the next point is
    # asked for: see LBFGS.eval_point)
    np.testing.assert_array_equal(solver.eval_point(params, state), params)
    assert state.n_pairs == 0 and state.slope == 0.0
    assert np.isfinite(params).all()


@pytest.mark.parametrize("change, stored", [(-1e-6, True), (1e-6, False)])
def test_lbfgs_stores_a_pair_only_with_positive_curvature(change, stored):
    # the move s = (-1, 0); the gradient changes by y = (change, 1): s'y is
    # -change, a cosine of 1e-6 between s and y, positive or negative
    solver = get_solver("lbfgs")
    params = np.zeros((2, 1))
    state = solver.init_state(params)
    solver.update(params, np.array([[1.0], [0.0]]), state, 1.0, None)
    solver.update(params, np.array([[1.0 + change], [1.0]]), state, 1.0, None)
    np.testing.assert_array_equal(params, [[-1.0], [0.0]])  # the step was kept
    assert state.n_pairs == int(stored)


@pytest.mark.parametrize(
    "cosine, stored", [(-0.5, False), (-1e-6, False), (0.0, False), (1e-13, False),
                       (1e-11, True), (0.5, True)],
)  # fmt: skip
def test_lbfgs_curvature_rule_on_its_own(cosine, stored):
    # The rule of the docstring, s'y > 1e-12 |s| |y|, where the test above
    # cannot see it: a stored pair of negative curvature makes the next
    # direction an ascent, and the pairs are then dropped anyway (a mutant
    # storing pairs down to a cosine of -1 passed that test).
    solver = get_solver("lbfgs")
    params = np.zeros((2, 1))
    state = solver.init_state(params)
    state.grad = np.zeros((2, 1))
    state.trial = np.array([[3.0], [0.0]])  # s = (3, 0)
    y = 2.0 * np.array([[cosine], [np.sqrt(1.0 - cosine**2)]])
    solver._store_pair(params, y, state)
    assert state.n_pairs == int(stored)
    if stored:
        np.testing.assert_array_equal(state.s[0], state.trial)
        np.testing.assert_array_equal(state.y[0], y)
        assert state.rho[0] == pytest.approx(1.0 / (6.0 * cosine), rel=1e-15)


@pytest.mark.parametrize("memory", [0, -1, 2.5, "3"])
def test_lbfgs_memory_must_be_a_positive_integer(memory):
    with pytest.raises(ValueError, match="memory must be a positive integer"):
        LBFGS(memory=memory)
    assert LBFGS(memory=np.int64(1)).memory == 1


def test_lbfgs_with_l1_takes_fistas_steps():
    X, y = _small_problem()
    gradient, prox = _smooth_gradient(X, y, 0.01), _soft_threshold_prox(0.05)
    start = np.zeros((4, 1))
    expected, _ = _fista_reference(gradient, prox, start, 0.3, 60)
    solver = get_solver("lbfgs")
    ours = start.copy()
    state = solver.init_state(ours)
    for k in range(60):
        grad = gradient(solver.eval_point(ours, state).copy())
        solver.update(ours, grad, state, 0.3, prox)
        np.testing.assert_allclose(ours, expected[k], rtol=0, atol=1e-12)
    assert np.count_nonzero(ours[:-1] == 0.0) >= 1  # exact zeros


def test_adam_with_l1_is_the_prox_in_adams_metric(path):
    # Adam's docstring: after the step, each coefficient is soft-thresholded
    # by l1 times its own step s_j (the intercept row is not penalised).
    # Written here from that statement; both paths, as above.
    from sklearn_adamlr._engines import _L1Prox
    from sklearn_adamlr._penalties import ElasticNet

    l1, lr, b1, b2, eps = 0.05, 0.05, 0.9, 0.999, 1e-8
    solver = get_solver("adam")
    prox = _L1Prox(ElasticNet(alpha=l1, l1_ratio=1.0), n_params=6, n_features=5)
    start = np.random.RandomState(5).normal(size=(6, 3)) * 0.3
    ours, x = start.copy(), start.copy()
    m, v = np.zeros_like(x), np.zeros_like(x)
    state = solver.init_state(ours)
    for t, grad in enumerate(_gradients(start.shape, 200, seed=6), start=1):
        solver.update(ours, grad.copy(), state, lr, prox)
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad**2
        s = lr * np.sqrt(1 - b2**t) / (1 - b1**t) / (np.sqrt(v) + eps)
        x = x - s * m
        x[:5] = np.sign(x[:5]) * np.maximum(np.abs(x[:5]) - l1 * s[:5], 0.0)
        # measured: at most 2.5e-16 apart (compiled path)
        np.testing.assert_allclose(ours, x, rtol=0, atol=1e-12)
    assert np.count_nonzero(ours[:5] == 0.0) > 0  # exact zeros
    assert np.all(ours[5] != 0.0)  # the intercept is not thresholded


@pytest.mark.parametrize("nesterov", [True, False])
def test_momentum_with_l1_converges_to_the_l1_solution(path, nesterov):
    # f(x) = |x - a|^2 / 2 + l1 |x|_1 has the solution S(a, l1), the
    # soft-thresholding of a: the fixed point of the momentum step with its
    # prox must be it. Nesterov's used to solve the problem at 0.91 l1.
    from sklearn_adamlr._engines import _L1Prox
    from sklearn_adamlr._penalties import ElasticNet

    l1 = 0.3
    a = np.array([[1.0], [-0.2], [0.25], [-2.0], [0.5]])
    prox = _L1Prox(ElasticNet(alpha=l1, l1_ratio=1.0), n_params=5, n_features=5)
    solver = get_solver("minibatch", dict(momentum=0.9, nesterovs_momentum=nesterov))
    x = np.zeros_like(a)
    state = solver.init_state(x)
    for _ in range(600):
        solver.update(x, x - a, state, 0.1, prox)
    expected = np.sign(a) * np.maximum(np.abs(a) - l1, 0.0)
    # measured: at most 4.7e-15 apart after 600 steps
    np.testing.assert_allclose(x, expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(x == 0, expected == 0)
    assert np.abs(state.velocity).max() < 1e-12


@pytest.mark.parametrize("solver_name", ["minibatch", "adam"])
def test_the_prox_applies_to_a_single_coefficient(path, solver_name):
    # One feature and no intercept: the threshold array has one entry (the
    # compiled steps once tested its length against 1 in a mutant, which
    # skipped the prox here). The solution of |x - a|^2 / 2 + l1 |x| with
    # |a| < l1 is exactly 0.
    from sklearn_adamlr._engines import _L1Prox
    from sklearn_adamlr._penalties import ElasticNet

    prox = _L1Prox(ElasticNet(alpha=0.3, l1_ratio=1.0), n_params=1, n_features=1)
    solver = get_solver(solver_name, {})
    x = np.array([[0.0]])
    state = solver.init_state(x)
    for _ in range(200):
        solver.update(x, x - 0.2, state, 0.1, prox)
    assert x[0, 0] == 0.0


@pytest.mark.parametrize("solver_name", ["minibatch", "adam"])
def test_an_update_of_no_rows_moves_nothing(path, solver_name):
    # a lazy update whose minibatch touches no coefficient (empty sparse
    # rows, no intercept) must leave every row as it was
    solver = get_solver(solver_name, {})
    x = np.arange(6.0).reshape(3, 2)
    state = solver.init_state(x)
    before = x.copy()
    solver.update(x, np.ones_like(x), state, 0.1, None, rows=np.array([], np.intp))
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize(
    "slope, alpha",
    # the secant estimate of the minimum along the line, s0 / (s0 - s),
    # kept within [0.1, 0.5] of the step: 0.513 -> 0.5, 0.0476 -> 0.1,
    # 0.25 as is (a mutation-test survivor: nothing pinned the bounds)
    [(0.95, 0.5), (20.0, 0.1), (3.0, 0.25)],
)
def test_lbfgs_shortens_an_overshooting_trial_within_its_bounds(slope, alpha):
    solver = get_solver("lbfgs")
    params = np.zeros((2, 1))
    state = solver.init_state(params)
    # the first gradient: a step of the learning rate against it
    solver.update(params, np.array([[1.0], [0.0]]), state, 1.0, None)
    np.testing.assert_array_equal(state.trial, [[-1.0], [0.0]])
    assert state.slope == -1.0
    # at the trial point the slope along the direction is `slope` > 0.9
    solver.update(params, np.array([[-slope], [0.0]]), state, 1.0, None)
    assert state.alpha == pytest.approx(alpha, rel=1e-15)
    np.testing.assert_allclose(state.trial, [[-alpha], [0.0]], rtol=1e-15)
    np.testing.assert_array_equal(params, 0.0)  # not accepted


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 5e-15), (np.float32, 1e-6)])
@pytest.mark.parametrize("n_pairs, head", [(10, 3), (4, 4), (1, 1)])
def test_lbfgs_compiled_two_loop_matches_the_numpy_one(monkeypatch, dtype, rtol,
                                                       n_pairs, head):  # fmt: skip
    from sklearn_adamlr.solvers import _lbfgs

    if _lbfgs._two_loop is None:
        pytest.skip("numba is not installed")
    rng = np.random.RandomState(0)
    solver = LBFGS()
    directions = []
    for compiled in (False, True):
        state = _lbfgs.LBFGSState(trial=np.zeros((31, 2), dtype=dtype))
        state.s = rng.randn(10, 31, 2).astype(dtype)
        state.y = (state.s * rng.uniform(0.5, 2.0, state.s.shape)).astype(dtype)
        state.rho = 1.0 / np.einsum("ipk,ipk->i", state.s, state.y, dtype=np.float64)
        state.n_pairs, state.head = n_pairs, head
        state.grad = rng.randn(31, 2).astype(dtype)
        rng.seed(0)  # the same pairs and gradient for both paths
        monkeypatch.setattr(_kernels, "AVAILABLE", compiled)
        solver._new_direction(np.zeros((31, 2), dtype=dtype), state, 0.1)
        directions.append(state.direction)
    # relative to the direction's largest entry, measured: up to 5.1e-16
    # (float64) and 1.4e-7 (float32, whose numpy dot products accumulate in
    # float32 where the compiled ones accumulate in float64)
    error = np.abs(directions[1] - directions[0]).max() / np.abs(directions[0]).max()
    assert error < rtol
    assert directions[1].dtype == dtype
    assert _lbfgs._two_loop.signatures  # the compiled path ran


@pytest.mark.parametrize("precond", [False, True])
@pytest.mark.parametrize("n_pairs, head", [(10, 3), (4, 4), (1, 1)])
def test_lbfgs_compact_form_is_the_two_loop_recursion(monkeypatch, precond, n_pairs,
                                                      head):  # fmt: skip
    # the numpy path's compact form (up to COMPACT_MAX parameters) and its
    # loops (above it) against the textbook recursion written here, in the
    # variables v = w / sqrt(P) when there is a diagonal
    from sklearn_adamlr.solvers import _lbfgs

    monkeypatch.setattr(_kernels, "AVAILABLE", False)
    rng = np.random.RandomState(n_pairs)
    n = 40
    P = rng.uniform(0.01, 100.0, size=(n, 1)) if precond else np.ones((n, 1))
    s = rng.randn(10, n, 1)
    y = s * rng.uniform(0.5, 2.0, s.shape)
    g = rng.randn(n, 1)
    newest_last = [(head - n_pairs + j) % 10 for j in range(n_pairs)]
    root = np.sqrt(P[:, 0])
    q = root * g[:, 0]
    alphas = []
    for i in reversed(newest_last):
        sv, yv = s[i, :, 0] / root, root * y[i, :, 0]
        alphas.append((sv @ q) / (sv @ yv))
        q -= alphas[-1] * yv
    sv, yv = s[head - 1, :, 0] / root, root * y[head - 1, :, 0]
    q *= (sv @ yv) / (yv @ yv)
    for i, a in zip(newest_last, reversed(alphas), strict=True):
        sv, yv = s[i, :, 0] / root, root * y[i, :, 0]
        q += (a - (yv @ q) / (sv @ yv)) * sv
    expected = -root * q
    calls = []
    original = _lbfgs._compact_product
    monkeypatch.setattr(
        _lbfgs, "_compact_product", lambda *a: calls.append(1) or original(*a)
    )
    for limit in (n, n - 1):  # the compact form, then the loops
        monkeypatch.setattr(_lbfgs, "COMPACT_MAX", limit)
        state = _lbfgs.LBFGSState(trial=np.zeros((n, 1)), grad=g.copy())
        state.s, state.y = s.copy(), y.copy()
        state.rho = 1.0 / np.einsum("ipk,ipk->i", s, y)
        state.n_pairs, state.head = n_pairs, head
        state.precond = P if precond else None
        LBFGS()._new_direction(np.zeros((n, 1)), state, 0.1)
        # measured: up to 4e-16 relative to the largest entry
        error = np.abs(state.direction[:, 0] - expected).max()
        assert error < 1e-14 * np.abs(expected).max()
    assert len(calls) == 1


def test_lbfgs_fits_the_same_with_and_without_the_compiled_two_loop(monkeypatch):
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler

    from sklearn_adamlr import AdamLogisticRegression

    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    fits = []
    for compiled in (True, False):
        monkeypatch.setattr(_kernels, "AVAILABLE", compiled)
        fits.append(AdamLogisticRegression(solver="lbfgs").fit(X, y))
    assert fits[0].n_iter_ == fits[1].n_iter_
    # measured: 8.9e-16 (the coefficients are of order 1)
    np.testing.assert_allclose(fits[0].coef_, fits[1].coef_, rtol=0, atol=1e-13)


def test_lbfgs_makes_no_direction_that_a_newton_step_replaces(monkeypatch):
    # After the first, a direction is made when the next point is asked for:
    # a direction handed over in between (the certificate's Newton step)
    # replaces it without the two-loop product; the points are the same as
    # if it had been made at once.
    X, y = _small_problem()
    gradient = _smooth_gradient(X, y, 0.01)
    solver = get_solver("lbfgs")
    made = []
    original = LBFGS._new_direction
    monkeypatch.setattr(
        LBFGS, "_new_direction", lambda *a: made.append(1) or original(*a)
    )
    params = np.zeros((4, 1))
    state = solver.init_state(params)
    solver.update(params, gradient(solver.eval_point(params, state)), state, 0.3, None)
    assert len(made) == 1  # the first: the learning rate's step, at once
    solver.update(params, gradient(solver.eval_point(params, state)), state, 0.3, None)
    assert len(made) == 1 and state.pending_rate == 0.3
    newton, start = -0.5 * state.grad, params.copy()
    assert solver.take_direction(params, state, newton)
    np.testing.assert_array_equal(solver.eval_point(params, state), params + newton)
    assert len(made) == 1
    solver.update(params, gradient(solver.eval_point(params, state)), state, 0.3, None)
    np.testing.assert_array_equal(params, start + newton)  # accepted
    trial = solver.eval_point(params, state)
    assert len(made) == 2
    np.testing.assert_array_equal(solver.eval_point(params, state), trial)
    assert len(made) == 2  # made once
