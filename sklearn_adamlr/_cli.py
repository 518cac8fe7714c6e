"""The main job: every registered solver against ``LogisticRegression``.

Run ``python -m sklearn_adamlr --help`` for the options.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from ._estimator import AdamLogisticRegression
from ._loss import logistic_objective
from .solvers import available_solvers, get_solver


def build_parser():
    """The command-line parser."""
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_adamlr",
        description=(
            "Train every registered solver of AdamLogisticRegression on the "
            "standardized breast-cancer data set and compare each with "
            "sklearn.linear_model.LogisticRegression (lbfgs) on the same "
            "objective: final objective, relative gap to lbfgs, largest "
            "coefficient difference, training accuracy and fit time."
        ),
    )
    parser.add_argument(
        "--C",
        type=float,
        default=1.0,
        help="inverse regularization strength (default 1.0)",
    )
    parser.add_argument(
        "--max-iter",
        type=int,
        default=1000,
        help="epochs for the stochastic solvers (default 1000); gd may use up "
        "to 20 times as many, since it runs to convergence",
    )
    parser.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
    return parser


def compare(X, y, *, C=1.0, max_iter=1000, random_state=0):
    """Fit every solver and lbfgs; return one row of results per model.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    C : float, default=1.0
    max_iter : int, default=1000
    random_state : int, default=0

    Returns
    -------
    rows : list of dict
        Keys ``model``, ``objective``, ``rel_gap``, ``max_coef_diff``,
        ``accuracy``, ``fit_time``.
    """
    start = time.perf_counter()
    ref = LogisticRegression(C=C, tol=1e-10, max_iter=100_000).fit(X, y)
    ref_time = time.perf_counter() - start
    optimum = logistic_objective(X, y, ref.coef_, ref.intercept_, C=C)

    def row(name, model, seconds):
        value = logistic_objective(X, y, model.coef_, model.intercept_, C=C)
        return {
            "model": name,
            "objective": value,
            "rel_gap": (value - optimum) / abs(optimum),
            "max_coef_diff": float(np.abs(model.coef_ - ref.coef_).max()),
            "accuracy": model.score(X, y),
            "fit_time": seconds,
        }

    rows = [row("sklearn lbfgs", ref, ref_time)]
    for name in available_solvers():
        full = get_solver(name).full_batch
        est = AdamLogisticRegression(
            solver=name,
            C=C,
            max_iter=20 * max_iter if full else max_iter,
            tol=0.0 if full else 1e-6,
            random_state=random_state,
        )
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
        rows.append(row(name, est, time.perf_counter() - start))
    return rows


def format_table(rows):
    """The rows as a fixed-width text table."""
    header = (
        f"{'model':<22} {'objective':>14} {'rel. gap':>10} "
        f"{'max |dcoef|':>12} {'accuracy':>9} {'fit time':>9}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['model']:<22} {r['objective']:>14.6f} {r['rel_gap']:>10.2e} "
            f"{r['max_coef_diff']:>12.2e} {r['accuracy']:>9.4f} "
            f"{r['fit_time']:>8.3f}s"
        )
    return "\n".join(lines)


def main(argv=None):
    """Entry point of ``python -m sklearn_adamlr``; returns the exit code."""
    args = build_parser().parse_args(argv)
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    print(
        f"Breast cancer, standardized ({X.shape[0]} samples, {X.shape[1]} "
        f"features), C={args.C}: objective C * sum(log-loss) + ||w||^2 / 2"
    )
    print(
        format_table(
            compare(
                X, y, C=args.C, max_iter=args.max_iter, random_state=args.random_state
            )
        )
    )
    return 0
