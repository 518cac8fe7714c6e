"""The steps' side of a diagonal preconditioner ``P``: the prox and the norms.

See :mod:`sklearn_adamlr._precondition` for what ``P`` is and who takes it.
"""

import numpy as np


class ScaledProx:
    """A prox whose step on each row of the parameters is scaled by ``P``'s.

    ``threshold`` (the per-row L1 strengths the compiled steps read) is
    scaled the same way.
    """

    def __init__(self, prox, precond):
        self.prox = prox
        self.precond = precond
        self.threshold = prox.threshold * precond[:, 0]

    def __call__(self, params, step, rows=None):
        self.prox(params, step * self.precond, rows)


def metric_norm(vector, precond, inverse=False):
    """``|vector|`` in ``v``'s coordinates: ``sqrt(sum(vector^2 / P))`` for a
    move of the parameters (``inverse``), ``sqrt(sum(P vector^2))`` for a
    gradient; the plain norm without ``P``."""
    if precond is None:
        return float(np.linalg.norm(vector))
    weight = 1.0 / precond if inverse else precond
    return float(np.sqrt(np.vdot(vector, weight * vector)))
