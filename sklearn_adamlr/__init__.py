"""Logistic regression trained by gradient descent, minibatch SGD or Adam.

A scikit-learn estimator, :class:`AdamLogisticRegression`, with the objective
of :class:`sklearn.linear_model.LogisticRegression`, a registry of first-order
solvers and ``partial_fit`` that resumes exactly.
"""

from importlib.metadata import PackageNotFoundError, version

from ._cv import AdamLogisticRegressionCV
from ._duality import duality_gap
from ._estimator import AdamLogisticRegression
from ._loss import logistic_objective
from ._persistence import trusted_types
from ._plot import LossCurveDisplay
from ._policies import RisingLossWarning
from ._schedules import Constant, InverseScaling
from ._stream import fit_stream
from .solvers import (
    Capabilities,
    Solver,
    available_solvers,
    get_solver,
    register_solver,
    unregister_solver,
)

try:
    __version__ = version("sklearn-adamlr")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "AdamLogisticRegressionCV",
    "AdamLogisticRegression",
    "Capabilities",
    "Constant",
    "InverseScaling",
    "LossCurveDisplay",
    "RisingLossWarning",
    "Solver",
    "available_solvers",
    "duality_gap",
    "fit_stream",
    "get_solver",
    "logistic_objective",
    "register_solver",
    "trusted_types",
    "unregister_solver",
]
