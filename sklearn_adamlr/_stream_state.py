"""What ``partial_fit`` needs to resume, in one object, and where a call starts."""

import copy
from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_random_state

from ._policies import IterateAverage
from ._warn import warn_user
from .solvers._base import capabilities_of

_MAX_SEED = np.iinfo(np.int32).max


class SeededRandomState:
    """``numpy.random.RandomState(seed)``, made when it first draws.

    Making a ``RandomState`` costs about 60 us (numpy seeds a Mersenne
    Twister from the system before the seed replaces it): 3% of a default
    fit on breast_cancer, whose full-batch solver never draws. The draws,
    and so the fits, are those of ``RandomState(seed)``; it pickles with the
    generator's state once made.

    Parameters
    ----------
    seed : int

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_adamlr._stream_state import SeededRandomState
    >>> rng = SeededRandomState(3)
    >>> bool((rng.permutation(5) == np.random.RandomState(3).permutation(5)).all())
    True
    """

    def __init__(self, seed):
        self.seed = seed
        self._generator = None

    @property
    def generator(self):
        """The ``numpy.random.RandomState``, made on first use."""
        if self._generator is None:
            self._generator = np.random.RandomState(self.seed)
        return self._generator

    def randint(self, *args, **kwargs):
        """:meth:`numpy.random.RandomState.randint` of :attr:`generator`."""
        return self.generator.randint(*args, **kwargs)

    def permutation(self, x):
        """:meth:`numpy.random.RandomState.permutation` of :attr:`generator`."""
        return self.generator.permutation(x)


@dataclass
class StreamState:
    """Everything a fitted estimator carries from one training call to the next.

    Stored as one attribute (``_stream``) and replaced, never modified, by
    each call, so that a failed call leaves it as it was and a pickle holds
    the whole of it: stop, save, load and resume gives the same numbers as
    never stopping.

    Attributes
    ----------
    solver_class : type
        The solver the stream was started with (a ``partial_fit`` with
        another one is refused).
    fit_intercept : bool
        Whether the packed parameters hold an intercept (the solver state's
        shape depends on it).
    solver_state : object
        The solver's state (moments, momentum, its own step count).
    t : int
        Updates done so far (the schedule's clock).
    rng : SeededRandomState
        The generator of the epochs' orders.
    rate_scale : float
        The factor on the step size (halved by the stall response).
    average : IterateAverage or None
        The average of the iterates (see ``average``), or None.
    iterate : ndarray or None
        The last iterate, where ``coef_`` holds the average instead.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_adamlr import AdamLogisticRegression
    >>> X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1])
    >>> est = AdamLogisticRegression(random_state=0).partial_fit(X, y, classes=[0, 1])
    >>> est._stream.t == est.t_
    True
    """

    solver_class: type
    fit_intercept: bool
    solver_state: object
    t: int
    rng: SeededRandomState
    rate_scale: float = 1.0
    average: IterateAverage | None = None
    iterate: np.ndarray | None = None

    def resumed(self):
        """A copy to train on: the stored state stays as it is if the call fails."""
        return copy.deepcopy(self)


def start_stream(estimator, solver, inputs, incremental, first_call):
    """``(params, stream)``: the point and the stream state a call starts from.

    Copies: the estimator's own are replaced only when the call succeeds. A
    resumed stream (``partial_fit`` after a first call) goes on from its
    state; otherwise the state is fresh and the point zero, or ``coef_``
    with ``warm_start``, or, under ``solver='auto'``, for a ``partial_fit``
    after a ``fit`` by another solver (the streaming optimizer takes over).
    """
    n_features = inputs.X.shape[1]
    n_params = n_features + int(estimator.fit_intercept)
    k = inputs.loss.n_outputs(len(inputs.classes_))
    # Where no certificate or validation score picks the point to return,
    # the iterates of a minibatch solver are averaged (see average).
    averaged = (
        estimator.average
        and estimator.schedule == "constant"
        and not solver.full_batch
        and capabilities_of(solver).data_epoch is None
        and (incremental or estimator.tol is None)
        and not estimator.early_stopping
        # its comparison reads rows of X in the client
        and not inputs.distributed
    )
    # under 'auto', partial_fit after a fit by a full-batch solver goes on
    # from the fitted coefficients with the streaming optimizer's fresh state
    handed_over = (
        incremental
        and not first_call
        and estimator.solver == "auto"
        and estimator._stream.solver_class is not type(solver)
    )
    if incremental and not first_call and not handed_over:
        check_resumable(estimator, solver, k)
        stream = estimator._stream.resumed()
        # coef_ may be the average: the steps go on from the iterate
        params = (
            pack(estimator, inputs.X.dtype)
            if stream.iterate is None
            else stream.iterate
        )
        if not (averaged and stream.average is not None and stream.average.count):
            stream.average = IterateAverage() if averaged else None
        return params, stream
    if handed_over or can_warm_start(
        estimator, inputs.classes_, n_params, k, incremental
    ):
        params = pack(estimator, inputs.X.dtype)
    else:
        params = np.zeros((n_params, k), dtype=inputs.X.dtype)
        if not incremental and estimator.warm_start and hasattr(estimator, "coef_"):
            # (scikit-learn's estimators raise here; the fit can go on, but
            # not from where the user asked)
            warn_user(
                "warm_start=True, but the classes or the number of features "
                "changed since the last fit: this fit starts from zero. Set "
                "warm_start=False to start afresh without this warning.",
                UserWarning,
            )
    seed = check_random_state(estimator.random_state).randint(_MAX_SEED)
    stream = StreamState(
        solver_class=type(solver),
        # the solver state's shape depends on it, and coef_ alone
        # cannot tell whether the stream was started with an intercept
        fit_intercept=bool(estimator.fit_intercept),
        solver_state=solver.init_state(params),
        t=0,
        rng=SeededRandomState(seed),
        average=IterateAverage() if averaged else None,
    )
    return params, stream


def can_warm_start(estimator, classes_, n_params, k, incremental):
    """Whether ``fit`` starts from the fitted ``coef_`` (``warm_start``)."""
    return (
        not incremental
        and estimator.warm_start
        and hasattr(estimator, "coef_")
        and np.array_equal(estimator.classes_, classes_)
        and estimator.coef_.shape == (k, n_params - int(estimator.fit_intercept))
    )


def check_resumable(estimator, solver, k):
    """Refuse to resume a stream with another solver or intercept."""
    stream = estimator._stream
    if type(solver) is not stream.solver_class:
        raise ValueError(
            f"partial_fit was started with solver "
            f"{stream.solver_class.__name__} and cannot continue with "
            f"{type(solver).__name__}; call fit to start afresh."
        )
    if estimator.coef_.shape[0] != k or estimator.fit_intercept != stream.fit_intercept:
        raise ValueError(
            "fit_intercept was changed since the first call to partial_fit; "
            "call fit to start afresh."
        )


def pack(estimator, dtype):
    """The fitted ``coef_`` and ``intercept_`` as packed parameters."""
    n_features = estimator.coef_.shape[1]
    params = np.empty(
        (n_features + int(estimator.fit_intercept), estimator.coef_.shape[0]),
        dtype=dtype,
    )
    params[:n_features] = estimator.coef_.T
    if estimator.fit_intercept:
        params[n_features] = estimator.intercept_
    return params


def unpack(params, n_features, fit_intercept):
    """``(coef_, intercept_)`` of packed parameters (:func:`pack`'s inverse)."""
    coef = np.ascontiguousarray(params[:n_features].T)
    if fit_intercept:
        intercept = params[n_features].copy()
    else:
        intercept = np.zeros(params.shape[1], dtype=params.dtype)
    return coef, intercept
