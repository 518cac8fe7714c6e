"""Solvers: the contract, the registry and the built-in solvers.

Importing this package registers ``gd``, ``lbfgs``, ``minibatch``, ``adam``,
``saga`` and ``newton``.
"""

from ._adam import Adam
from ._base import (
    Capabilities,
    Solver,
    available_solvers,
    get_solver,
    register_solver,
    unregister_solver,
)
from ._gd import GradientDescent
from ._lbfgs import LBFGS
from ._minibatch import MinibatchSGD
from ._newton import Newton
from ._saga import Saga

__all__ = [
    "Adam",
    "Capabilities",
    "GradientDescent",
    "LBFGS",
    "MinibatchSGD",
    "Newton",
    "Saga",
    "Solver",
    "available_solvers",
    "get_solver",
    "register_solver",
    "unregister_solver",
]
