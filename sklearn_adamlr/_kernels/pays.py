"""When a fit runs compiled code: when it is compiled already, or when compiling pays.

With an empty numba cache, the first fit of each kind compiles its kernels:
0.6 to 1.9 s (measured, one fit of 600 x 30 in a new process: gd 0.58 s
dense, 0.64 s CSR; adam 0.74 / 1.30 s; minibatch 0.81 / 1.88 s; saga
1.14 / 1.60 s; lbfgs 0.80 / 0.95 s). Loading them from numba's cache is
not free either: 0.17 s for the first kind in a process (numba sets up its
compiler's target), a few milliseconds for each later one. A small fit's
numpy path takes milliseconds (breast_cancer: lbfgs 2.6 ms, adam 20 ms), so
a small fit must wait for neither. The rule, under the default policy
``'auto'``: a fit runs compiled code when the time the compiled path saves
over ``EPOCHS`` epochs (:func:`saving`) is at least what getting it costs
(:func:`cost`):

- nothing, for a kind (solver, dtype, dense or CSR, two classes or more,
  with or without an L1 part) that ran compiled in this process;
- ``LOAD_SECONDS``, or ``FIRST_LOAD_SECONDS`` while no kind has, for a kind
  in numba's cache (compiled by an earlier fit or by
  ``python -m sklearn_adamlr --compile``);
- ``COMPILE_SECONDS`` otherwise.

A fit that ran compiled marks its kind as compiled, with a file beside
numba's own cache files, named after the kernels' sources (their sizes and
times, as numba's index is), so that a new version of the package, or an
emptied cache, starts cold again.

The policy is the environment variable ``SKLEARN_ADAMLR_COMPILE``:
``'auto'`` (the default), ``'always'`` (compile whatever a fit needs: the
behaviour before this rule, which the test suite uses) or ``'never'`` (the
numpy path only).
"""

import hashlib
import os
import threading
from contextlib import contextmanager
from pathlib import Path

from scipy import sparse

from . import _numba

POLICIES = ("auto", "always", "never")

# What compiling one kind costs, in seconds: the middle of the measured 0.6
# to 1.9 s above; loading one from the cache, measured (1,000 x 20, lbfgs
# then gd, adam, minibatch on CSR in one process: 0.170, 0.003, 0.004,
# 0.013 s).
COMPILE_SECONDS = 1.0
FIRST_LOAD_SECONDS = 0.17
LOAD_SECONDS = 0.015

# The epochs over which a fit repays the compilation: about what a default
# fit of the bundled sets takes (adam on breast_cancer: 100 or so).
EPOCHS = 100

# What the compiled path saves, measured per epoch with a warm cache on
# 2,000 to 200,000 rows (one thread, compiled against numpy):
# - per update (a minibatch, or a row of saga's): dense 20 us (adam on
#   20,000 x 10: 2.26 against 4.42 ms for 100 minibatches; saga 17 us a
#   row), CSR 40 us (adam 62, minibatch 52, saga 34);
# - per row of a full-batch pass: 0.04 us (lbfgs 200,000 x 20: 15.5 against
#   21.5 ms, gd 16.8 against 25.6 ms).
SAVING_PER_UPDATE = {False: 20e-6, True: 40e-6}
SAVING_PER_ROW = 0.04e-6

# Rows times features from which numpy's matrix products beat the compiled
# kernel on a pass over all the rows of three or more classes, and features
# from which they beat it on minibatches (blas_pays).
BLAS_MIN_SIZE = 4096
BLAS_MIN_FEATURES = 32
# numpy's full pass keeps the raw predictions and their gradient, two
# n_samples x n_classes arrays, where the kernel streams: they may take up
# to X's size, or this many values (128 MB in float64) in all.
BLAS_MAX_BUFFERS = 2**24

_local = threading.local()
_compiled_kinds = set()


def blas_pays(X, n_outputs, full_batch=True):
    """Whether numpy's matrix products beat the compiled kernel.

    For three or more classes on dense data: numpy multiplies ``X`` by all
    the classes' coefficients at once, where the kernel loops over the
    classes row by row. A full pass (``full_batch``), but the smallest:
    measured, default ``lbfgs`` fits, compiled / numpy (one BLAS thread;
    the kernel splits a large pass over two threads): iris (150 x 4) 1.0 /
    1.2 ms, 500 x 10 1.9 / 1.8, 1,000 x 10 3.1 / 2.7, digits (1,797 x 64,
    10 classes) 19 / 9.2, 20,000 x 20 52 / 21, 100,000 x 100 520 / 437 (on
    all threads 566 / 275), 400,000 x 100 with 5 classes 2,147 / 1,958
    (2,150 / 1,271). Minibatches (gathered by numpy before its products),
    from ``BLAS_MIN_FEATURES`` features: ``adam`` epochs on 50,000 rows, one
    thread, 10 features and 3 classes 5.1 / 8.4 ms, 20 and 10 9.2 / 10.8,
    30 and 4 9.5 / 9.4, 40 and 3 12.3 / 10.9, 40 and 5 12.2 / 11.2, 100 and
    3 25.3 / 16.8; digits 1.13 / 0.94. Two classes: the kernel everywhere
    (100,000 x 100: 4.6 / 10.0 ms a full pass, adam 8.3 / 21.4 ms an epoch).
    A full pass on numpy keeps two ``n_samples x n_classes`` arrays: where
    they would exceed both ``X``'s size and ``BLAS_MAX_BUFFERS`` values
    (many classes of few features), the kernel, which streams.
    """
    if n_outputs < 3 or sparse.issparse(X):
        return False
    n, d = X.shape
    if full_batch:
        buffers = 2 * n * n_outputs
        small = buffers <= n * d or buffers <= BLAS_MAX_BUFFERS
        return n * d >= BLAS_MIN_SIZE and small
    return d >= BLAS_MIN_FEATURES


def policy():
    """This thread's policy: ``SKLEARN_ADAMLR_COMPILE``, or a :func:`forced` one."""
    forced_policy = getattr(_local, "forced", None)
    if forced_policy is not None:
        return forced_policy
    value = os.environ.get("SKLEARN_ADAMLR_COMPILE", "auto").strip().lower()
    if value not in POLICIES:
        raise ValueError(
            f"SKLEARN_ADAMLR_COMPILE={value!r}: expected one of {POLICIES}."
        )
    return value


def allowed():
    """Whether the current fit of this thread may run compiled code.

    True outside a fit (a kernel called directly, a dask block).
    """
    return getattr(_local, "allowed", True)


@contextmanager
def forced(value):
    """Run a block under the policy ``value`` (``--compile`` uses ``'always'``)."""
    previous = getattr(_local, "forced", None)
    _local.forced = value
    try:
        yield
    finally:
        _local.forced = previous


def kind(problem, solver, params):
    """The kind of a fit: what decides which kernels it compiles."""
    X = problem.X
    return (
        getattr(solver, "name", None) or type(solver).__name__,
        str(X.dtype),
        "csr" if sparse.issparse(X) else "dense",
        "binary" if params.shape[1] == 1 else "multinomial",
        "l1" if problem.penalty.has_prox else "l2",
    )


def saving(problem, solver, batch_size, per_sample, n_outputs=1):
    """Seconds the compiled path saves over ``EPOCHS`` epochs (an estimate).

    ``per_sample``: the solver steps once a row whatever the batch (saga).
    Nothing for the passes that numpy's products run (:func:`blas_pays`).
    """
    n = problem.n_samples
    if not per_sample and blas_pays(problem.X, n_outputs, solver.full_batch):
        return 0.0
    if solver.full_batch:
        per_epoch = n * SAVING_PER_ROW
    else:
        updates = n if per_sample else -(-n // max(1, batch_size))
        per_epoch = updates * SAVING_PER_UPDATE[sparse.issparse(problem.X)]
    return EPOCHS * per_epoch


def cost(fit_kind):
    """Seconds it costs to get ``fit_kind``'s compiled code in this process."""
    if fit_kind in _compiled_kinds:
        return 0.0
    if _marker(fit_kind).exists():
        return LOAD_SECONDS if _compiled_kinds else FIRST_LOAD_SECONDS
    return COMPILE_SECONDS


def pays(problem, solver, params, batch_size, per_sample):
    """Whether this fit runs compiled code (see the module's rule)."""
    if not _numba.AVAILABLE:
        return False
    rule = policy()
    if rule != "auto":
        return rule == "always"
    saved = saving(problem, solver, batch_size, per_sample, params.shape[1])
    if saved <= 0.0:
        return False
    fit_kind = kind(problem, solver, params)
    cheapest = min(LOAD_SECONDS, FIRST_LOAD_SECONDS)
    if saved < cheapest and fit_kind not in _compiled_kinds:
        # below the cheapest load: no need to look for the kind's marker
        # on disk (20 us of a 1.7 ms default fit on breast_cancer)
        return False
    return saved >= cost(fit_kind)


@contextmanager
def fit_scope(problem, solver, params, batch_size, per_sample):
    """Run a fit with compiled code allowed or not; mark its kind when it ran compiled.

    Examples
    --------
    Outside a fit compiled code is allowed; a forced policy holds in its block:

    >>> from sklearn_adamlr._kernels import pays
    >>> pays.allowed()
    True
    >>> with pays.forced("never"):
    ...     pays.policy()
    'never'
    """
    allow = pays(problem, solver, params, batch_size, per_sample)
    previous = allowed()
    _local.allowed = allow
    try:
        yield allow
    finally:
        _local.allowed = previous
    # (not reached when the fit raised)
    if allow and _numba.AVAILABLE:
        mark(kind(problem, solver, params))


def mark(fit_kind):
    """Record that ``fit_kind``'s kernels are compiled: in this process and on disk."""
    if fit_kind in _compiled_kinds:
        return
    _compiled_kinds.add(fit_kind)
    path = _marker(fit_kind)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    except OSError:
        # a read-only cache: numba cannot keep the code either
        pass


def _marker(fit_kind):
    """The file that says ``fit_kind`` is compiled in numba's cache."""
    return _cache_dir() / f"sklearn_adamlr-compiled-{_stamp()}-{'-'.join(fit_kind)}"


_STAMP = None


def _stamp():
    """The kernels' sources (sizes and times) and numba's version, hashed."""
    global _STAMP
    if _STAMP is None:
        package = Path(__file__).resolve().parent.parent
        files = sorted(package.glob("_kernels/*.py")) + sorted(
            package.glob("solvers/*.py")
        )
        digest = hashlib.sha256(_numba.numba.__version__.encode())
        for path in files:
            info = path.stat()
            digest.update(f"{path.name}:{info.st_size}:{info.st_mtime}".encode())
        _STAMP = digest.hexdigest()[:16]
    return _STAMP


def _cache_dir():
    """Where numba keeps this package's compiled kernels (its locator's choice)."""
    from .rowloss import _add_loss

    # numba's Dispatcher keeps its cache (and its directory) in _cache; the
    # directory follows NUMBA_CACHE_DIR, or is the sources' __pycache__
    cache = getattr(_add_loss, "_cache", None)
    path = getattr(cache, "_cache_path", None)
    if path is None:  # pragma: no cover - another numba layout
        return Path(__file__).resolve().parent / "__pycache__"
    return Path(path)
