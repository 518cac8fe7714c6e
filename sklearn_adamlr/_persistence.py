"""What a saved model needs: the types that ``skops.io.load`` must trust."""

import numpy as np

from ._estimator import AdamLogisticRegression
from ._policies import IterateAverage
from ._stream_state import SeededRandomState, StreamState
from .solvers import available_solvers, get_solver


def _name(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def trusted_types():
    """The types of this package that a saved model holds, for ``skops.io.load``.

    A fitted :class:`AdamLogisticRegression` keeps its stream state: the
    solver's class and state, the random generator of its epochs, and the
    average of the iterates (so that ``partial_fit`` resumes exactly), and
    ``skops.io`` trusts none of their types by default. This lists them for
    every registered solver: pass it as ``trusted`` after checking that
    ``skops.io.get_untrusted_types`` of your file lists nothing else (a
    user's own solver or callable schedule is not in it).

    A pickle (or ``joblib``) file holds the same objects by their module
    paths, which are private: load it with the version of sklearn-adamlr
    that saved it. For deployment without Python, see
    :mod:`sklearn_adamlr.onnx`.

    Returns
    -------
    names : list of str
        Sorted, fully qualified type names.

    Examples
    --------
    >>> from sklearn_adamlr import trusted_types
    >>> "sklearn_adamlr.solvers._adam.AdamState" in trusted_types()
    True
    """
    own = (AdamLogisticRegression, StreamState, SeededRandomState, IterateAverage)
    names = {_name(cls) for cls in own}
    for name in available_solvers():
        solver = get_solver(name)
        names.add(_name(type(solver)))
        state = solver.init_state(np.zeros((2, 1)))
        if state is not None:
            names.add(_name(type(state)))
    return sorted(names)
