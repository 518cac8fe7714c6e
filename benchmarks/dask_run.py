"""Training on a dask cluster against the in-memory fit on the same data.

    python benchmarks/dask_run.py --quick    # small sizes, a smoke test for CI
    python benchmarks/dask_run.py --out benchmarks/results   # update dask.md

A ``LocalCluster`` of 2 worker processes (1 thread each) holds ``X`` in row
blocks, made on the workers; the in-memory fits run on the same numbers,
gathered into this process. For each solver, one certified fit, the gap
measured at each point its certificate evaluated (as ``run.py`` does): the
time of an epoch (a step of ``lbfgs`` and ``gd``), the median between two
of the first six such points, and the time to a relative objective gap of 1e-4; and the
round trip of one distributed pass on a tiny array, the latency that every
step pays.
"""

import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench  # noqa: E402

SOLVERS = ("lbfgs", "gd", "adam")


def latency(client):
    """Seconds of one distributed pass on 2 tiny blocks (the per-step floor)."""
    import dask.array as da

    from sklearn_adamlr import _dask

    X = da.zeros((4, 2), chunks=(2, 2)).persist()
    data = _dask.DaskData(X, da.zeros(4, chunks=2).persist(), None, 4.0)
    params = np.zeros((3, 1))
    from sklearn_adamlr._loss import BinaryLogLoss

    best = np.inf
    for _ in range(20):
        start = time.perf_counter()
        data.loss_gradient(params, BinaryLogLoss(), 2)
        best = min(best, time.perf_counter() - start)
    return best


def main(argv=None):
    args = bench.arguments(__doc__, argv, "adamlr-dask-benchmark-")

    import dask
    import dask.array as da
    import distributed
    from sklearn.linear_model import LogisticRegression

    from sklearn_adamlr import AdamLogisticRegression

    n, d, blocks = (20_000, 20, 4) if args.quick else (1_000_000, 50, 8)
    max_epochs = 60 if args.quick else 300
    rows = []
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        rs = da.random.RandomState(0)
        chunks = n // blocks
        Xd = rs.normal(size=(n, d), chunks=(chunks, d))
        w = np.linspace(-1.0, 1.0, d)
        yd = (Xd @ w + rs.logistic(size=n, chunks=chunks) > 0).astype(int)
        Xd, yd = client.persist([Xd, yd])
        X, y = dask.compute(Xd, yd)
        print(f"[dask] data {n} x {d} in {blocks} blocks", flush=True)
        ref = LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000).fit(X, y)
        optimum = bench.objective(X, y, ref)
        round_trip = latency(client)
        for solver in SOLVERS:
            for where, (Xs, ys) in (("in memory", (X, y)), ("2 workers", (Xd, yd))):

                def make(solver=solver):
                    return AdamLogisticRegression(
                        solver=solver, tol=1e-7, max_iter=max_epochs, random_state=0
                    )

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    make().set_params(max_iter=1).fit(Xs, ys)  # load the kernels
                trace = bench.certified_trace(make, Xs, ys, optimum)
                # The certificate measures each epoch's (or step's) end point.
                # The first five epochs: later ones of a minibatch solver run
                # at a larger batch, once its certificate stalled.
                epoch = float(np.median(np.diff([t for t, _ in trace[:6]])))
                rows.append(
                    dict(
                        solver=solver,
                        where=where,
                        epoch=epoch,
                        to_gap=bench.time_to(trace, 1e-4),
                    )  # fmt: skip
                )
                print(f"[dask] {solver} {where}: {epoch:.3g} s/epoch", flush=True)
    lines = [
        "# Dask benchmark",
        "",
        f"Command: `python benchmarks/dask_run.py{' --quick' if args.quick else ''}`. "
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, dask {dask.__version__}.",
        "",
        f"Dense {n} x {d} float64 ({n * d * 8 / 1e6:.0f} MB) in {blocks} row blocks "
        "on a `LocalCluster` of 2 worker processes, 1 thread each, against the "
        "in-memory fit of the same numbers in one process. Epoch: the median "
        "seconds between two of the first six epoch ends (steps of lbfgs and "
        "gd) of a certified fit; t→1e-4: seconds of that fit until its "
        "relative objective gap was below 1e-4.",
        "",
        "| solver | where | epoch (s) | t→1e-4 (s) |",
        "|---|---|---|---|",
    ]
    for r in rows:
        to_gap = "–" if np.isnan(r["to_gap"]) else f"{r['to_gap']:.3g}"
        lines.append(f"| {r['solver']} | {r['where']} | {r['epoch']:.3g} | {to_gap} |")
    lines += [
        "",
        "Round trip of one distributed pass on two tiny blocks: "
        f"{round_trip * 1e3:.1f} ms, the latency each full-batch step and each "
        "epoch of the travelling model pays at least.",
        "",
    ]
    (args.out / "dask.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
