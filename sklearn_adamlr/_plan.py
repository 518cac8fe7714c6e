"""How an epoch visits the data: the minibatches and their order.

Pure functions of the sizes and a random generator, shared by the loop
(:mod:`sklearn_adamlr._training`) and the blocks of a dask array
(:mod:`sklearn_adamlr._dask`), which plan each block's steps where it lives.
"""

import numpy as np

from .solvers._base import capabilities_of

# A per-sample solver visits runs of rows (Solver.run_rows) only when there
# are at least this many runs to shuffle; smaller data fit in the caches,
# where runs save nothing.
RUNS_MIN = 64


def shuffle_mode(shuffle):
    """``'samples'``, ``'blocks'`` or False, for the estimator's ``shuffle``.

    True means ``'samples'``, as ``shuffle=True`` does in scikit-learn's
    ``SGDClassifier`` and ``MLPClassifier``: a new order of the samples each
    epoch, so that sorted rows (by label, say) are safe.
    """
    if shuffle is True or shuffle == "samples":
        return "samples"
    if shuffle == "blocks":
        return "blocks"
    return False


def batches(n_samples, batch_size):
    """``(starts, stops)`` of the contiguous minibatches of one epoch."""
    starts = np.arange(0, n_samples, batch_size, dtype=np.intp)
    return starts, np.minimum(starts + batch_size, n_samples)


# Rows per run of a minibatch solver's shuffled epoch on dense data in memory
# (see run_order). Measured, marginal adam epochs on 400,000 x 100 (batch
# 256, one thread, in reads of X), with the compiled kernel asking for the
# rows ahead (_kernels.dense.AHEAD): a permutation 4.0, runs of 16 rows 2.6
# to 2.7, 32 2.5, 64 2.3 to 2.4, consecutive minibatches ('blocks') 2.5
# (without it: 7.1, 4.3, 3.6, 3.0 to 3.1, 2.3). Longer runs mix fewer
# places into a minibatch: after 1, 2 and 5 tol=None epochs on 100,000 x 20
# rows sorted by label (median of 8 seeds), runs of 16 ended at 1.0, 1.1
# and 1.7 times a permutation's gap on the shuffled rows, runs of 32 at 1.2,
# 1.9 and 1.5, runs of 64 at 1.3, 1.0 and 2.0, runs of 128 at 3.5 after one.
MINIBATCH_RUN = 16


def run_order(rng, n_samples, run):
    """A random order of runs of ``run`` consecutive rows, their bounds shifted.

    The rows ``r mod n_samples`` for ``r`` in ``offset + k * run ...`` in runs
    of ``run``, the runs in a random order: every row once, as a
    permutation would, but read ``run`` rows at a time.
    """
    offset = int(rng.randint(run))
    n_runs = -(-n_samples // run)
    span = n_runs * run
    starts = rng.permutation(n_runs) * run + offset
    rows = np.add.outer(starts, np.arange(run)).ravel()
    # Only the runs that reach row n_samples (at most two: they lie in the
    # last 2 * run rows) wrap around or hold rows past the end: fixed one by
    # one, not by passes over all the rows (400,000 rows in runs of 64: 2.3
    # -> 1.4 ms, a twentieth of an adam epoch on 400,000 x 100).
    past = []
    for k in np.flatnonzero(starts + run > n_samples).tolist():
        run_rows = rows[k * run : (k + 1) * run]
        run_rows[run_rows >= span] -= span
        past.extend((k * run + np.flatnonzero(run_rows >= n_samples)).tolist())
    return np.delete(rows, past) if past else rows


def epoch_plan(rng, bounds, n_samples, batch_size, gather, rotate, run=1):
    """``(starts, stops, order)``: the minibatches of one epoch, in visiting order.

    With ``gather`` (``shuffle='samples'``), batch ``b`` is the samples
    ``order[starts[b]:stops[b]]`` of a new permutation ``order``. With
    ``rotate`` (``shuffle='blocks'``), the boundaries are shifted by a random
    offset and the batches visited in a random order: batch ``b`` is the rows
    ``r mod n_samples`` for ``r`` in ``starts[b]:stops[b]``, so that only the
    batch that straddles the end of ``X`` is not a view. Otherwise the fixed
    batches, in order. ``order`` is None unless ``gather``. With ``run``
    above 1 a gathered epoch's order is :func:`run_order`'s.
    """
    starts, stops = bounds
    if gather:
        if run > 1:
            return starts, stops, run_order(rng, n_samples, run)
        return starts, stops, rng.permutation(n_samples)
    if rotate:
        offset = int(rng.randint(batch_size))
        visit = rng.permutation(len(starts))
        starts, stops = starts[visit] + offset, stops[visit] + offset
        past_end = starts >= n_samples
        starts[past_end] -= n_samples
        stops[past_end] -= n_samples
    return starts, stops, None


def batch_size_and_mode(solver, shuffle, batch_size, n_samples):
    """``(batch_size, mode)`` of a training call: what the solver steps on.

    A full-batch solver steps on all ``n_samples``; a per-sample solver
    (``Capabilities.data_epoch``) on one sample at a time, visiting runs of
    ``solver.run_rows`` consecutive rows in a random order (``mode``
    ``'blocks'``, with the runs as its "batches") under ``shuffle=True`` or
    ``'blocks'`` when there are at least ``RUNS_MIN`` runs. ``mode`` is
    :func:`shuffle_mode`'s.
    """
    mode = shuffle_mode(shuffle)
    if solver.full_batch:
        batch_size = n_samples
    elif capabilities_of(solver).data_epoch is not None:
        batch_size = 1
        runs = mode and not (isinstance(shuffle, str) and shuffle == "samples")
        if runs and solver.run_rows > 1 and n_samples >= RUNS_MIN * solver.run_rows:
            # Runs of consecutive rows in a random order (Solver.run_rows):
            # rows drawn one by one from anywhere in X cost a cache miss
            # each (see Saga.run_rows for the measurement); the plan's
            # "batches" are the runs, and the engine steps through their rows.
            mode, batch_size = "blocks", solver.run_rows
    return max(1, min(batch_size, n_samples)), mode
