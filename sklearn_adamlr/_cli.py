"""The main job, ``python -m sklearn_adamlr``.

Without arguments it trains the default estimator and every registered solver
on the standardized breast-cancer data set and prints a comparison with
scikit-learn's ``LogisticRegression``. With ``--data file.csv --target
column`` it trains on the user's CSV instead. ``python -m sklearn_adamlr
--help`` lists the options.
"""

import argparse
import sys
import time
import warnings

import numpy as np
import sklearn.base
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.utils.fixes import parse_version

from . import _kernels
from ._estimator import AdamLogisticRegression
from ._loss import logistic_objective
from ._warmup import compile_kernels
from .solvers import available_solvers


def _learning_rate(text):
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be 'auto' or a positive number, got {text!r}"
        ) from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return value


def _fraction(text):
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), got {text!r}")
    return value


def _positive(kind):
    def parse(text):
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
        return value

    return parse


def build_parser():
    """The command-line parser."""
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_adamlr",
        description=(
            "Without --data: train AdamLogisticRegression at its defaults "
            "(the row 'default:SOLVER' names the solver solver='auto' chose) and "
            "with every registered solver on the standardized breast-cancer data set "
            "and compare each with sklearn.linear_model.LogisticRegression "
            "(lbfgs) on the same objective: final objective, relative gap to "
            "the optimum (LogisticRegression at tol=1e-10) and largest "
            "coefficient difference from it, training accuracy and fit time. "
            "With --data FILE.csv --target COLUMN: train on your CSV "
            "(numeric feature columns, labels of any type), standardize the "
            "features, hold out --test-size of the rows, and print held-out "
            "accuracy and log-loss next to LogisticRegression's."
        ),
    )
    parser.add_argument("--data", metavar="FILE.csv", help="a CSV file with a header")
    parser.add_argument("--target", metavar="COLUMN", help="the label column of --data")
    parser.add_argument(
        "--solver",
        default=None,
        help="solver for --data: 'auto' (default: the estimator's choice, "
        "which the output names: lbfgs, newton on raw columns or under a weak "
        f"penalty, gd with --l1-ratio > 0) or one of {available_solvers()}",
    )
    parser.add_argument(
        "--C",
        type=_positive(float),
        default=1.0,
        help="inverse regularization strength (default 1.0)",
    )
    parser.add_argument(
        "--l1-ratio",
        type=float,
        default=0.0,
        help="elastic-net mixing in [0, 1]: 0 is L2, 1 is L1 (default 0)",
    )
    parser.add_argument(
        "--learning-rate",
        type=_learning_rate,
        default="auto",
        help="'auto' (default) or a positive number",
    )
    parser.add_argument(
        "--max-iter",
        type=_positive(int),
        default=1000,
        help="maximum epochs (default 1000; without --data, gd may use 20 "
        "times as many since it runs to convergence)",
    )
    parser.add_argument(
        "--test-size",
        type=_fraction,
        default=0.25,
        help="held-out fraction of the rows of --data (default 0.25)",
    )
    parser.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
    parser.add_argument(
        "--plot",
        metavar="FILE.png",
        help="write the loss curve of the model to FILE (.png added when FILE "
        "has no extension)",
    )
    parser.add_argument(
        "--save",
        metavar="FILE.joblib",
        help="save the fitted pipeline (scaler + model) with joblib",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="compile the numba kernels of every kind of fit into numba's "
        "on-disk cache and exit, so that no later process's first fit waits "
        "for the compiler (about a minute with an empty cache; needs the "
        "fast extra)",
    )
    return parser


def _few_of_each_class(y, k=2):
    """The indices of ``k`` rows of each class: data for a warm-up fit."""
    return np.concatenate([np.flatnonzero(y == c)[:k] for c in np.unique(y)])


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
        Keys ``model``; ``objective``, on the scale of ``loss_curve_`` (the
        mean log-loss plus the penalty divided by ``C * n_samples``);
        ``rel_gap`` to the optimum, and ``max_coef_diff`` to its
        coefficients (``LogisticRegression`` at ``tol=1e-10``, not timed);
        ``accuracy`` on the training data; ``fit_time``, of one ``fit`` after
        a warm-up fit of one epoch on the same rows (which compiles numba's
        kernels or loads them from its cache where the fit does, and imports
        what a first fit imports), so that it times the fit alone. The first
        row is ``LogisticRegression(C=C)`` at its defaults, then
        ``AdamLogisticRegression(C=C)`` at its defaults (``solver='auto'``,
        labelled with the solver it chose), then one row per registered
        solver at its defaults.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_adamlr._cli import compare
    >>> X, y = load_iris(return_X_y=True)
    >>> rows = compare(X, y, max_iter=50)
    >>> rows[0]["model"], bool(0 <= rows[0]["rel_gap"] < 1e-3)
    ('sklearn lbfgs', True)
    """
    # the warm-up: a first call compiles or loads the kernels (a cold
    # numba cache took seconds) and sklearn's first fit imports modules
    # (lbfgs's first fit measured 0.84 s, later ones 0.008 s). One epoch on
    # all the rows: whether a fit runs compiled depends on them (saga on
    # breast_cancer does, and on a few rows of each class did not: its timed
    # fit paid the 0.17 s of loading the kernels)
    warm = _few_of_each_class(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        LogisticRegression(C=C, max_iter=5).fit(X[warm], y[warm])
        for name in available_solvers():
            AdamLogisticRegression(solver=name, C=C, max_iter=1).fit(X, y)
    # the optimum, not timed: the reference, not a fit a user would make
    ref = LogisticRegression(C=C, tol=1e-10, max_iter=100_000).fit(X, y)
    scale = C * len(y)  # loss_curve_'s scale: the objective over C * n
    optimum = logistic_objective(X, y, ref.coef_, ref.intercept_, C=C) / scale

    def row(name, model, seconds):
        value = logistic_objective(X, y, model.coef_, model.intercept_, C=C) / scale
        return {
            "model": name,
            "objective": value,
            "rel_gap": (value - optimum) / abs(optimum),
            "max_coef_diff": float(np.abs(model.coef_ - ref.coef_).max()),
            "accuracy": model.score(X, y),
            "fit_time": seconds,
        }

    # LogisticRegression at its defaults, timed like ours: the tol=1e-10
    # reference was timed here before (on breast_cancer 0.012 s against
    # 0.006 s for the default fit, one thread), a fit no user makes
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        default = LogisticRegression(C=C).fit(X, y)
    rows = [row("sklearn lbfgs", default, time.perf_counter() - start)]
    # the default estimator (solver='auto'), then each solver by name
    for name in ["auto", *available_solvers()]:
        # default tol: fit stops at the certificate, as a user's fit would
        est = AdamLogisticRegression(
            solver=name, C=C, max_iter=max_iter, random_state=random_state
        )
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
        label = f"default:{est.solver_}" if name == "auto" else name
        rows.append(row(label, est, time.perf_counter() - start))
    return rows


def format_table(rows):
    """The rows as a fixed-width text table."""
    header = (
        f"{'model':<22} {'objective':>14} {'rel. gap':>10} "
        f"{'max |dcoef|':>12} {'train acc.':>10} {'fit time':>9}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['model']:<22} {r['objective']:>14.6f} {r['rel_gap']:>10.2e} "
            f"{r['max_coef_diff']:>12.2e} {r['accuracy']:>10.4f} "
            f"{r['fit_time']:>8.3f}s"
        )
    return "\n".join(lines)


def _from_checkout():
    """Whether the package runs from a clone (the README's editable install).

    A clone has ``pyproject.toml`` beside the package; a wheel's or an index's
    install has the package alone in ``site-packages``.
    """
    from pathlib import Path

    return (Path(__file__).resolve().parents[1] / "pyproject.toml").is_file()


def _install_hint(extras):
    """The install command for ``extras`` that fits how the package was installed."""
    if _from_checkout():
        return f'pip install -e ".[{extras}]"'
    return f"pip install 'sklearn-adamlr[{extras}]'"


def _kernels_line():
    """Which kernels the fits run: compiled (numba) or the numpy reference."""
    if _kernels.AVAILABLE:
        return (
            "Kernels: compiled (numba, the fast extra) where a fit repays the "
            "compilation or finds it cached; --compile caches every kind."
        )
    return (
        f"Kernels: numpy (numba is not installed; {_install_hint('fast')} "
        "compiles them: saga's per-sample steps are the slowest without it)."
    )


def _demo(args):
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    print(
        f"Breast cancer, standardized ({X.shape[0]} samples, {X.shape[1]} "
        f"features), C={args.C}. Objective: the mean log-loss + ||w||^2 / "
        "(2 C n), the scale of loss_curve_; rel. gap and max |dcoef| to the "
        "optimum (LogisticRegression at tol=1e-10); every model at its "
        "defaults; accuracy on the training data; fit time of one fit after "
        "a warm-up fit."
    )
    print(_kernels_line())
    print(
        format_table(
            compare(
                X, y, C=args.C, max_iter=args.max_iter, random_state=args.random_state
            )
        )
    )
    return 0


def _load_csv(parser, path, target):
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        parser.error(f"--data: no such file: {path}")
    except IsADirectoryError:
        parser.error(f"--data: {path} is a directory; give a CSV file")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        parser.error(f"--data: cannot read {path} as CSV: {e}")
    if target not in frame.columns:
        parser.error(
            f"--target: no column {target!r} in {path}; the columns are "
            f"{list(frame.columns)}"
        )
    y = frame.pop(target).to_numpy()
    non_numeric = [
        c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])
    ]
    if non_numeric:
        parser.error(
            f"--data: the feature columns must be numeric; not numeric: "
            f"{non_numeric}. Encode them first (e.g. with one-hot encoding) or "
            "drop them."
        )
    if frame.shape[1] == 0:
        parser.error("--data: no feature column besides the target")
    columns = {target: pd.isna(y), **{c: frame[c].isna() for c in frame.columns}}
    for column, missing in columns.items():
        if np.any(missing):
            # line 1 is the header: row i of the data is line i + 2
            line = int(np.flatnonzero(np.asarray(missing))[0]) + 2
            parser.error(
                f"--data: missing values in column {column!r} (the first on "
                f"line {line} of {path}); impute or drop them first"
            )
    return frame.to_numpy(dtype=np.float64), y


def _reference(C, l1_ratio):
    """scikit-learn's ``LogisticRegression`` with the same objective.

    Before scikit-learn 1.8, ``l1_ratio`` counts only with
    ``penalty='elasticnet'``: without it the model is plain L2 (with a
    warning), the wrong model to compare with.
    """
    if not l1_ratio:
        return LogisticRegression(C=C, max_iter=10_000)
    kw = dict(C=C, l1_ratio=l1_ratio, solver="saga", max_iter=10_000)
    if parse_version(sklearn.__version__) < parse_version("1.8"):
        kw["penalty"] = "elasticnet"
    return LogisticRegression(**kw)


def _timed_fit(pipe, X, y):
    """Fit ``pipe`` after a warm-up fit; ``(seconds, ConvergenceWarning texts)``.

    The warm-up, one epoch on the same rows (whether a fit runs compiled
    depends on them), takes out of the timed fit the compilation (or
    loading) of numba's kernels and a first fit's imports.
    """
    warm = sklearn.base.clone(pipe).set_params(**{pipe.steps[-1][0] + "__max_iter": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warm.fit(X, y)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        pipe.fit(X, y)
    seconds = time.perf_counter() - start
    return seconds, [
        str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)
    ]


def _train_csv(parser, args):
    from sklearn.metrics import accuracy_score, log_loss
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.utils.multiclass import type_of_target

    X, y = _load_csv(parser, args.data, args.target)
    classes = np.unique(y)
    if type_of_target(y) == "continuous":
        shown = ", ".join(f"{_plain(v)!r}" for v in classes[:3])
        parser.error(
            f"--target: column {args.target!r} looks continuous ({len(classes)} "
            f"distinct values, e.g. {shown}); logistic regression predicts "
            "classes: choose a label column, or bin this one into classes first"
        )
    if len(classes) < 2:
        parser.error(
            f"--target: {args.target!r} has a single class: {_plain(classes[0])!r}"
        )
    solver = args.solver or "auto"
    if solver not in ["auto", *available_solvers()]:
        parser.error(
            f"--solver: {solver!r} is not 'auto' or one of {available_solvers()}"
        )
    try:
        X_train, X_test, y_train, y_test = train_test_split(
            X,
            y,
            test_size=args.test_size,
            random_state=args.random_state,
            stratify=y,
        )
    except ValueError as e:
        parser.error(f"--test-size: cannot split the data: {e}")
    model = make_pipeline(
        StandardScaler(),
        AdamLogisticRegression(
            solver=solver,
            C=args.C,
            l1_ratio=args.l1_ratio,
            learning_rate=args.learning_rate,
            max_iter=args.max_iter,
            random_state=args.random_state,
        ),
    )
    reference = make_pipeline(StandardScaler(), _reference(args.C, args.l1_ratio))
    results, notes = [], []
    for name, pipe in (
        (f"AdamLogisticRegression ({solver})", model),
        ("sklearn LogisticRegression", reference),
    ):
        seconds, warned = _timed_fit(pipe, X_train, y_train)
        if pipe is model and solver == "auto":
            name = f"AdamLogisticRegression (auto: {model[-1].solver_})"
        # printed after the table: a fit that did not converge says so
        notes += [f"{name} did not converge: {message}" for message in warned]
        proba = pipe.predict_proba(X_test)
        results.append(
            (
                name,
                accuracy_score(y_test, pipe.predict(X_test)),
                log_loss(y_test, proba, labels=pipe.classes_),
                seconds,
            )
        )
    print(
        f"{args.data}: {X.shape[0]} rows, {X.shape[1]} features, "
        f"{len(classes)} classes; held out {len(y_test)} rows"
    )
    print("Held-out accuracy and log-loss; fit time of one fit after a warm-up fit.")
    print(f"{'model':<36} {'accuracy':>9} {'log-loss':>9} {'fit time':>9}")
    for name, acc, loss, seconds in results:
        print(f"{name:<36} {acc:>9.4f} {loss:>9.4f} {seconds:>8.3f}s")
    est = model[-1]
    print(
        f"epochs: {est.n_iter_}, final objective: {est.loss_curve_[-1]:.6f} "
        "(mean log-loss + penalty / (C n), the scale of loss_curve_)"
    )
    for note in notes:
        print(note)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        from ._plot import LossCurveDisplay

        display = LossCurveDisplay.from_estimator(est)
        display.figure_.savefig(args.plot)
        print(f"loss curve written to {args.plot}")
    if args.save:
        import joblib

        joblib.dump(model, args.save)
        print(f"model saved to {args.save}")
    return 0


# The optional packages of the options: what to import, and what to install.
_OPTIONAL = {"data": "pandas", "plot": "matplotlib"}
_INSTALL = "pip install 'sklearn-adamlr[cli]'"


def _require(parser, option, module):
    """Exit with one line that names the install command if ``module`` is missing."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        parser.error(
            f"--{option} needs {module}, which is not installed: {_INSTALL} "
            "(from a clone: pip install -e '.[cli]')"
        )


def _plot_suffix(path):
    """The suffix matplotlib gives ``path`` (``.png`` when it has none)."""
    from pathlib import Path

    from matplotlib.backend_bases import FigureCanvasBase

    suffix = Path(path).suffix
    if not suffix:
        return ".png"
    if suffix[1:].lower() not in FigureCanvasBase.get_supported_filetypes():
        return None
    return suffix


def _output_path(parser, option, path, suffix=""):
    """The file an output option writes (with ``suffix``), or a one-line error.

    ``suffix`` None: an image format matplotlib cannot write.
    """
    from pathlib import Path

    given = Path(path)
    if given.is_dir():
        parser.error(f"--{option}: {path} is a directory; give a file name in it")
    if suffix is None:
        parser.error(
            f"--{option}: matplotlib cannot write {given.suffix!r} files; use "
            "e.g. .png, .pdf or .svg"
        )
    written = given if given.suffix else given.with_name(given.name + suffix)
    if not written.parent.is_dir():
        parser.error(
            f"--{option}: the folder {written.parent} does not exist; create it first"
        )
    return str(written)


def _plain(value):
    """A numpy scalar as the Python value it holds, for messages."""
    return value.item() if isinstance(value, np.generic) else value


def _compile(parser, args):
    """``--compile``: fill numba's cache with every kind of fit's kernels."""
    if args.data is not None:
        parser.error("--compile takes no --data")
    if not _kernels.AVAILABLE:
        parser.error(
            "--compile needs numba: pip install 'sklearn-adamlr[fast]' "
            "(without it the fits take the numpy path, which compiles nothing)"
        )
    kinds, seconds = compile_kernels()
    print(
        f"Compiled (or loaded from numba's cache) the kernels of {kinds} kinds "
        f"of fit in {seconds:.1f} s: every solver, dense and CSR, float64 and "
        "float32, two and three classes, L2 and elastic net."
    )
    return 0


def main(argv=None):
    """Entry point of ``python -m sklearn_adamlr``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 <= args.l1_ratio <= 1:
        parser.error(f"--l1-ratio: must be in [0, 1], got {args.l1_ratio}")
    if (args.data is None) != (args.target is None):
        parser.error("--data and --target go together")
    if args.compile:
        return _compile(parser, args)
    if args.data is None:
        for option in ("plot", "save", "solver"):
            if getattr(args, option):
                parser.error(f"--{option} applies to --data only")
        return _demo(args)
    # before any training: a missing package or an output path that cannot
    # be written is a one-line error, not a traceback after the fit
    for option, module in _OPTIONAL.items():
        if getattr(args, option):
            _require(parser, option, module)
    if args.plot:
        args.plot = _output_path(parser, "plot", args.plot, _plot_suffix(args.plot))
    if args.save:
        args.save = _output_path(parser, "save", args.save)
    return _train_csv(parser, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
