"""``python -m sklearn_adamlr`` end to end, as a subprocess."""

import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification


def run(*args, check=True):
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_adamlr", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def csv(tmp_path_factory):
    X, y = make_classification(
        n_samples=600, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    frame = pd.DataFrame(X * 5 + 2, columns=[f"x{i}" for i in range(6)])
    frame["species"] = np.array(["ant", "bee", "cat"])[y]
    path = tmp_path_factory.mktemp("data") / "data.csv"
    frame.to_csv(path, index=False)
    return path


def test_demo_prints_the_comparison_table():
    out = run().stdout
    assert "Breast cancer, standardized (569 samples, 30 features)" in out
    # one objective scale, named; what the accuracy and the time are
    assert "the scale of loss_curve_" in out
    assert "train acc." in out and "after a warm-up fit" in out
    assert "\nKernels: " in out
    # scikit-learn's row is LogisticRegression() at its defaults, timed as
    # ours are, not the tol=1e-10 reference it is compared with (measured
    # gap 3.4e-5)
    line = next(x for x in out.splitlines() if x.startswith("sklearn lbfgs "))
    assert 0 < float(line.split()[3]) < 2e-4
    for model in ("sklearn lbfgs", "default:lbfgs", "adam", "gd", "minibatch"):
        assert f"\n{model} " in out
    # every solver at its defaults (the certificate tol=5e-5): measured gaps
    # 1.3e-5 (gd) to 7.9e-5 (minibatch)
    for model in ("default:lbfgs", "adam", "gd", "minibatch"):
        line = next(line for line in out.splitlines() if line.startswith(model + " "))
        assert 0 <= float(line.split()[2]) < 2e-4


def test_the_demos_warm_up_fits_decide_on_compiling_as_the_timed_fits(monkeypatch):
    # Whether a fit runs compiled depends on its rows (_kernels.pays): a
    # warm-up on a few rows of each class left saga's timed fit on
    # breast_cancer to load the kernels (0.17 s of a 5 ms fit). Each of our
    # fits, warm-up or timed, is asked on all the rows.
    from sklearn.datasets import load_iris

    from sklearn_adamlr import _cli, available_solvers
    from sklearn_adamlr._kernels import pays

    rows = []

    def rule(problem, *args):
        rows.append(problem.n_samples)
        return False  # the numpy path: nothing to compile here

    monkeypatch.setattr(pays, "pays", rule)
    X, y = load_iris(return_X_y=True)
    _cli.compare(X, y, max_iter=20)
    # a warm-up and a timed fit per solver, the default's fit (and hand-overs)
    assert len(rows) >= 2 * len(available_solvers()) + 1
    assert set(rows) == {len(y)}


def test_demo_says_which_kernels_run(monkeypatch):
    # without numba saga's numpy steps take seconds: the demo says why
    from sklearn_adamlr import _cli, _kernels

    monkeypatch.setattr(_kernels, "AVAILABLE", True)
    assert "compiled" in _cli._kernels_line()
    monkeypatch.setattr(_kernels, "AVAILABLE", False)
    line = _cli._kernels_line()
    # the tests run on the README's editable install (a clone)
    assert "numpy" in line and 'pip install -e ".[fast]"' in line


def test_the_install_hint_fits_a_wheel_install(monkeypatch):
    from sklearn_adamlr import _cli

    monkeypatch.setattr(_cli, "_from_checkout", lambda: False)
    assert _cli._install_hint("fast") == "pip install 'sklearn-adamlr[fast]'"


def test_plot_without_a_suffix_writes_png_and_says_where(csv, tmp_path):
    out = run("--data", csv, "--target", "species", "--max-iter", "5",
              "--plot", tmp_path / "mycurve").stdout  # fmt: skip
    written = tmp_path / "mycurve.png"
    assert written.read_bytes()[:4] == b"\x89PNG"
    assert f"loss curve written to {written}\n" in out


def test_help_lists_every_option():
    out = run("--help").stdout
    for option in (
        "--data",
        "--target",
        "--solver",
        "--C",
        "--l1-ratio",
        "--learning-rate",
        "--max-iter",
        "--test-size",
        "--plot",
        "--save",
        "--random-state",
        "--compile",
    ):
        assert option in out


def test_trains_on_a_csv_and_writes_plot_and_model(csv, tmp_path):
    png, model = tmp_path / "curve.png", tmp_path / "model.joblib"
    out = run(
        "--data",
        csv,
        "--target",
        "species",
        "--solver",
        "gd",
        "--C",
        "0.5",
        "--max-iter",
        "300",
        "--test-size",
        "0.3",
        "--plot",
        png,
        "--save",
        model,
    ).stdout
    assert "600 rows, 6 features, 3 classes; held out 180 rows" in out
    ours = next(line for line in out.splitlines() if line.startswith("AdamLogistic"))
    theirs = next(line for line in out.splitlines() if line.startswith("sklearn"))
    acc, loss = map(float, ours.split()[2:4])
    ref_acc, ref_loss = map(float, theirs.split()[2:4])
    assert acc > 0.6 and loss == pytest.approx(ref_loss, abs=0.02)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pipe = joblib.load(model)
    assert list(pipe.classes_) == ["ant", "bee", "cat"]
    assert pipe[-1].solver == "gd" and pipe[-1].C == 0.5


@pytest.mark.parametrize(
    "args, message",
    [
        (["--target", "species"], "--data and --target go together"),
        (["--data", "{csv}", "--target", "nope"], "no column 'nope'"),
        (["--data", "missing.csv", "--target", "y"], "no such file"),
        (["--data", "{csv}", "--target", "species", "--C", "-1"], "must be positive"),
        (
            ["--data", "{csv}", "--target", "species", "--learning-rate", "fast"],
            "must be 'auto' or a positive number",
        ),
        (
            ["--data", "{csv}", "--target", "species", "--solver", "newton-cg"],
            "is not 'auto' or one of",
        ),
        (
            ["--data", "{csv}", "--target", "species", "--test-size", "2"],
            "must be in (0, 1)",
        ),
        (["--data", "{text}", "--target", "y"], "must be numeric"),
        # the column and the line (1 is the header): a = [1, nan, ...]
        (["--data", "{nan}", "--target", "y"],
         "missing values in column 'a' (the first on line 3 of"),
        (["--data", "{cont}", "--target", "y"], "column 'y' looks continuous (60"),
        # output paths, checked before training
        (["--data", "{csv}", "--target", "species", "--plot", "{folder}"],
         "--plot: {folder} is a directory"),
        (["--data", "{csv}", "--target", "species", "--plot", "{folder}/no/c.png"],
         "--plot: the folder {folder}/no does not exist"),
        (["--data", "{csv}", "--target", "species", "--save", "{folder}/no/m"],
         "--save: the folder {folder}/no does not exist"),
        (["--data", "{csv}", "--target", "species", "--plot", "{folder}/c.xyz"],
         "matplotlib cannot write '.xyz' files"),
        (["--data", "{empty}", "--target", "y"], "cannot read"),
        (["--data", "{folder}", "--target", "y"], "is a directory"),
        (["--data", "{csv}", "--target", "species", "--l1-ratio", "1.5"],
         "--l1-ratio: must be in [0, 1]"),
        (["--data", "{csv}", "--target", "species", "--max-iter", "0"],
         "must be positive"),
        (["--plot", "x.png"], "applies to --data only"),
        (["--bogus"], "unrecognized arguments"),
    ],
)  # fmt: skip
def test_argument_errors_exit_non_zero_with_usage(csv, tmp_path, args, message):
    text, nan, empty, cont = (
        tmp_path / f"{n}.csv" for n in ("text", "nan", "empty", "cont")
    )
    pd.DataFrame({"a": ["u", "v"] * 5, "y": [0, 1] * 5}).to_csv(text, index=False)
    pd.DataFrame({"a": [1.0, np.nan] * 5, "y": [0, 1] * 5}).to_csv(nan, index=False)
    rng = np.random.RandomState(0)
    pd.DataFrame({"a": rng.randn(60), "y": rng.rand(60)}).to_csv(cont, index=False)
    empty.write_text("")
    names = dict(csv=csv, text=text, nan=nan, empty=empty, folder=tmp_path, cont=cont)
    args = [a.format(**names) for a in args]
    result = run(*args, check=False)
    assert result.returncode == 2
    assert "usage: python -m sklearn_adamlr" in result.stderr
    # one line, before any training (no table printed)
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert message.format(**names) in result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "missing, args",
    [
        ("pandas", ["--data", "{csv}", "--target", "species"]),
        ("matplotlib", ["--data", "{csv}", "--target", "species", "--plot", "c.png"]),
    ],
)
def test_a_missing_optional_package_is_one_line_with_the_install_command(
    csv, tmp_path, missing, args
):
    # A stub that hides the package, first on the path of the subprocess.
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / f"{missing}.py").write_text(f"raise ImportError('no {missing}')\n")
    env = {**__import__("os").environ, "PYTHONPATH": str(hide)}
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_adamlr", *[a.format(csv=csv) for a in args]],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert f"needs {missing}, which is not installed" in last
    assert "pip install 'sklearn-adamlr[cli]'" in last


def test_a_single_class_is_named_as_a_plain_value(tmp_path):
    path = tmp_path / "one.csv"
    pd.DataFrame({"a": np.arange(10.0), "y": np.zeros(10, int)}).to_csv(
        path, index=False
    )
    result = run("--data", path, "--target", "y", check=False)
    assert result.returncode == 2
    assert "has a single class: 0" in result.stderr
    assert "np.int64" not in result.stderr


def test_a_fit_that_does_not_converge_says_so(csv):
    out = run("--data", csv, "--target", "species", "--max-iter", "2").stdout
    line = next(x for x in out.splitlines() if "did not converge" in x)
    # the default's choice is named
    assert line.startswith("AdamLogisticRegression (auto: lbfgs) did not converge:")
    assert "max_iter=2" in line


def test_an_elastic_net_run_compares_with_the_elastic_net_model(csv, tmp_path):
    # scikit-learn < 1.8 fits plain L2 when l1_ratio comes without
    # penalty='elasticnet': the reference must be the elastic-net model
    from sklearn_adamlr._cli import _reference

    reference = _reference(0.05, 1.0)
    assert reference.l1_ratio == 1.0 and reference.solver == "saga"
    model = tmp_path / "model.joblib"
    out = run(
        "--data", csv, "--target", "species", "--solver", "gd", "--C", "0.05",
        "--l1-ratio", "1", "--max-iter", "2000", "--save", model,
    ).stdout  # fmt: skip
    ours = next(line for line in out.splitlines() if line.startswith("AdamLogistic"))
    theirs = next(line for line in out.splitlines() if line.startswith("sklearn"))
    loss, ref_loss = float(ours.split()[3]), float(theirs.split()[3])
    # both are the L1 optimum: measured equal to the 4 printed decimals
    # (0.6752); the L2 model at the same C prints 0.6480
    assert loss == pytest.approx(ref_loss, abs=1e-3)
    pipe = joblib.load(model)
    assert np.count_nonzero(pipe[-1].coef_ == 0.0) > 0
