"""SAGA: its lazy closed-form step, its compiled epochs against the numpy
reference, its optimum against an independent solver, and its streaming.

The reference optimum is computed here from the definitions, with scipy's
L-BFGS-B on the split ``w = w+ - w-`` (bounds make the L1 part smooth), not
with any helper of the package.
"""

import math
import pickle
import warnings

import numpy as np
import pytest
from conftest import standardized
from scipy import optimize, sparse
from scipy.special import expit, log_expit, logsumexp
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from sklearn_adamlr import AdamLogisticRegression, _engines, _kernels
from sklearn_adamlr._kernels import saga as saga_kernels
from sklearn_adamlr.solvers import _saga

needs_numba = pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba not installed")


# ------------------------------------------------------------ the lazy step


def _iterate(w, m, c, tau, a):
    """``m`` steps of ``w <- a * S(w - c, tau)``, one at a time."""
    for _ in range(m):
        u = w - c
        w = a * math.copysign(max(abs(u) - tau, 0.0), u)
    return w


def _cases(seed, n_cases):
    rng = np.random.RandomState(seed)
    for _ in range(n_cases):
        w = rng.normal() * 10 ** rng.uniform(-3, 1)
        c = rng.choice([-1, 1]) * 10 ** rng.uniform(-6, -1)
        tau = rng.choice([0.0, 10 ** rng.uniform(-6, -1)])
        l2_step = rng.choice([0.0, 10 ** rng.uniform(-8, -1)])
        m = int(rng.choice([1, 2, 3, 17, 300, 3000]))
        yield w, m, c, tau, l2_step


@pytest.mark.parametrize("compiled", [False, True])
def test_repeat_step_is_the_iterated_step(compiled):
    repeat = saga_kernels.repeat_step
    if not compiled:
        repeat = getattr(repeat, "py_func", repeat)
    elif not _kernels.AVAILABLE:
        pytest.skip("numba not installed")
    worst = 0.0
    for w, m, c, tau, l2_step in _cases(0, 600):
        a = 1.0 / (1.0 + l2_step)
        expected = _iterate(w, m, c, tau, a)
        got = repeat(w, m, c, tau, a, -math.log1p(l2_step), l2_step * a)
        # the iteration's own rounding grows with m: compare in its units
        scale = max(abs(w), abs(c) * m, 1e-300) * m * np.finfo(float).eps
        worst = max(worst, abs(got - expected) / scale)
        # a zero of the iteration is an exact zero of the closed form
        assert (got == 0.0) == (expected == 0.0)
    # measured: 1.6 units (of m roundings of the iterate's size)
    assert worst < 3


def test_steps_to_an_edge_are_counted_as_iterated():
    # repeat_step jumps a piece in one go with this count; a wrong count
    # that is too small only costs steps taken one by one (a mutant of its
    # formula, negative for every case, passed every value test), one too
    # large crosses the edge. Counted one step at a time here.
    rng = np.random.RandomState(0)
    for _ in range(300):
        edge = 10 ** rng.uniform(-4, 0)
        v = edge * (1 + 10 ** rng.uniform(-2, 2))
        l2_step = rng.choice([0.0, 10 ** rng.uniform(-4, -1)])
        a = 1.0 / (1.0 + l2_step)
        steps, u = 0, v
        while u > edge:
            u, steps = a * (u - edge), steps + 1
        count = saga_kernels._steps_to_edge(
            v, edge, a, -math.log1p(l2_step), l2_step * a
        )
        # u reaches edge or below in exactly ceil(count) steps, but where
        # it lands within rounding of edge the two may differ by one
        assert steps - 1 <= math.ceil(count) <= steps
        assert count > steps - 1 - 1e-9


def test_geometric_tables_are_the_iterated_l2_step():
    rate, l2, n = 0.3, 1e-3, 5000
    powers, sums = saga_kernels._geometric(n, rate, l2)
    a = 1.0 / (1.0 + rate * l2)
    for m in (0, 1, 2, 50, 4999, 5000):
        w, c = 0.7, -0.01
        expected = _iterate(w, m, c, 0.0, a)
        # measured: 2e-15 relative
        assert powers[m] * w - c * a * sums[m] == pytest.approx(expected, rel=1e-13)
    powers, sums = saga_kernels._geometric(10, rate, 0.0)
    assert np.array_equal(powers, np.ones(11)) and np.array_equal(sums, np.arange(11))


# ------------------------------------------- compiled epochs vs the reference


def _sparse_problem(n=300, d=2000, density=0.005, n_classes=2, seed=0):
    rng = np.random.RandomState(seed)
    X = sparse.random(n, d, density=density, format="csr", random_state=rng)
    X.data = rng.normal(size=X.nnz)
    y = rng.randint(n_classes, size=n)
    return X, y


def _spy_runner(monkeypatch):
    ran = []
    original = _engines.DataEpochEngine.run_epoch

    def run_epoch(self, *args):
        ran.append(self.runner.compiled)
        return original(self, *args)

    monkeypatch.setattr(_engines.DataEpochEngine, "run_epoch", run_epoch)
    return ran


@needs_numba
@pytest.mark.parametrize("fmt", ["dense", "csr"])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("l1_ratio", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_compiled_epochs_match_the_reference(
    monkeypatch, fmt, n_classes, l1_ratio, fit_intercept
):
    # 2000 features at 1.5 non-zeros a row: a feature waits ~200 steps for
    # its next sample, so the lazy epoch's catch-up does most of the work.
    X, y = _sparse_problem(n_classes=n_classes)
    if fmt == "dense":
        X = X.toarray()
    sw = np.random.RandomState(1).uniform(0.5, 2.0, size=len(y))
    kw = dict(
        solver="saga", C=10.0, l1_ratio=l1_ratio, fit_intercept=fit_intercept,
        max_iter=3, tol=None, random_state=0, learning_rate=0.05,
    )  # fmt: skip
    ran = _spy_runner(monkeypatch)
    compiled = AdamLogisticRegression(**kw).fit(X, y, sample_weight=sw)
    assert ran == [True] * 3
    ran.clear()
    monkeypatch.setattr(_kernels, "AVAILABLE", False)
    reference = AdamLogisticRegression(**kw).fit(X, y, sample_weight=sw)
    assert ran == [False] * 3
    assert np.abs(reference.coef_).max() > 0.05  # the steps moved
    # measured: at most 1.2e-14 apart (CSR: the closed-form catch-up against
    # step-by-step updates; dense: 3.8e-15)
    np.testing.assert_allclose(compiled.coef_, reference.coef_, rtol=0, atol=1e-13)
    np.testing.assert_allclose(
        compiled.intercept_, reference.intercept_, rtol=0, atol=1e-13
    )
    # exact zeros in both
    assert np.array_equal(compiled.coef_ == 0, reference.coef_ == 0)
    if l1_ratio == 1.0:
        assert (compiled.coef_ == 0).any()


@needs_numba
@pytest.mark.parametrize("fmt", ["dense", "csr", "csr32"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_compiled_epochs_in_runs_match_the_reference(monkeypatch, fmt, n_classes):
    # 1,200 rows: the epochs visit runs of rows (Saga.run_rows), and the CSR
    # epoch keeps its per-feature records through them; float32 rounds the
    # coefficients of the records as the float32 reference stores them.
    X, y = _sparse_problem(n=1200, d=800, density=0.01, n_classes=n_classes)
    if fmt == "dense":
        X = X.toarray()
    if fmt == "csr32":
        X = X.astype(np.float32)
    kw = dict(
        solver="saga", C=10.0, l1_ratio=0.5, max_iter=3, tol=None,
        random_state=0, learning_rate=0.05,
    )  # fmt: skip
    ran = _spy_runner(monkeypatch)
    compiled = AdamLogisticRegression(**kw).fit(X, y)
    assert ran == [True] * 3
    monkeypatch.setattr(_kernels, "AVAILABLE", False)
    reference = AdamLogisticRegression(**kw).fit(X, y)
    assert ran == [True] * 3 + [False] * 3
    assert np.abs(reference.coef_).max() > 0.05  # the steps moved
    # measured: at most 6.6e-14 apart in float64 and 3.1e-6 in float32
    # (before the records, with three arrays: 6.9e-14 and 3.4e-6)
    atol = 5e-6 if fmt == "csr32" else 1e-13
    np.testing.assert_allclose(compiled.coef_, reference.coef_, rtol=0, atol=atol)
    np.testing.assert_allclose(
        compiled.intercept_, reference.intercept_, rtol=0, atol=atol
    )
    if fmt != "csr32":
        assert np.array_equal(compiled.coef_ == 0, reference.coef_ == 0)


def _spy_samples(monkeypatch):
    seen = []
    original = _saga.SagaEpoch.epoch

    def epoch(self, params, state, samples, rate):
        seen.append(np.array(samples))
        return original(self, params, state, samples, rate)

    monkeypatch.setattr(_saga.SagaEpoch, "epoch", epoch)
    return seen


@pytest.mark.parametrize(
    "n, shuffle, runs",
    [
        (1100, True, True),
        (1100, "blocks", True),
        (1100, "samples", False),
        (1023, True, False),  # fewer than RUNS_MIN runs of 16 rows
        (1024, True, True),  # RUNS_MIN runs exactly
        (1100, False, False),
    ],
)
def test_epochs_visit_runs_of_consecutive_rows(monkeypatch, n, shuffle, runs):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(n, 3))
    y = (X[:, 0] > 0).astype(int)
    seen = _spy_samples(monkeypatch)
    AdamLogisticRegression(
        solver="saga", max_iter=4, tol=None, shuffle=shuffle, random_state=0
    ).fit(X, y)
    assert len(seen) == 4
    for samples in seen:
        # every sample once an epoch
        assert np.array_equal(np.sort(samples), np.arange(n))
        # the rows whose successor in the visit is not the next row (mod n):
        # the ends of the runs
        ends = samples[np.append(samples[1:] != (samples[:-1] + 1) % n, True)]
        if runs:
            # runs of 16 rows shifted by one offset: all the ends but the
            # one before the offset share a residue mod 16
            assert len(ends) <= -(-n // 16)
            residues = np.bincount(ends % 16, minlength=16)
            assert residues.max() >= len(ends) - 1
        elif shuffle is False:
            assert np.array_equal(samples, np.arange(n))
        else:
            assert len(ends) > 0.9 * n  # a permutation of single samples
    if shuffle is not False:
        # a new order each epoch
        assert not np.array_equal(seen[0], seen[1])


def test_runs_of_rows_reach_the_optimum_on_label_sorted_rows():
    # The runs keep neighbouring rows together; with the rows sorted by
    # label, a run is one class. Measured (tol=1e-8): relative gaps of
    # 2.6e-15 in runs and 2.8e-15 by permutation, in 75 and 72 epochs (on
    # the same rows unsorted: 76 and 73).
    rng = np.random.RandomState(0)
    n, d = 4000, 10
    X = rng.normal(size=(n, d))
    y = (X @ rng.normal(size=d) + rng.logistic(size=n) > 0).astype(int)
    order = np.argsort(y, kind="stable")
    X, y = X[order], y[order]
    optimum = _reference(X, y, 1.0, 0.0)
    epochs = {}
    for shuffle in (True, "samples"):
        clf = AdamLogisticRegression(
            solver="saga", tol=1e-8, random_state=0, shuffle=shuffle
        ).fit(X, y)
        gap = _objective(X, y, clf.coef_, clf.intercept_, 1.0, 0.0) - optimum
        assert clf.optimality_ <= 1e-8
        assert abs(gap) / optimum <= 1e-13
        epochs[shuffle] = clf.n_iter_
    assert epochs[True] <= 1.25 * epochs["samples"]


# ------------------------------------------------------ the optimum it finds


def _objective(X, y, coef, intercept, C, l1_ratio):
    """``sum(loss) / n + alpha * penalty``, from the definitions."""
    n = X.shape[0]
    z = np.asarray(X @ coef.T) + intercept
    if coef.shape[0] == 1:
        z = z[:, 0]
        data = -(log_expit(z) * (y == 1) + log_expit(-z) * (y != 1)).sum()
    else:
        data = (logsumexp(z, axis=1) - z[np.arange(n), y]).sum()
    alpha = 1.0 / (C * n)
    penalty = 0.5 * (1 - l1_ratio) * (coef**2).sum() + l1_ratio * np.abs(coef).sum()
    return data / n + alpha * penalty


def _reference(X, y, C, l1_ratio):
    """The optimum by L-BFGS-B on ``w = w+ - w-``, ``w+, w- >= 0``."""
    n, d = X.shape
    k = 1 if y.max() == 1 else y.max() + 1
    alpha = 1.0 / (C * n)
    l1, l2 = alpha * l1_ratio, alpha * (1 - l1_ratio)
    onehot = np.eye(k)[y] if k > 1 else y[:, None].astype(float)

    def fun(v):
        pos, neg = v[: d * k].reshape(d, k), v[d * k : 2 * d * k].reshape(d, k)
        b = v[2 * d * k :]
        w = pos - neg
        z = np.asarray(X @ w) + b
        if k == 1:
            loss = -(log_expit(z) * onehot + log_expit(-z) * (1 - onehot)).sum()
            r = expit(z) - onehot
        else:
            lse = logsumexp(z, axis=1, keepdims=True)
            loss = (lse[:, 0] - (z * onehot).sum(axis=1)).sum()
            r = np.exp(z - lse) - onehot
        gw = np.asarray(X.T @ r) / n + l2 * w
        value = loss / n + 0.5 * l2 * (w**2).sum() + l1 * (pos + neg).sum()
        grad = np.concatenate([(gw + l1).ravel(), (-gw + l1).ravel(), r.sum(0) / n])
        return value, grad

    bounds = [(0, None)] * (2 * d * k) + [(None, None)] * k
    res = optimize.minimize(
        fun, np.zeros(2 * d * k + k), jac=True, method="L-BFGS-B", bounds=bounds,
        options=dict(maxiter=100_000, maxfun=200_000, ftol=1e-15, gtol=1e-11),
    )  # fmt: skip
    return res.fun


def _sparse_classification():
    rng = np.random.RandomState(0)
    X = sparse.random(2000, 500, density=0.02, format="csr", random_state=rng)
    X.data = rng.normal(size=X.nnz)
    w = rng.normal(size=500) * (rng.uniform(size=500) < 0.2)
    y = (X @ w + 0.3 * rng.normal(size=2000) > 0).astype(int)
    return X, y


DATA = {
    "breast_cancer": lambda: standardized(load_breast_cancer),
    "digits": lambda: standardized(load_digits),
    "wine": lambda: standardized(load_wine),
    "sparse": _sparse_classification,
}

# The relative gaps above 1e-6 after 300 epochs, as measured (default step,
# tol=1e-8): weakly regularised, ill-conditioned problems where SAGA's linear
# rate, about 1 - mu / L_mean per sample, needs thousands of epochs;
# scikit-learn's saga ends its 300 epochs on digits at C=1 at a gap of 8e-2.
# Each still warns, since the certificate is not met.
# All the other cases end at most 9.4e-8 above the reference (breast_cancer,
# C=1, elastic net), most of them at 1e-11 or below; C=100 is in REPORTED.
# digits has 1,797 rows, so its epochs visit runs of 16 rows (Saga.run_rows);
# in a permutation of the samples the elastic net's gap was 9.1e-6 at seed 0,
# and 9e-6 to 3.2e-4 over seeds 0-4, where runs give 1e-5 to 5.2e-5 (L2:
# 1.4e-5 to 3.7e-5 in a permutation, 1.4e-5 to 3.8e-5 in runs).
MISSES = {
    ("breast_cancer", 1.0, 1.0): 1.3e-3,
    ("digits", 1.0, 0.0): 1.4e-5,
    ("digits", 1.0, 1.0): 1.4e-3,
    ("digits", 1.0, 0.5): 5.2e-5,
}


@pytest.mark.parametrize("l1_ratio", [0.0, 1.0, 0.5])
@pytest.mark.parametrize("C", [0.01, 1.0])
@pytest.mark.parametrize("name", list(DATA))
def test_reaches_the_optimum_in_300_epochs(name, C, l1_ratio):
    X, y = DATA[name]()
    optimum = _reference(X, y, C, l1_ratio)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf = AdamLogisticRegression(
            solver="saga", C=C, l1_ratio=l1_ratio, tol=1e-8, max_iter=300,
            random_state=0,
        ).fit(X, y)  # fmt: skip
    gap = (_objective(X, y, clf.coef_, clf.intercept_, C, l1_ratio) - optimum) / abs(
        optimum
    )
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    # it warns exactly when the certificate is not met
    assert warned == (clf.optimality_ > 1e-8)
    if (name, C, l1_ratio) in MISSES:
        assert gap <= 2 * MISSES[name, C, l1_ratio]
        assert warned
        return
    assert gap <= 1e-6
    if l1_ratio > 0:
        gd = AdamLogisticRegression(
            solver="gd", C=C, l1_ratio=l1_ratio, tol=1e-10, max_iter=50_000
        ).fit(X, y)
        assert np.array_equal(clf.coef_ == 0, gd.coef_ == 0)


@pytest.mark.parametrize("fmt", ["dense", "float32", "csr"])
def test_the_table_mean_spans_every_block_of_rows(fmt):
    # The start's mean of the table is summed in blocks of 4,096 rows; every
    # other data set here has fewer. A mean that missed a block (a mutant
    # skipped every second one) biases every step, and SAGA then converges
    # to another point.
    rng = np.random.RandomState(0)
    n, d = 2 * 4096 + 1000, 8
    X = rng.normal(size=(n, d)) * (rng.uniform(size=(n, d)) < 0.5)
    y = (X @ rng.normal(size=d) + rng.logistic(size=n) > 0).astype(int)
    optimum = _reference(X, y, 1.0, 0.0)
    data = {"dense": X, "float32": X.astype(np.float32), "csr": sparse.csr_matrix(X)}
    clf = AdamLogisticRegression(solver="saga", tol=1e-7, random_state=0)
    clf.fit(data[fmt], y)
    gap = (_objective(X, y, clf.coef_, clf.intercept_, 1.0, 0.0) - optimum) / optimum
    # measured: 8.2e-14 (float64, dense and CSR) and -2.2e-11 (float32: its
    # coefficients, rounded, in the float64 objective), 44 epochs
    assert clf.optimality_ <= 1e-7 and abs(gap) <= 1e-10


# The weakly regularised cases, where the certificate is not met in 300
# epochs: the user guide's table reports them; each bound is twice what was
# measured, so a fit that got 10 times worse fails.
REPORTED = {
    ("breast_cancer", 0.0): 1.3e-1, ("breast_cancer", 1.0): 3.9e-1,
    ("breast_cancer", 0.5): 1.8e-1, ("digits", 0.0): 1.9e-1,
    ("digits", 1.0): 4.5e-1, ("digits", 0.5): 2.5e-1, ("wine", 0.0): 1.5e-2,
    ("wine", 1.0): 1.4e-1, ("wine", 0.5): 3.0e-2, ("sparse", 0.0): 2.0e-2,
    ("sparse", 1.0): 9.2e-1, ("sparse", 0.5): 5.6e-2,
}  # fmt: skip


@pytest.mark.parametrize("name, l1_ratio", list(REPORTED))
def test_weak_regularisation_is_reported_and_warns(name, l1_ratio):
    X, y = DATA[name]()
    optimum = _reference(X, y, 100.0, l1_ratio)
    with pytest.warns(ConvergenceWarning, match="optimality"):
        clf = AdamLogisticRegression(
            solver="saga", C=100.0, l1_ratio=l1_ratio, tol=1e-8, max_iter=300,
            random_state=0,
        ).fit(X, y)  # fmt: skip
    objective = _objective(X, y, clf.coef_, clf.intercept_, 100.0, l1_ratio)
    assert (objective - optimum) / abs(optimum) <= 2 * REPORTED[name, l1_ratio]


def test_the_theory_step_is_far_slower_than_the_default_on_digits():
    # 1 / (3 L_max), the step of tol=None (Defazio et al.'s Theorem 1), against
    # the default 1 / L_mean on standardized digits at C=1, 300 epochs each:
    # measured relative gaps 4e-1 and 1.4e-5 (the user guide's figures). The
    # largest sample smoothness is 38 times the mean there.
    X, y = DATA["digits"]()
    norms = np.einsum("ij,ij->i", X, X) + 1.0
    assert norms.max() / norms.mean() == pytest.approx(38, rel=0.05)
    optimum = _reference(X, y, 1.0, 0.0)
    gaps = {}
    for tol in (None, 1e-8):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = AdamLogisticRegression(
                solver="saga", tol=tol, max_iter=300, random_state=0
            ).fit(X, y)
        objective = _objective(X, y, clf.coef_, clf.intercept_, 1.0, 0.0)
        gaps[tol] = (objective - optimum) / abs(optimum)
    assert gaps[None] > 1e-1
    assert gaps[1e-8] <= 2 * MISSES["digits", 1.0, 0.0]


def test_scikit_learns_saga_is_far_from_the_optimum_after_300_epochs():
    # the user guide's comparison: scikit-learn's saga on standardized digits
    # at C=1 ends its 300 epochs at a relative gap of 8e-2 (measured)
    X, y = DATA["digits"]()
    optimum = _reference(X, y, 1.0, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lr = LogisticRegression(solver="saga", tol=0.0, max_iter=300).fit(X, y)
    objective = _objective(X, y, lr.coef_, lr.intercept_, 1.0, 0.0)
    assert (objective - optimum) / abs(optimum) > 1e-2


# ------------------------------------------------------------------ streams


def test_a_chunk_of_another_size_rebuilds_the_table():
    X, y = standardized(load_breast_cancer)
    est = AdamLogisticRegression(solver="saga", random_state=0)
    est.partial_fit(X[:300], y[:300], classes=[0, 1])
    assert est._stream.solver_state.table.shape == (300, 1)
    fresh = pickle.loads(pickle.dumps(est))
    fresh._stream.solver_state.table = None  # what a rebuild starts from
    est.partial_fit(X[300:500], y[300:500])
    fresh.partial_fit(X[300:500], y[300:500])
    assert est._stream.solver_state.table.shape == (200, 1)
    np.testing.assert_array_equal(est.coef_, fresh.coef_)


def test_a_stale_table_of_the_same_size_does_not_bias_the_optimum():
    # A chunk with as many rows keeps the table's entries (another chunk's
    # gradients) but recomputes their mean on the new chunk: from the new
    # chunk's optimum, the steps come back to it. With the old chunk's mean,
    # they would settle where the gradient equals the difference of means.
    X, y = standardized(load_breast_cancer)
    A, yA, B, yB = X[:280], y[:280], X[280:560], y[280:560]
    target = AdamLogisticRegression(solver="gd", tol=1e-10, max_iter=10_000)
    target.fit(B, yB)
    optimum = _objective(B, yB, target.coef_, target.intercept_, 1.0, 0.0)
    est = AdamLogisticRegression(solver="saga", random_state=0)
    est.partial_fit(A, yA, classes=[0, 1])
    est.coef_, est.intercept_ = target.coef_.copy(), target.intercept_.copy()
    for _ in range(200):
        est.partial_fit(B, yB)
    gap = _objective(B, yB, est.coef_, est.intercept_, 1.0, 0.0) - optimum
    # measured: 2.6e-6 after 200 calls (3.4e-9 after 1000); with the old
    # chunk's mean kept instead, 3.4e2 after 200 calls
    assert gap / optimum < 5e-6


def test_pickled_mid_fit_continues_as_without_the_pickle():
    X, y = standardized(load_wine)
    kw = dict(solver="saga", max_iter=3, tol=None, random_state=0)
    straight = AdamLogisticRegression(**kw).fit(X, y)
    resumed = pickle.loads(pickle.dumps(AdamLogisticRegression(**kw).fit(X, y)))
    for est in (straight, resumed):
        est.partial_fit(X, y)
        est.partial_fit(X, y)
    assert np.array_equal(straight.coef_, resumed.coef_)
    assert straight.t_ == resumed.t_ == 5 * len(y)


def test_float32_stays_float32():
    X, y = standardized(load_wine)
    X = X.astype(np.float32)
    est = AdamLogisticRegression(solver="saga", max_iter=5, tol=None).fit(X, y)
    assert est.coef_.dtype == np.float32
    assert est._stream.solver_state.table.dtype == np.float32
    assert est._stream.solver_state.table.shape == (len(y), 3)


def test_a_decaying_schedule_is_refused_and_the_model_kept():
    X, y = standardized(load_wine)
    est = AdamLogisticRegression(solver="saga", max_iter=2, tol=None).fit(X, y)
    before = pickle.dumps(est)
    est.set_params(schedule="invscaling")
    with pytest.raises(ValueError, match="schedule='constant'"):
        est.fit(X, y)
    with pytest.raises(ValueError, match="constant step size"):
        est.partial_fit(X, y)
    est.set_params(schedule="constant")
    assert pickle.dumps(est) == before


# --------------------------------------------------------- the step's constants


@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_smoothness_constants_from_their_definitions(fmt):
    from sklearn_adamlr._loss import loss_for
    from sklearn_adamlr._penalties import ElasticNet
    from sklearn_adamlr._problem import Problem, Smoothness

    X, y = _sparse_problem(n=50, d=30, density=0.2, n_classes=3)
    sw = np.random.RandomState(2).uniform(0.0, 2.0, size=50)
    sw[:5] = 0.0
    Xd = X.toarray()
    problem = Problem(
        X=X if fmt == "csr" else Xd, target=y.astype(float), sample_weight=sw,
        loss=loss_for(3), penalty=ElasticNet(alpha=0.1, l1_ratio=0.5),
        fit_intercept=True,
    )  # fmt: skip
    smooth = Smoothness(problem)
    # f_i = n_counted * sw_i * loss_i / sum(sw), the softmax's curvature 1/2
    L_i = 0.5 * ((Xd**2).sum(axis=1) + 1.0) * sw / sw.sum()
    l2 = 0.1 * 0.5
    assert smooth.mean_sample == pytest.approx(L_i.sum() + l2, rel=1e-12)
    assert smooth.max_sample == pytest.approx(50 * L_i.max() + l2, rel=1e-12)
    assert smooth.max_weighted_sample == pytest.approx(45 * L_i.max() + l2, rel=1e-12)
