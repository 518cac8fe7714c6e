"""Train on a CSV file larger than memory, chunk by chunk.

The file is read once to learn the scaling and the labels, then once per
epoch, in chunks of ``--chunksize`` rows with ``pandas.read_csv(chunksize=...)``;
only one chunk, the held-out rows and the model are in memory at any time,
whatever the size of the file.

1. A first pass learns the feature scaling (``StandardScaler.partial_fit``) and
   the set of labels.
2. The first ``--holdout`` rows are kept aside; every epoch streams the rest
   through ``AdamLogisticRegression.partial_fit`` and prints the held-out
   log-loss after each chunk.

Run ``python examples/stream_csv.py data.csv --target label``; ``--help`` lists
the options.
"""

import argparse

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, log_loss
from sklearn.preprocessing import StandardScaler

from sklearn_adamlr import AdamLogisticRegression


def read_chunks(path, target, chunksize, skip):
    """Yield ``(X, y)`` arrays from ``path``, skipping the first ``skip`` rows."""
    reader = pd.read_csv(
        path, chunksize=chunksize, skiprows=range(1, skip + 1) if skip else None
    )
    for frame in reader:
        y = frame.pop(target).to_numpy()
        yield frame.to_numpy(dtype=np.float64), y


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="CSV file with a header row")
    parser.add_argument("--target", required=True, help="name of the label column")
    parser.add_argument("--chunksize", type=int, default=10_000)
    parser.add_argument("--holdout", type=int, default=2_000, help="held-out rows")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--solver", default="adam")
    args = parser.parse_args(argv)

    held = pd.read_csv(args.path, nrows=args.holdout)
    y_test = held.pop(args.target).to_numpy()
    X_test_raw = held.to_numpy(dtype=np.float64)

    scaler = StandardScaler()
    labels = set(np.unique(y_test).tolist())
    for X, y in read_chunks(args.path, args.target, args.chunksize, args.holdout):
        scaler.partial_fit(X)
        labels.update(np.unique(y).tolist())
    classes = np.array(sorted(labels))
    X_test = scaler.transform(X_test_raw)

    clf = AdamLogisticRegression(solver=args.solver, random_state=0)
    seen = 0
    for epoch in range(1, args.epochs + 1):
        for X, y in read_chunks(args.path, args.target, args.chunksize, args.holdout):
            clf.partial_fit(scaler.transform(X), y, classes=classes)
            seen += len(y)
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
