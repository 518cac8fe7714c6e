"""A fitted model leaves Python: ONNX (skl2onnx, onnxruntime) and skops files."""

import warnings

import numpy as np
import pytest
from conftest import standardized
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_adamlr import (
    AdamLogisticRegression,
    available_solvers,
    get_solver,
    trusted_types,
)

BUILT_IN = ["gd", "minibatch", "adam", "saga"]


def _fitted(load, solver="gd", pipeline=False, labels=None):
    X, y = load(return_X_y=True)
    if labels is not None:
        y = np.asarray(labels)[y]
    est = AdamLogisticRegression(solver=solver, random_state=0, max_iter=50)
    model = make_pipeline(StandardScaler(), est) if pipeline else est
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X if pipeline else StandardScaler().fit_transform(X), y)
    return model, (X if pipeline else StandardScaler().fit_transform(X))


@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-6), (np.float64, 1e-12)])
@pytest.mark.parametrize("load", [load_breast_cancer, load_iris])
@pytest.mark.parametrize("pipeline", [False, True])
def test_onnx_export_matches_predict_proba(load, dtype, tol, pipeline):
    pytest.importorskip("skl2onnx")
    rt = pytest.importorskip("onnxruntime")
    from skl2onnx import to_onnx

    import sklearn_adamlr.onnx  # noqa: F401, registers the converter

    model, X = _fitted(load, pipeline=pipeline)
    X = X.astype(dtype)
    onx = to_onnx(model, X[:1], options={AdamLogisticRegression: {"zipmap": False}})
    session = rt.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    label, proba = session.run(None, {session.get_inputs()[0].name: X})
    # measured: 2.2e-7 (float32), 2.2e-16 (float64)
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=0, atol=tol)
    np.testing.assert_array_equal(label, model.predict(X))


def test_onnx_binary_probabilities_are_the_sigmoid_not_of_twice_the_score():
    # skl2onnx's generic linear converter gives softmax([-z, z]) = sigmoid(2z)
    pytest.importorskip("skl2onnx")
    rt = pytest.importorskip("onnxruntime")
    from skl2onnx import to_onnx

    import sklearn_adamlr.onnx  # noqa: F401

    model, X = _fitted(load_breast_cancer)
    X = X.astype(np.float64)
    onx = to_onnx(model, X[:1], options={id(model): {"zipmap": False}})
    session = rt.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    proba = session.run(None, {session.get_inputs()[0].name: X})[1]
    z = model.decision_function(X)
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-z)), rtol=0, atol=1e-12)


def test_onnx_string_labels():
    pytest.importorskip("skl2onnx")
    rt = pytest.importorskip("onnxruntime")
    from skl2onnx import to_onnx

    import sklearn_adamlr.onnx  # noqa: F401

    model, X = _fitted(load_iris, labels=["setosa", "versicolor", "virginica"])
    X = X.astype(np.float32)
    onx = to_onnx(model, X[:1], options={AdamLogisticRegression: {"zipmap": False}})
    session = rt.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    label = session.run(None, {session.get_inputs()[0].name: X})[0]
    np.testing.assert_array_equal(label, model.predict(X))


@pytest.mark.parametrize("solver", BUILT_IN)
def test_skops_loads_with_the_listed_types_only(tmp_path, solver):
    sio = pytest.importorskip("skops.io")
    X, y = standardized(load_iris)
    model = AdamLogisticRegression(solver=solver, max_iter=3, tol=None).fit(X, y)
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert set(untrusted) <= set(trusted_types())
    loaded = sio.load(path, trusted=trusted_types())
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    # the solver state came back too: the stream resumes exactly
    loaded.partial_fit(X, y)
    model.partial_fit(X, y)
    np.testing.assert_array_equal(loaded.coef_, model.coef_)


def test_trusted_types_name_every_solver_and_state():
    names = trusted_types()
    assert "sklearn_adamlr._estimator.AdamLogisticRegression" in names
    for solver in BUILT_IN:
        assert any(name.endswith(solver_class) for name in names for solver_class in (
            {"gd": "GradientDescent", "minibatch": "MinibatchSGD", "adam": "Adam",
             "saga": "Saga"}[solver],
        ))  # fmt: skip
    # and each solver's state, whatever the parameters' shape
    for solver in available_solvers():
        for shape in ((2, 1), (5, 3)):
            state = get_solver(solver).init_state(np.zeros(shape))
            if state is not None:
                kind = type(state)
                assert f"{kind.__module__}.{kind.__qualname__}" in names


def test_importing_the_onnx_module_without_the_extra_names_it(monkeypatch):
    import importlib
    import sys

    monkeypatch.setitem(sys.modules, "skl2onnx", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "sklearn_adamlr.onnx", raising=False)
    with pytest.raises(ModuleNotFoundError, match=r"sklearn-adamlr\[onnx\]"):
        importlib.import_module("sklearn_adamlr.onnx")


def test_onnx_float32_at_large_logits_is_float32_rounding():
    # the documented float32 bound: 1.5e-7 at C=1, 3.4e-6 at C=1e4 (logits
    # up to 981); float64 stays at double precision there
    pytest.importorskip("skl2onnx")
    rt = pytest.importorskip("onnxruntime")
    from skl2onnx import to_onnx

    import sklearn_adamlr.onnx  # noqa: F401

    X, y = standardized(load_breast_cancer)
    model = AdamLogisticRegression(solver="lbfgs", C=1e4, max_iter=3000).fit(X, y)
    assert np.abs(model.decision_function(X)).max() > 500
    for dtype, tol in ((np.float32, 1e-5), (np.float64, 1e-12)):
        data = X.astype(dtype)
        onx = to_onnx(
            model, data[:1], options={AdamLogisticRegression: {"zipmap": False}}
        )
        session = rt.InferenceSession(
            onx.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        proba = session.run(None, {session.get_inputs()[0].name: data})[1]
        error = np.abs(proba - model.predict_proba(X)).max()
        assert error < tol, (dtype, error)
