"""Train on a CSV file larger than memory, chunk by chunk.

The file is read in chunks of ``--chunksize`` rows with
``pandas.read_csv(chunksize=...)``; only one chunk, the held-out rows and the
model are in memory at any time, whatever the size of the file.

1. A first pass counts the rows, checks the columns and learns the labels.
2. The hold-out, ``--holdout`` of the rows (a fraction, or a number of rows;
   at most ``--holdout-max``), is drawn at random across the whole file, so
   that a file sorted by label still holds out every class.
3. A second pass keeps the held-out rows and learns the feature scaling
   (``StandardScaler.partial_fit``) on the others.
4. Every epoch streams the training rows through
   ``AdamLogisticRegression.partial_fit`` and prints the held-out log-loss
   after each chunk.

Run ``python examples/stream_csv.py data.csv --target label``; ``--help`` lists
the options.
"""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, log_loss
from sklearn.preprocessing import StandardScaler

from sklearn_adamlr import AdamLogisticRegression


def read_chunks(parser, path, target, chunksize):
    """Yield ``(first row, X, y)`` of each chunk, checked."""
    first = 0
    for frame in pd.read_csv(path, chunksize=chunksize):
        if target not in frame.columns:
            parser.error(
                f"--target: no column {target!r} in {path}; the columns are "
                f"{list(frame.columns)}"
            )
        y = frame.pop(target)
        bad = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
        if bad:
            parser.error(f"{path}: the feature columns must be numeric: {bad}")
        missing = frame.isna().any(axis=1).to_numpy() | y.isna().to_numpy()
        if missing.any():
            row = first + int(np.argmax(missing)) + 2  # 1-based, after the header
            parser.error(
                f"{path}: missing values (first at line {row}); impute or drop "
                "them first"
            )
        yield first, frame.to_numpy(dtype=np.float64), y.to_numpy()
        first += len(y)


def holdout_size(parser, n_rows, holdout, holdout_max):
    """How many rows to hold out: a fraction or a count, at most ``holdout_max``."""
    size = round(holdout * n_rows) if holdout < 1 else int(holdout)
    size = min(max(size, 1), holdout_max)
    if n_rows < 2 or size >= n_rows:
        parser.error(
            f"the file has {n_rows} data row(s): too few to hold out {size} and "
            "train on the rest; use a smaller --holdout or more data"
        )
    return size


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="CSV file with a header row")
    parser.add_argument("--target", required=True, help="name of the label column")
    parser.add_argument("--chunksize", type=int, default=10_000)
    parser.add_argument(
        "--holdout",
        type=float,
        default=0.1,
        help="held-out share of the rows if below 1, else a number of rows "
        "(default 0.1)",
    )
    parser.add_argument(
        "--holdout-max", type=int, default=10_000, help="at most this many rows"
    )
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--solver", default="adam")
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)
    if args.holdout <= 0:
        parser.error("--holdout must be positive")
    if Path(args.path).is_dir():
        parser.error(f"{args.path} is a directory, not a CSV file")
    if not Path(args.path).exists():
        parser.error(f"{args.path}: no such file")

    def chunks():
        return read_chunks(parser, args.path, args.target, args.chunksize)

    n_rows, labels = 0, set()
    for _, _, y in chunks():
        n_rows += len(y)
        labels.update(np.unique(y).tolist())
    if len(labels) < 2:
        parser.error(f"--target: {args.target!r} has a single class")
    classes = np.array(sorted(labels))
    size = holdout_size(parser, n_rows, args.holdout, args.holdout_max)
    # the held-out rows' numbers, sorted: memory O(holdout), not O(rows)
    rng = np.random.default_rng(args.random_state)
    held = np.sort(rng.choice(n_rows, size, replace=False, shuffle=False))

    def held_out(first, n):
        """Which of the rows ``first .. first + n - 1`` are held out."""
        lo, hi = np.searchsorted(held, [first, first + n])
        mask = np.zeros(n, dtype=bool)
        mask[held[lo:hi] - first] = True
        return mask

    scaler = StandardScaler()
    X_test, y_test = [], []
    for first, X, y in chunks():
        mask = held_out(first, len(y))
        X_test.append(X[mask])
        y_test.append(y[mask])
        if not mask.all():
            scaler.partial_fit(X[~mask])
    X_test = scaler.transform(np.concatenate(X_test))
    y_test = np.concatenate(y_test)
    held_classes, counts = np.unique(y_test, return_counts=True)
    by_class = ", ".join(
        f"{c}: {k}" for c, k in zip(held_classes.tolist(), counts.tolist(), strict=True)
    )
    print(
        f"{n_rows} rows, {len(classes)} classes; {size} held out at random "
        f"({by_class})",
        flush=True,
    )

    clf = AdamLogisticRegression(solver=args.solver, random_state=args.random_state)
    seen = 0
    for epoch in range(1, args.epochs + 1):
        for first, X, y in chunks():
            train = ~held_out(first, len(y))
            if not train.any():
                continue
            clf.partial_fit(scaler.transform(X[train]), y[train], classes=classes)
            seen += int(train.sum())
            proba = clf.predict_proba(X_test)
            print(
                f"epoch {epoch} samples {seen:>9d}  held-out log-loss "
                f"{log_loss(y_test, proba, labels=classes):.4f}  accuracy "
                f"{accuracy_score(y_test, clf.predict(X_test)):.4f}",
                flush=True,
            )
    return clf


if __name__ == "__main__":
    main()
