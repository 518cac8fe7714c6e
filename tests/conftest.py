"""Test set-up: a third-party solver registered the way a user would.

It is registered before the test modules are collected, so the common tests,
which iterate over ``available_solvers()``, pick it up with no change to the
package or to any test file.
"""

import os
import re

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from sklearn_adamlr import (
    Solver,
    _dask,
    _engines,
    available_solvers,
    get_solver,
    register_solver,
    unregister_solver,
)
from sklearn_adamlr.solvers._base import capabilities_of

# One BLAS and OpenMP thread per test process: pytest-xdist already runs a
# process per core, and two threads each on 2 cores made scikit-learn's
# references crawl (lbfgs to tol=1e-12 on digits: 3.7 s, 0.11 s on one).
threadpool_limits(1)

# Every fit may compile, as before the rule of _kernels.pays: the tests that
# compare the compiled path with numpy's must run it, whatever the data's
# size and whatever the cache holds. tests/test_compile_rule.py tests the
# rule itself, in processes of its own.
os.environ["SKLEARN_ADAMLR_COMPILE"] = "always"

# mutmut (see docs/architecture.rst) imports this file twice in one process
if "thirdparty_plain_sgd" in available_solvers():
    unregister_solver("thirdparty_plain_sgd")


@register_solver
class PlainSGD(Solver):
    """Minibatch SGD without momentum: the smallest solver that fits the contract."""

    name = "thirdparty_plain_sgd"

    def init_state(self, params):
        return None

    def update(self, params, grad, state, learning_rate, prox):
        params -= learning_rate * grad
        if prox is not None:
            prox(params, learning_rate)


def per_sample(name):
    """Whether the solver steps once per sample with its own epoch (saga)."""
    solver = get_solver(name)
    return capabilities_of(solver).data_epoch is not None and not solver.full_batch


def has_compiled_path(name):
    """Whether the solver runs compiled with numba (newton's cost is BLAS's)."""
    epoch = capabilities_of(get_solver(name)).data_epoch
    return getattr(epoch, "has_compiled_path", True)


def compiled_solvers():
    """The registered solvers that have a compiled path to compare."""
    return [s for s in available_solvers() if has_compiled_path(s)]


def standardized(load):
    """A bundled data set with standardized features."""
    from sklearn.preprocessing import StandardScaler

    X, y = load(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def integer_weights(n, seed=0):
    """Integer sample weights in {0, 1, 2, 3}, zeros included."""
    return np.random.RandomState(seed).randint(0, 4, size=n).astype(np.float64)


def run_snippet(tmp_path, name, code):
    """Run ``code`` as the script ``name`` in a fresh interpreter; assert it ran.

    A file, not ``-c``: a Dask snippet's worker processes import the
    script's module. It runs in ``tmp_path``, where a snippet may write.
    """
    import subprocess
    import sys

    for module in ("dask_ml", "skl2onnx", "onnxruntime"):
        if module in code:
            pytest.importorskip(module)
    script = tmp_path / name
    script.write_text(code)
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in without_shutdown_race(result.stderr), result.stderr
    return result


# A log record of the standard ``logging`` format that distributed uses.
_LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ - ", re.MULTILINE)


# The last line of the second kind of record (see without_shutdown_race).
_HEARTBEAT_CLOSED = re.compile(
    r"CommClosedError: in <TCP \(closed\) ConnectionPool\.heartbeat_worker "
    r"[^>]*>: Stream is closed$"
)


def without_shutdown_race(stderr):
    """``stderr`` without the log records of distributed's shutdown race.

    When ``Client.close()`` stops a local cluster while a worker's heartbeat
    is in flight, the worker logs "Failed to communicate with scheduler
    during heartbeat" with a ``CommClosedError: ConnectionPool closing``
    traceback (dask/distributed#7192, open upstream), or, when the
    scheduler's side has closed first, a ``CommClosedError`` on the
    heartbeat's own connection ("... ConnectionPool.heartbeat_worker ...>:
    Stream is closed"). The script has already finished by then. This
    removes exactly those records, so that any other traceback, the
    package's above all, still fails the test. Seen in a CI run of
    docs/dask.rst's first snippet (2026-12-01; 0 in 8 local runs), and the
    second kind in a CI run of the README's Dask block on a loaded machine
    (2026-12-02).
    """
    starts = [m.start() for m in _LOG_RECORD.finditer(stderr)]
    bounds = [0, *starts, len(stderr)]
    kept = []
    for begin, end in zip(bounds[:-1], bounds[1:], strict=True):
        record = stderr[begin:end]
        lines = record.strip().splitlines()
        race = "Failed to communicate with scheduler during heartbeat" in record and (
            lines[-1].endswith("CommClosedError: ConnectionPool closing.")
            or _HEARTBEAT_CLOSED.search(lines[-1]) is not None
        )
        if not race:
            kept.append(record)
    return "".join(kept)


# The name spy_engines records for an epoch of the numpy reference.
REFERENCE = "NumpyEngine"
# Every way to run an epoch (see _engines.make_engine)
ENGINES = (
    _engines.NumpyEngine,
    _engines.KernelEngine,
    _engines.LinearEngine,
    _engines.SolverKernelEngine,
    _engines.DataEpochEngine,
    # data on a dask cluster (the travelling model's blocks run the engines
    # above on the workers, out of the spy's sight)
    _dask.FullPassEngine,
    _dask.TravellingEngine,
)


def spy_engines(monkeypatch):
    """Record the name of every engine that runs an epoch.

    A solver's own epoch (``DataEpochEngine``) chooses between its compiled
    and numpy paths itself: its name says which one ran (``REFERENCE`` for
    the numpy one). Compiled-vs-reference tests use it to assert that the
    compiled path is the one that ran, so that a regression to numpy on both
    sides cannot pass as agreement.
    """
    ran = []
    for cls in ENGINES:
        original = cls.run_epoch

        def run_epoch(self, *args, _original=original):
            name = type(self).__name__
            if isinstance(self, _engines.DataEpochEngine) and not self.runner.compiled:
                name = REFERENCE
            ran.append(name)
            return _original(self, *args)

        monkeypatch.setattr(cls, "run_epoch", run_epoch)
    return ran


# The slow tests: each takes seconds and repeats, on the largest bundled data
# set (digits) or end to end, a property that the quick run checks on smaller
# data. `pytest -m "not slow"` (the README's quick command) leaves them out;
# .ci/run runs them too. Seconds per test measured on 2026-12-06 with two
# workers, and what the quick run keeps of the property.
SLOW = (
    # 5-23 s each; breast_cancer and wine at the same C and weights stay
    "tests/test_parity.py::test_gd_l2_matches_lbfgs[[]digits-*",
    # 4-10 s; breast_cancer and wine stay
    "tests/test_parity.py::test_gd_l1_and_elastic_net_match_reference[[]digits-*",
    # 4-8 s; breast_cancer and wine stay
    "tests/test_parity.py::test_stochastic_solvers_reach_the_optimum[[]*-digits-*",
    # 10-26 s; the sparse rows stay
    "tests/test_saga.py::test_weak_regularisation_is_reported_and_warns[[]digits-*",
    # 6-8 s; digits at C=0.01, breast_cancer and the sparse set stay
    "tests/test_saga.py::test_reaches_the_optimum_in_300_epochs[[]digits-1.0-*",
    # 12-18 s: the benchmarks end to end at smoke size
    "tests/test_benchmarks_smoke.py::*",
    # 1-20 s each (digits at C=100, every solver; the reference's 0.4 s is
    # cached): breast_cancer, wine and iris at C=100 stay
    "tests/test_newton.py::test_no_silent_miss_on_digits_at_c100[[]*",
    # 0.2-2 s each (raw digits, every solver, to max_iter): breast_cancer,
    # wine and iris raw stay
    "tests/test_newton.py::test_raw_digits_lands_or_the_warning_names_the_cure[[]*",
    # 3-7 s: newton's cg form on raw digits; the matrix form's raw sets stay
    "tests/test_newton.py::test_newton_on_raw_digits",
)


def pytest_collection_modifyitems(config, items):
    from fnmatch import fnmatchcase

    for item in items:
        if any(fnmatchcase(item.nodeid, pattern) for pattern in SLOW):
            item.add_marker(pytest.mark.slow)
