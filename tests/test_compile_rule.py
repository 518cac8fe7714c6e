"""When a fit runs compiled code (``_kernels.pays``): a small fit does not wait
for numba's compiler; a fit that repays it compiles, and marks its kind so that
later small fits run the cached code.

The suite itself runs under ``SKLEARN_ADAMLR_COMPILE=always`` (conftest.py);
the rule is tested here in processes of its own, each on a new numba cache.
"""

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import REFERENCE, spy_engines
from scipy import sparse

from sklearn_adamlr import AdamLogisticRegression
from sklearn_adamlr._kernels import pays

numba = pytest.importorskip("numba")

# Fits in a new process; prints what numba compiled, the engines that ran
# and the kinds marked as compiled, as JSON.
FITS = """
import json, sys, warnings
import numpy as np
from numba.core import event
from scipy import sparse
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler
from sklearn_adamlr import AdamLogisticRegression, _engines
from sklearn_adamlr._kernels import pays

compiled = []

class Listener(event.Listener):
    def on_start(self, data):
        pass

    def on_end(self, data):
        compiled.append(str(data.data.get("dispatcher")))

event.register("numba:compile", Listener())
ran = []
for cls in (_engines.KernelEngine, _engines.NumpyEngine, _engines.SolverKernelEngine):
    original = cls.run_epoch
    def run_epoch(self, *args, _original=original):
        ran.append(type(self).__name__)
        return _original(self, *args)
    cls.run_epoch = run_epoch
X, y = load_breast_cancer(return_X_y=True)
X = StandardScaler().fit_transform(X)
warnings.simplefilter("ignore")
for solver in sys.argv[1].split(","):
    if solver == "adam-20000":
        # 100 minibatches an epoch: repays a load (0.2 s), not a compile
        rng = np.random.RandomState(0)
        Xm = rng.normal(size=(20_000, 5))
        ym = (Xm[:, 0] > 0).astype(int)
        AdamLogisticRegression(solver="adam", max_iter=5).fit(Xm, ym)
        continue
    for data in (X, sparse.csr_matrix(X)):
        AdamLogisticRegression(solver=solver, max_iter=5).fit(data, y)
print(json.dumps(dict(
    compiled=compiled, engines=sorted(set(ran)),
    kinds=sorted("-".join(k) for k in pays._compiled_kinds),
)))
"""


def _run(tmp_path, solvers, policy):
    env = {
        **os.environ,
        "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
        "SKLEARN_ADAMLR_COMPILE": policy,
    }
    out = subprocess.run(
        [sys.executable, "-c", FITS, solvers],
        env=env, capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_small_fits_compile_nothing_on_an_empty_cache(tmp_path):
    # the default, and the minibatch solvers on dense and CSR data: with an
    # empty cache each compiled 0.6-1.9 s (measured) before its first epoch
    seen = _run(tmp_path, "auto,adam,minibatch,gd,lbfgs", "auto")
    assert seen["compiled"] == []
    assert seen["engines"] == [REFERENCE]
    assert seen["kinds"] == []


def test_a_cached_kind_runs_compiled_where_it_repays_the_load(tmp_path):
    # a process that compiles (as --compile or a long fit does) marks the
    # kinds it ran
    first = _run(tmp_path, "adam-20000,gd", "always")
    assert first["compiled"] != []
    assert first["kinds"] == [
        "adam-float64-dense-binary-l2",
        "gd-float64-csr-binary-l2",
        "gd-float64-dense-binary-l2",
    ]
    # a later process loads adam's cached code for the fit that repays the
    # load, compiling nothing; gd's small fits would not repay it
    later = _run(tmp_path, "adam-20000,gd", "auto")
    assert later["compiled"] == []
    assert later["engines"] == ["KernelEngine", REFERENCE]
    assert later["kinds"] == ["adam-float64-dense-binary-l2"]
    # with an empty cache the same adam fit would not repay a compilation
    fresh = _run(tmp_path / "fresh", "adam-20000", "auto")
    assert fresh["compiled"] == [] and fresh["engines"] == [REFERENCE]


def test_the_cost_of_getting_a_kinds_code(monkeypatch):
    fit_kind = ("a-solver", "float64", "dense", "binary", "l2")
    monkeypatch.setattr(pays, "_compiled_kinds", set())
    assert pays.cost(fit_kind) == pays.COMPILE_SECONDS
    monkeypatch.setattr(
        pays, "_marker", lambda kind: SimpleNamespace(exists=lambda: True)
    )
    assert pays.cost(fit_kind) == pays.FIRST_LOAD_SECONDS
    pays._compiled_kinds.add(("another-solver",))
    assert pays.cost(fit_kind) == pays.LOAD_SECONDS
    pays._compiled_kinds.add(fit_kind)
    assert pays.cost(fit_kind) == 0.0


def _problem(n, d, is_sparse=False):
    X = sparse.random(n, d, format="csr") if is_sparse else np.empty((n, d))
    return SimpleNamespace(n_samples=n, X=X)


def _solver(full_batch):
    return SimpleNamespace(full_batch=full_batch)


def test_the_saving_estimate():
    # measured savings per epoch (see _kernels.pays): 20 us a dense
    # minibatch, 40 us a CSR one, 0.04 us a row of a full-batch pass
    assert pays.saving(_problem(2000, 10), _solver(False), 200, False) == (
        pytest.approx(100 * 10 * 20e-6)
    )
    assert pays.saving(_problem(2000, 10, True), _solver(False), 200, False) == (
        pytest.approx(100 * 10 * 40e-6)
    )
    # saga steps once a row, whatever the batch
    assert pays.saving(_problem(2000, 10), _solver(False), 200, True) == (
        pytest.approx(100 * 2000 * 20e-6)
    )
    assert pays.saving(_problem(400_000, 100), _solver(True), 400_000, False) == (
        pytest.approx(100 * 400_000 * 0.04e-6)
    )
    # three classes: numpy's products run the full passes (pays.blas_pays),
    # but the smallest and CSR's
    for n_outputs, expected in ((3, 0.0), (1, 100 * 400_000 * 0.04e-6)):
        saved = pays.saving(_problem(400_000, 100), _solver(True), 400_000, False,
                            n_outputs)  # fmt: skip
        assert saved == pytest.approx(expected)
    for problem in (_problem(100, 40), _problem(400_000, 100, True)):
        assert pays.saving(problem, _solver(True), 1, False, 3) == pytest.approx(
            100 * problem.n_samples * 0.04e-6
        )
    # minibatches of three classes: the kernel under 32 features, numpy's
    # products from there; saga's own epochs keep the kernel
    assert pays.saving(_problem(2000, 10), _solver(False), 200, False, 3) == (
        pytest.approx(100 * 10 * 20e-6)
    )
    assert pays.saving(_problem(2000, 40), _solver(False), 200, False, 3) == 0.0
    assert pays.saving(_problem(2000, 40), _solver(False), 200, True, 3) == (
        pytest.approx(100 * 2000 * 20e-6)
    )


@pytest.mark.parametrize(
    "n, full_batch, batch_size, per_sample, expected",
    [
        (569, True, 569, False, False),  # breast_cancer, gd or lbfgs
        (569, False, 200, False, False),  # breast_cancer, adam
        (1797, False, 200, False, False),  # digits, adam
        (100_000, False, 200, False, True),  # adam: 500 minibatches an epoch
        (400_000, True, 400_000, False, True),  # lbfgs on 400k rows
        (20_000, True, 20_000, False, False),  # full batch: 0.8 ms an epoch
        (1000, False, 200, True, True),  # saga: 1,000 steps an epoch
    ],
)
def test_which_fits_compile(
    monkeypatch, n, full_batch, batch_size, per_sample, expected
):
    monkeypatch.setenv("SKLEARN_ADAMLR_COMPILE", "auto")
    params = np.zeros((11, 1))
    problem = _problem(n, 10)
    problem.penalty = SimpleNamespace(has_prox=False)
    solver = SimpleNamespace(full_batch=full_batch, name="a-solver-never-compiled")
    assert pays.pays(problem, solver, params, batch_size, per_sample) is expected


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_never_and_always(monkeypatch):
    X = np.random.RandomState(0).normal(size=(100, 3))
    y = (X[:, 0] > 0).astype(int)
    ran = spy_engines(monkeypatch)
    monkeypatch.setenv("SKLEARN_ADAMLR_COMPILE", "never")
    AdamLogisticRegression(solver="adam", max_iter=2, tol=0).fit(X, y)
    assert set(ran) == {REFERENCE}
    ran.clear()
    monkeypatch.setenv("SKLEARN_ADAMLR_COMPILE", "always")
    AdamLogisticRegression(solver="adam", max_iter=2, tol=0).fit(X, y)
    assert set(ran) == {"KernelEngine"}
    # after the fit, compiled code is allowed again outside a fit
    assert pays.allowed()


def test_a_wrong_policy_says_which_are_right(monkeypatch):
    X = np.random.RandomState(0).normal(size=(20, 2))
    y = (X[:, 0] > 0).astype(int)
    monkeypatch.setenv("SKLEARN_ADAMLR_COMPILE", "sometimes")
    with pytest.raises(ValueError, match="'auto', 'always', 'never'"):
        AdamLogisticRegression().fit(X, y)


def test_a_fit_below_the_cheapest_load_does_not_look_on_disk(monkeypatch):
    # the kind's marker is read only where the saving could repay a load
    # (the stat took 20 us of a 1.7 ms default fit on breast_cancer)
    monkeypatch.setenv("SKLEARN_ADAMLR_COMPILE", "auto")
    monkeypatch.setattr(pays, "_compiled_kinds", set())
    looked = []
    monkeypatch.setattr(
        pays,
        "_marker",
        lambda kind: looked.append(kind) or SimpleNamespace(exists=lambda: True),
    )
    params = np.zeros((11, 1))
    solver = SimpleNamespace(full_batch=True, name="a-solver")
    for n, expected in ((569, False), (100_000, True)):
        problem = _problem(n, 10)
        problem.penalty = SimpleNamespace(has_prox=False)
        # 100,000 rows save 0.4 s over EPOCHS, more than a first load (0.17 s)
        assert pays.pays(problem, solver, params, n, False) is expected
        assert looked == [("a-solver", "float64", "dense", "binary", "l2")] * int(
            expected
        )


def test_a_fit_that_saves_nothing_never_runs_compiled(monkeypatch):
    # three classes on 400,000 dense rows: numpy's products run the passes
    # (pays.blas_pays), so the kernel saves nothing, even where its kind is
    # compiled in this process already (its cost 0); two classes would run it
    monkeypatch.setenv("SKLEARN_ADAMLR_COMPILE", "auto")
    solver = SimpleNamespace(full_batch=True, name="a-solver")
    problem = _problem(400_000, 100)
    problem.penalty = SimpleNamespace(has_prox=False)
    for k, expected in ((3, False), (1, True)):
        params = np.zeros((101, k))
        monkeypatch.setattr(
            pays, "_compiled_kinds", {pays.kind(problem, solver, params)}
        )
        assert pays.pays(problem, solver, params, 400_000, False) is expected
