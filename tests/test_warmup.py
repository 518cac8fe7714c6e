"""``compile_kernels`` and ``python -m sklearn_adamlr --compile``: after them,
no fit waits for numba's compiler."""

import warnings

import numpy as np
import pytest
from scipy import sparse
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.preprocessing import StandardScaler

from sklearn_adamlr import AdamLogisticRegression, _cli, _kernels, available_solvers
from sklearn_adamlr._warmup import compile_kernels

numba = pytest.importorskip("numba")


def _fits_of_every_kind():
    # other data than the warm-up's (more rows and columns, weights), fits
    # to convergence: the paths a long fit reaches (the batch grown to the
    # full data, minibatch's secant step) included
    for load in (load_digits, load_breast_cancer):
        X, y = load(return_X_y=True)
        X = StandardScaler().fit_transform(X)
        for data in (X, sparse.csr_matrix(X)):
            for dtype in (np.float64, np.float32):
                for solver in ("gd", "lbfgs", "minibatch", "adam", "saga"):
                    for l1_ratio in (0.0, 0.5):
                        yield solver, data.astype(dtype), y, l1_ratio


def test_after_compile_kernels_no_fit_compiles():
    from numba.core import event

    kinds, _ = compile_kernels()
    # each solver (the suite registers its own too), dense and CSR, two
    # dtypes, two and three classes, L2 and elastic net
    assert kinds == 16 * len(available_solvers())
    compiled = []

    class Listener(event.Listener):
        def on_start(self, data):
            pass

        def on_end(self, data):
            compiled.append(data.data.get("dispatcher"))

    listener = Listener()
    event.register("numba:compile", listener)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for solver, X, y, l1_ratio in _fits_of_every_kind():
                AdamLogisticRegression(
                    solver=solver, l1_ratio=l1_ratio, random_state=0
                ).fit(X, y, sample_weight=np.full(len(y), 0.5))
    finally:
        event.unregister("numba:compile", listener)
    # Before the learning rate was passed as a float, minibatch's step
    # compiled a float32-rate variant mid-fit on float32 data.
    assert [getattr(d, "py_func", d) for d in compiled] == []


def test_the_command_compiles_and_says_what(capsys):
    assert _cli.main(["--compile"]) == 0
    out = capsys.readouterr().out
    assert f"kernels of {16 * len(available_solvers())} kinds of fit" in out


def test_the_command_needs_numba(monkeypatch, capsys):
    monkeypatch.setattr(_kernels, "AVAILABLE", False)
    with pytest.raises(SystemExit) as stop:
        _cli.main(["--compile"])
    assert stop.value.code == 2
    assert "pip install 'sklearn-adamlr[fast]'" in capsys.readouterr().err
    assert compile_kernels() == (0, 0.0)
