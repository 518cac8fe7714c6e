"""Training where the data live: dask arrays, computed block by block on the workers.

``fit`` and ``partial_fit`` on a dask array ``X`` (and ``y``, ``sample_weight``
as dask or in-memory arrays) never gather ``X`` into the client process:

- validation (shapes, finite values, labels, weights) runs on each block, on
  the worker that holds it, with scikit-learn's own checks and so its error
  messages; only each block's labels and a few sums come back;
- a full-batch solver (``gd``, ``lbfgs``) takes its steps on the client with
  the training loop of the in-memory fit: each pass computes every block's
  loss and gradient where the block lives, sums them pairwise in a tree,
  and only the parameters (out) and the reduced gradient (back) cross the
  network (:class:`FullPassEngine`);
- a minibatch solver (``adam``, ``minibatch``) runs its epoch as the model
  travelling from block to block (:class:`TravellingEngine`): one task per
  block, on the worker holding it, takes the in-memory engine's minibatch
  steps there and hands parameters and solver state to the next block's
  task. The steps are sequential anyway, so the blocks are not trained in
  parallel; what this buys is that no process ever holds more than a block
  of ``X``, with one round trip per epoch. Parameter averaging across
  workers would run in parallel, but averaged local models are not the
  optimum of the whole objective; with the certificate measured by a
  distributed full pass, the travelling model's fit reaches the same
  tolerance as in memory.

A solver whose steps need a table per sample (``saga``) is refused with a
message: its table would live on the client. dask is imported only when a
dask array arrives.
"""

import numpy as np

from ._engines import BatchEngine, Engine
from ._engines import make_engine as memory_engine
from ._loss import gradient_from_raw, raw_prediction
from ._plan import batches, epoch_plan
from ._problem import Problem
from .solvers._base import capabilities_of

# At most this many columns: the Gram matrix of the Lipschitz constant (d x d
# float64 per block) crosses the network; above it, Lanczos iterations with a
# distributed product each.
GRAM_COLUMNS = 2000


def is_dask_collection(obj):
    """Whether ``obj`` is a dask collection, without importing dask."""
    module = type(obj).__module__.split(".")[0]
    return module in ("dask", "dask_expr") and hasattr(obj, "__dask_graph__")


def _add(a, b):
    """Element-wise sum of two tuples of partial sums."""
    return tuple(x + y for x, y in zip(a, b, strict=True))


def _tree_sum(parts):
    """The sum of delayed tuples, pairwise: depth log2(blocks), not blocks."""
    from dask import delayed

    add = delayed(_add, pure=True)
    while len(parts) > 1:
        paired = [add(a, b) for a, b in zip(parts[::2], parts[1::2], strict=False)]
        if len(parts) % 2:
            paired.append(parts[-1])
        parts = paired
    return parts[0]


# ------------------------------------------------------- work on one block


def _loss_gradient_block(X, target, weights, params, loss, n_features):
    """``(sum of weighted losses, [X, 1]^T S dloss/dz, compiled)`` of one block.

    ``compiled`` is 1 when the compiled kernel of the in-memory fit computed
    it (numba on the worker, the block C-contiguous), else 0: the sum over
    the blocks says how many did.
    """
    from . import _kernels

    grad = np.empty(params.shape, dtype=params.dtype)
    if _kernels.supports(X, params) and not _kernels.pays.blas_pays(X, params.shape[1]):
        # The in-memory fit's full pass: on 125,000 x 50 float64 blocks, 35 ms
        # a block with numpy, 6 ms compiled (two classes; with three or more,
        # numpy's matrix products, see pays.blas_pays).
        kernel = _kernels.Kernel(X, target, weights, params.shape[1])
        value, _ = kernel(0, X.shape[0], None, params, 1.0, 0.0, grad)
        compiled = 1
    else:
        raw = raw_prediction(X, params, n_features)
        grad_raw = np.empty_like(raw)
        value = loss.loss_gradient(raw, target, weights, grad_raw)
        gradient_from_raw(X, grad_raw, n_features, 1.0, grad)
        compiled = 0
    return value, grad.astype(np.float64, copy=False), compiled


def _gram_block(X, weights, fit_intercept):
    """``[X, 1]^T S [X, 1]`` of one block, in float64."""
    X = np.asarray(X, dtype=np.float64)
    d = X.shape[1]
    sw = np.ones(len(X)) if weights is None else np.asarray(weights, np.float64)
    gram = np.zeros((d + int(fit_intercept),) * 2)
    gram[:d, :d] = (X * sw[:, None]).T @ X
    if fit_intercept:
        column = sw @ X
        gram[:d, d] = gram[d, :d] = column
        gram[d, d] = sw.sum()
    return (gram,)


def _product_block(X, weights, v, fit_intercept):
    """``[X, 1]^T S [X, 1] v`` of one block (a Lanczos step)."""
    d = X.shape[1]
    z = X @ v[:d]
    if fit_intercept:
        z = z + v[d]
    if weights is not None:
        z = z * weights
    out = np.empty(len(v))
    out[:d] = X.T @ z
    if fit_intercept:
        out[d] = z.sum()
    return (out,)


def _row_norms_block(X, weights, fit_intercept, scale):
    """``(max, sum)`` of the weighted ``|[x_i, 1]|^2``; the columns' sums of squares."""
    squares = np.einsum("ij,ij->i", X, X, dtype=np.float64) + float(fit_intercept)
    if weights is not None:
        squares *= weights * scale
    columns = np.einsum("ij,ij->j", X, X, dtype=np.float64)
    return squares.max(initial=0.0), float(squares.sum()), columns


def _epoch_block(X, target, weights, carried, setup, seed, rates):
    """One epoch's steps on one block, where it lives (:class:`TravellingEngine`).

    ``carried`` is ``(params, state, loss_sum, engines)`` from the previous
    block; returns the same after this block's minibatch steps, taken by
    the in-memory engine chosen for this block (its class name appended to
    ``engines``) at the step sizes ``rates``, one a minibatch.
    """
    solver, loss, penalty, fit_intercept, mean_weight, batch_size, mode = setup
    params, state, loss_sum, engines = carried
    params = params.copy()
    n = X.shape[0]
    problem = Problem(X, target, weights, loss, penalty, fit_intercept,
                      weight_total=mean_weight * n)  # fmt: skip
    size = max(1, min(batch_size, n))
    engine = memory_engine(problem, solver, params, size, mode)
    rng = np.random.RandomState(seed)
    gather = mode == "samples" and size < n
    rotate = mode == "blocks" and size < n
    plan = epoch_plan(rng, batches(n, size), n, size, gather, rotate)
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        value, _ = engine.run_epoch(plan, params, state, rates)
    return params, state, loss_sum + value, (*engines, type(engine).__name__)


def rows_of(X, name, n_features=None):
    """``X`` as a dask array of whole-row blocks, or the error that says what to do.

    ``n_features``: the count a fitted estimator expects.
    """
    import dask.array as da

    if not isinstance(X, da.Array):
        raise TypeError(
            f"X is a {type(X).__name__}; {name} takes dask arrays. Convert a "
            "dask DataFrame with df.to_dask_array(lengths=True)."
        )
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2D dask array for X, got {X.ndim}D instead: reshape "
            "it, e.g. X.reshape(-1, 1) for a single feature."
        )
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"X has {X.shape[1]} features, but {name} is expecting "
            f"{n_features} features as input."
        )
    if any(np.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    if X.numblocks[1] > 1:
        # a block is whole rows: the loss of a row needs all its features
        X = X.rechunk({1: -1})
    return X


# ------------------------------------------------------------- the data


class DaskData:
    """``X``, the encoded targets and the weights, persisted block by block.

    It stands where a :class:`~sklearn_adamlr._problem.Problem` holds an
    array, with the few reductions the training loop and the step sizes
    need, each computed on the workers and summed in a tree.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        Checked, chunked by rows only.
    target : dask.array.Array of shape (n_samples,)
        Encoded targets, chunked as ``X``'s rows.
    sample_weight : dask.array.Array of shape (n_samples,) or None
        Sample weights times class weights.
    weight_sum : float

    Attributes
    ----------
    shape, dtype, ndim
        Those of ``X``.
    """

    def __init__(self, X, target, sample_weight, weight_sum):
        self.shape = X.shape
        self.dtype = X.dtype
        self.ndim = 2
        self.weight_sum = weight_sum
        # The persisted arrays hold the blocks' futures: kept while training.
        self._arrays = (X, target, sample_weight)
        xs = list(X.to_delayed().ravel())
        ts = list(target.to_delayed().ravel())
        ws = (
            [None] * len(xs)
            if sample_weight is None
            else list(sample_weight.to_delayed().ravel())
        )
        self.blocks = list(zip(xs, ts, ws, strict=True))
        self.block_rows = X.chunks[0]

    def make_engine(self, problem, solver, params, batch_size, shuffle):
        """The engine of a problem on these blocks (``_engines.make_engine`` asks)."""
        return make_engine(problem, solver, params, batch_size, shuffle)

    def loss_gradient(self, params, loss, n_features):
        """``(sum of weighted losses, [X, 1]^T S dloss/dz)`` at ``params``: one pass.

        ``compiled_blocks`` then counts the blocks that the compiled kernel
        computed.
        """
        import dask
        from dask import delayed

        task = delayed(_loss_gradient_block, pure=False)
        parts = [task(X, t, w, params, loss, n_features) for X, t, w in self.blocks]
        value, grad, self.compiled_blocks = dask.compute(_tree_sum(parts))[0]
        return value, grad

    def lipschitz_constant(self, fit_intercept, curvature):
        """As :func:`~sklearn_adamlr._loss.lipschitz_constant`, reduced over blocks."""
        import dask
        from dask import delayed

        n_cols = self.shape[1] + int(fit_intercept)
        if n_cols <= GRAM_COLUMNS:
            task = delayed(_gram_block, pure=False)
            parts = [task(X, w, fit_intercept) for X, _, w in self.blocks]
            (gram,) = dask.compute(_tree_sum(parts))[0]
            top = np.linalg.eigvalsh(gram)[-1]
        else:
            from scipy.sparse.linalg import LinearOperator, eigsh

            task = delayed(_product_block, pure=False)

            def matvec(v):
                v = np.ravel(v).astype(np.float64)
                parts = [task(X, w, v, fit_intercept) for X, _, w in self.blocks]
                return dask.compute(_tree_sum(parts))[0][0]

            op = LinearOperator((n_cols, n_cols), matvec=matvec, dtype=np.float64)
            top = 1.02 * eigsh(
                op, k=1, which="LA", tol=1e-3, v0=np.ones(n_cols),
                return_eigenvectors=False,
            )[0]  # fmt: skip
        return curvature * float(top) / self.weight_sum

    def _norms(self, fit_intercept):
        """One pass for the row and column norms; kept per ``fit_intercept``."""
        import dask
        from dask import delayed

        cache = self.__dict__.setdefault("_norm_sums", {})
        if fit_intercept not in cache:
            scale = self.shape[0] / self.weight_sum
            task = delayed(_row_norms_block, pure=False)
            parts = [task(X, w, fit_intercept, scale) for X, _, w in self.blocks]
            results = dask.compute(*parts)
            cache[fit_intercept] = (
                max(r[0] for r in results),
                sum(r[1] for r in results),
                np.sum([r[2] for r in results], axis=0),
            )
        return cache[fit_intercept]

    def sample_constants(self, fit_intercept):
        """``(max, sum)`` over samples of the weighted ``|[x_i, 1]|^2``."""
        largest, total, _ = self._norms(fit_intercept)
        return largest, total

    def column_scales(self):
        """The root mean square of each column."""
        columns = (
            next(iter(self._norm_sums.values()))[2]
            if getattr(self, "_norm_sums", None)
            else self._norms(False)[2]
        )
        return np.sqrt(columns / max(self.shape[0], 1))


# ------------------------------------------------------------- engines


def make_engine(problem, solver, params, batch_size, shuffle):
    """The engine for a problem whose ``X`` is :class:`DaskData`."""
    if capabilities_of(solver).data_epoch is not None:
        needs = (
            "builds its steps from the data's Hessian"
            if solver.full_batch
            else "keeps a table of one gradient per sample"
        )
        raise ValueError(
            f"Solver {solver.name!r} {needs}, "
            "which would live in the client: on dask arrays use 'lbfgs' or "
            "'gd' (full-batch steps reduced over the blocks), or 'adam' or "
            "'minibatch' (minibatch steps on each block in turn)."
        )
    if solver.full_batch or batch_size >= problem.n_samples:
        return FullPassEngine(problem, solver, params, batch_size)
    return TravellingEngine(problem, solver, params, batch_size, shuffle)


def _first(carried):
    return carried[0]


class _DistributedPass:
    """The full pass of both engines: sums over the blocks, then the objective."""

    def _sums(self, params):
        """``(loss sum, [X, 1]^T S dloss/dz)`` at ``params``: one distributed pass."""
        p = self.problem
        return p.X.loss_gradient(params, p.loss, p.n_features)

    def _data_gradient(self, params, grad):
        """The loss sum at ``params``; the smooth part's gradient into ``grad``."""
        p = self.problem
        value, total = self._sums(params)
        grad[...] = total / p.weight_sum
        p.penalty.add_gradient(params[: p.n_features], grad[: p.n_features])
        return value

    def full_objective(self, params, grad):
        p = self.problem
        value = self._data_gradient(params, grad)
        return value / p.weight_sum + p.penalty.value(params[: p.n_features])


class FullPassEngine(_DistributedPass, BatchEngine):
    """A full-batch solver's steps; each pass reduced over the blocks.

    The loop runs on the client as in memory: ``solver.update`` on the
    gradient that one distributed pass returns, which the certificate
    reads too (``observe``), so a step costs one round trip.
    """

    def data_gradient(self, start, stop, rows, point):
        return self._data_gradient(point, self.grad), -1


class TravellingEngine(_DistributedPass, Engine):
    """A minibatch solver's epoch: the model visits the blocks in turn.

    Each block's task runs, on the worker holding the block, the
    in-memory engine's steps over that block's minibatches, and hands
    the parameters and the solver state on: the tasks form a chain, one
    round trip per epoch. The blocks are visited in a random order each
    epoch (unless ``shuffle=False``), drawn from the loop's plan, and
    each block's minibatches are shuffled as in memory.
    """

    def __init__(self, problem, solver, params, batch_size, shuffle):
        super().__init__(problem, solver, params, batch_size)
        self.batch_size = batch_size
        self.mode = shuffle
        # Each block's minibatches end at the block's end: the loop counts
        # these steps (t_, the schedule's rates), not n / batch_size.
        starts, stops, first = [], [], 0
        for rows in problem.X.block_rows:
            begin, end = batches(rows, max(1, min(batch_size, rows)))
            starts.append(begin + first)
            stops.append(end + first)
            first += rows
        self.bounds = (np.concatenate(starts), np.concatenate(stops))
        self._block_steps = [len(begin) for begin in starts]
        # the end point of the last epoch and its pass's sums (see run_epoch)
        self._measured = None
        # the in-memory engines that ran the last epoch's blocks on the workers
        self.block_engines = ()

    def run_epoch(self, plan, params, state, rates):
        import dask
        from dask import delayed

        data = self.problem.X
        n_blocks = len(data.blocks)
        order = plan[2]
        if self.mode is False:
            visit = np.arange(n_blocks)
            seeds = np.zeros(n_blocks, dtype=np.int64)
        else:
            # The loop's random generator drew the plan; a permutation of
            # the samples (or of the batches) seeds the block order.
            head = (order if order is not None else plan[0])[:8]
            seed = int(head @ np.arange(1, len(head) + 1))
            rng = np.random.RandomState(seed % (2**32))
            visit = rng.permutation(n_blocks)
            seeds = rng.randint(2**31, size=n_blocks)
        p = self.problem
        setup = (
            self.solver, p.loss, p.penalty, p.fit_intercept, self.mean_weight,
            self.batch_size, self.mode,
        )  # fmt: skip
        rates = list(rates)
        carried = (params, state, 0.0, ())
        offset = 0  # the block's first step in this epoch, for its rates
        task = delayed(_epoch_block, pure=False)
        for b in visit:
            X, t, w = data.blocks[b]
            carried = task(X, t, w, carried, setup, int(seeds[b]),
                           rates[offset : offset + self._block_steps[b]])  # fmt: skip
            offset += self._block_steps[b]
        if self.observe is None:
            new_params, new_state, loss_sum, engines = dask.compute(carried)[0]
            self._measured = None
        else:
            # The loop measures the certificate after the epoch: its pass
            # goes in the same graph, at the epoch's end point, so that an
            # epoch costs one round trip, not two.
            end = delayed(_first, pure=True)(carried)
            part = delayed(_loss_gradient_block, pure=False)
            parts = [part(X, t, w, end, p.loss, p.n_features)
                     for X, t, w in data.blocks]  # fmt: skip
            (new_params, new_state, loss_sum, engines), measured = dask.compute(
                carried, _tree_sum(parts)
            )
            data.compiled_blocks = measured[2]
            self._measured = (new_params.copy(), measured[:2])
        params[...] = new_params
        _copy_state(state, new_state)
        self.block_engines = engines
        return loss_sum, self._penalty_after(params)

    def _sums(self, params):
        # the epoch's graph measured its end point already
        measured = self._measured
        if measured is not None and np.array_equal(measured[0], params):
            return measured[1]
        return super()._sums(params)


def _copy_state(state, new_state):
    """Copy the fields of a solver state that came back from a worker, in place.

    The training loop holds ``state`` and the contract of ``run_epoch`` is
    to update it in place; the worker returned an updated copy.
    """
    if state is None:
        return
    for key, value in vars(new_state).items():
        current = getattr(state, key)
        if (
            isinstance(current, np.ndarray)
            and isinstance(value, np.ndarray)
            and current.shape == value.shape
        ):
            current[...] = value
        else:
            setattr(state, key, value)


# ------------------------------------------------------------- predictions


def predict_blocks(estimator, method, X):
    """``estimator.method`` on each block of the dask array ``X``: a dask array.

    Computed lazily, block by block where the blocks live, as dask-ml's
    ``ParallelPostFit`` does; the fitted estimator (its coefficients)
    travels with the tasks.
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator)
    X = rows_of(X, type(estimator).__name__, estimator.n_features_in_)
    function = getattr(estimator, method)
    k = len(estimator.classes_)
    if method == "predict":
        return X.map_blocks(function, drop_axis=1, dtype=estimator.classes_.dtype)
    dtype = estimator.coef_.dtype
    if method == "decision_function" and k == 2:
        return X.map_blocks(function, drop_axis=1, dtype=dtype)
    return X.map_blocks(function, chunks=(X.chunks[0], (k,)), dtype=dtype)
