"""Solvers: the contract, the registry and the built-in solvers.

Importing this package registers ``gd``, ``minibatch`` and ``adam``.
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
from ._minibatch import MinibatchSGD

__all__ = [
    "Adam",
    "Capabilities",
    "GradientDescent",
    "MinibatchSGD",
    "Solver",
    "available_solvers",
    "get_solver",
    "register_solver",
    "unregister_solver",
]
