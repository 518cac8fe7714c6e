"""ONNX export: registers :class:`~sklearn_adamlr.AdamLogisticRegression` with skl2onnx.

Importing this module (it needs the ``onnx`` extra: skl2onnx, and
onnxruntime to run the result) teaches ``skl2onnx.to_onnx`` and
``convert_sklearn`` the estimator, alone or inside a ``Pipeline``::

    import sklearn_adamlr.onnx  # noqa: F401, registers the converter
    from skl2onnx import to_onnx
    onx = to_onnx(model, X[:1].astype(np.float32))

A fitted model is a linear classifier with the probabilities of
:class:`~sklearn.linear_model.LogisticRegression`: the sigmoid of the raw
score for two classes, the softmax for more. The converter hands skl2onnx's
own ``LogisticRegression`` conversion a ``LogisticRegression`` that holds the
model's coefficients, intercepts and classes. (skl2onnx's generic linear
converter is not right for it: for two classes it takes the softmax of
``[-z, z]``, which is ``sigmoid(2 z)``, measured up to 0.15 away from
``predict_proba``.) Float32 inputs give the ``LinearClassifier`` operator,
computed in float32: its probabilities are as close to ``predict_proba``'s
as float32 rounding of the scores allows, measured 1.5e-7 at C=1 on
standardized breast_cancer and iris, and 3.4e-6 at C=1e4 on breast_cancer,
where the logits reach 981. Float64 inputs give a graph of ``MatMul`` and
``Sigmoid`` or ``Softmax`` in double precision (within 1e-12); the tests
check both with onnxruntime.

The options of skl2onnx's classifiers apply: ``zipmap`` (``False`` gives a
plain probability matrix) and ``nocl``.
"""

try:
    from skl2onnx import update_registered_converter
    from skl2onnx.operator_converters.linear_classifier import (
        convert_sklearn_linear_classifier,
    )
    from skl2onnx.shape_calculators.linear_classifier import (
        calculate_linear_classifier_output_shapes,
    )
except ModuleNotFoundError as exc:  # the onnx extra is not installed
    raise ModuleNotFoundError(
        f"sklearn_adamlr.onnx needs skl2onnx (and onnxruntime to run the "
        f"exported model), which are not installed ({exc}). Install the onnx "
        "extra: pip install 'sklearn-adamlr[onnx]'.",
        name=exc.name,
    ) from exc
from sklearn.linear_model import LogisticRegression

from ._estimator import AdamLogisticRegression

__all__ = ["as_logistic_regression"]


def as_logistic_regression(model):
    """A fitted ``LogisticRegression`` with the coefficients of ``model``.

    It predicts the same classes and probabilities (the same formula:
    sigmoid for two classes, softmax for more); it is what the ONNX
    converter converts.

    Parameters
    ----------
    model : AdamLogisticRegression
        A fitted model.

    Returns
    -------
    proxy : LogisticRegression

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_adamlr import AdamLogisticRegression
    >>> from sklearn_adamlr.onnx import as_logistic_regression
    >>> X, y = load_iris(return_X_y=True)
    >>> model = AdamLogisticRegression(solver="gd", max_iter=20, tol=None).fit(X, y)
    >>> proxy = as_logistic_regression(model)
    >>> bool(np.allclose(proxy.predict_proba(X), model.predict_proba(X), atol=1e-15))
    True
    """
    proxy = LogisticRegression()
    proxy.coef_ = model.coef_
    proxy.intercept_ = model.intercept_
    proxy.classes_ = model.classes_
    proxy.n_features_in_ = model.n_features_in_
    if hasattr(model, "feature_names_in_"):
        proxy.feature_names_in_ = model.feature_names_in_
    proxy.n_iter_ = [model.n_iter_]
    return proxy


def _convert(scope, operator, container):
    model = operator.raw_operator
    operator.raw_operator = as_logistic_regression(model)
    try:
        convert_sklearn_linear_classifier(scope, operator, container)
    finally:
        operator.raw_operator = model


update_registered_converter(
    AdamLogisticRegression,
    "SklearnAdamLogisticRegression",
    calculate_linear_classifier_output_shapes,
    _convert,
    options={"zipmap": [True, False, "columns"], "nocl": [True, False]},
)
