"""The solver contract and the registry of solvers by name.

A solver turns a gradient into a parameter update. It never sees ``X``, ``y``,
the loss or the penalty: the training loop (:mod:`sklearn_adamlr._training`)
computes the gradient of the smooth part at the point the solver asks for and
hands the solver a ``prox`` callable for the non-smooth (L1) part. The
solver's mutable quantities (moments, momentum, step count) live in a small
state object that it creates, so a fitted estimator pickles with its state
and ``partial_fit`` resumes exactly.
"""

from dataclasses import dataclass

from sklearn.utils._param_validation import InvalidParameterError

_REGISTRY = {}


@dataclass(frozen=True)
class Capabilities:
    """The optional compiled paths a solver declares: one place for all of them.

    The required part of the contract is :meth:`Solver.init_state` and
    :meth:`Solver.update` (and, for accelerated methods,
    :meth:`Solver.eval_point`). Everything here is optional; the training
    loop's engines (:mod:`sklearn_adamlr._engines`) read it to choose how an
    epoch runs, and a solver that declares nothing runs through the numpy
    reference.

    Attributes
    ----------
    lazy : bool, default=False
        On sparse data :meth:`Solver.update` may be called with ``rows``, the
        rows of the parameters whose features the minibatch touches (plus the
        intercept row), and must leave the other rows and their state alone.
        The training loop then scales the penalty of each feature so that the
        fixed points stay those of the objective (see
        :mod:`sklearn_adamlr._sparse`).
    linear : bool, default=False
        The solver implements :meth:`Solver.linear_update`: without a prox,
        its step is linear in the parameters, its state arrays and the
        gradient, and the gradient is taken at ``params`` (the default
        :meth:`Solver.eval_point`). On sparse data the training loop then
        runs the dense method's steps at the cost of lazy ones (see
        :class:`~sklearn_adamlr._kernels.LinearKernel`).
    sparse_kernel : type or None, default=None
        For a lazy solver: a compiled implementation of its lazy epochs on
        CSR data, used when numba is installed, with the numbers of
        :meth:`Solver.update` given ``rows`` (which stays the reference). It
        is built as ``sparse_kernel(solver, X, target, sample_weight,
        params, row_scale, threshold)`` and provides ``load(params, state)``,
        ``epoch(state, starts, stops, order, rates, mean_weight, l2) ->
        (loss_sum, finite)`` and ``store(params, state)``; see
        :class:`~sklearn_adamlr.solvers._adam.AdamSparseKernel`.
    data_epoch : type or None, default=None
        For a solver whose steps need the data itself, not a minibatch
        gradient (a variance-reduced method keeps a table of per-sample
        gradients): the class that runs its epochs. It is built as
        ``data_epoch(solver, problem, params, compiled)``, where
        ``compiled`` says whether the compiled kernels apply to the data
        (else it must take its numpy reference path), and provides
        ``epoch(params, state, samples, rate) -> (loss_sum, finite)``: one
        step per sample of ``samples``, in order, at the constant step
        ``rate``. :meth:`Solver.update` is then never called; the training
        loop ignores ``batch_size``, requires a constant ``schedule``, and
        counts ``stall_patience`` in epochs (see
        :class:`~sklearn_adamlr.solvers._saga.SagaEpoch`).

    Examples
    --------
    >>> from sklearn_adamlr import get_solver
    >>> get_solver("minibatch").capabilities
    Capabilities(lazy=True, linear=True, sparse_kernel=None, data_epoch=None)
    """

    lazy: bool = False
    linear: bool = False
    sparse_kernel: type | None = None
    data_epoch: type | None = None


def capabilities_of(solver):
    """The :class:`Capabilities` of ``solver`` (none if it declares nothing)."""
    return getattr(solver, "capabilities", None) or Capabilities()


class Solver:
    """Base class and contract of a first-order solver.

    Subclasses set the class attributes and implement :meth:`init_state` and
    :meth:`update`; everything else has a default. Register a subclass with
    :func:`register_solver` to make it available by name to
    :class:`~sklearn_adamlr.AdamLogisticRegression`.

    Attributes
    ----------
    name : str
        Name under which the solver is registered.
    full_batch : bool
        If True, every update uses the gradient over the whole data set
        (``batch_size`` is ignored) and the result does not depend on the
        order of the samples.
    hand_over : bool
        In a certified ``fit`` (``tol`` set, no early stopping, no
        callbacks, data in memory), stop the minibatch steps where the
        batch would first grow (never where one minibatch is the whole
        data), and let the full-batch solver that ``'auto'`` would choose go
        on from the best point (``solver_`` reads e.g. ``'adam+lbfgs'``).
        False by default; True for ``adam`` and ``minibatch``.
    hyperparameters : tuple of str
        Names of the estimator parameters that the constructor takes, e.g.
        ``("beta_1", "beta_2", "epsilon")``. The estimator passes them when
        the solver is given by name.
    capabilities : Capabilities
        The optional compiled paths the solver supports, all off by default:
        a solver with none of them works through the reference path.
    stall_patience : int
        In a ``fit`` with ``tol``, how many updates without a new lowest full
        objective (never less than one epoch) make the training loop double
        the batch size, or at the full batch halve the step size. 10 by
        default. For a solver with ``Capabilities.data_epoch``, how many
        epochs before the step is halved.
    secant_step : bool
        In a ``fit`` with ``tol`` and ``learning_rate='auto'``, once the
        batch is the whole data set, let the training loop set the step from
        the full gradients that the certificate measures: the
        Barzilai-Borwein step ``|dw| / |dg|`` between two epochs, at most
        twice the previous step and never below the automatic ``1 / L``.
        Only for a step that multiplies the gradient (in units of ``1 / L``);
        False by default, and for Adam, whose step is a distance per
        coordinate.
    preconditioned : bool
        The solver takes a diagonal preconditioner ``P`` on raw features
        (see :mod:`sklearn_adamlr._precondition`): the training loop sets
        its state's ``precond`` to ``P`` (None where there is none), and
        the automatic step comes from the smoothness constants in the
        preconditioned variables. False by default; True for ``gd``,
        ``lbfgs``, ``minibatch`` and ``adam``.
    takes_direction : bool
        In a ``fit`` with ``tol``, where the certificate finds the gradient
        within ``tol`` but the objective flat (its gap estimate too large),
        or near the optimum where the estimate is a Cholesky solve, the
        training loop hands the solver that estimate's Newton step through
        :meth:`take_direction`, as its next direction (see
        ``_certify.NewtonStep``). False by default; True for ``lbfgs``.
    run_rows : int
        For a solver with ``Capabilities.data_epoch``: under ``shuffle=True``
        or ``'blocks'``, on at least ``_plan.RUNS_MIN * run_rows``
        (64 runs' worth of) samples, an
        epoch visits runs of this many consecutive rows (their boundaries
        shifted by a random offset, their order drawn anew each epoch), each
        run in order, instead of a permutation of the samples (see
        ``_training.train``). 1 by default: a permutation.

    Examples
    --------
    A plain SGD step, registered under a new name:

    >>> from sklearn_adamlr import Solver, register_solver, unregister_solver
    >>> @register_solver
    ... class PlainSGD(Solver):
    ...     name = "plain_sgd_doc"
    ...     def init_state(self, params):
    ...         return None
    ...     def update(self, params, grad, state, learning_rate, prox):
    ...         params -= learning_rate * grad
    ...         if prox is not None:
    ...             prox(params, learning_rate)
    >>> from sklearn_adamlr import AdamLogisticRegression
    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = AdamLogisticRegression(solver="plain_sgd_doc", random_state=0)
    >>> clf.fit(X, y).score(X, y) > 0.9
    True
    >>> unregister_solver("plain_sgd_doc")
    """

    name = None
    full_batch = False
    hand_over = False
    hyperparameters = ()
    capabilities = Capabilities()
    stall_patience = 10
    secant_step = False
    takes_direction = False
    run_rows = 1
    preconditioned = False

    def __init__(self, **hyperparameters):
        for key, value in hyperparameters.items():
            if key not in self.hyperparameters:
                raise TypeError(
                    f"{type(self).__name__} got an unexpected hyperparameter "
                    f"{key!r}; it takes {list(self.hyperparameters)}."
                )
            setattr(self, key, value)

    def auto_learning_rate(self, smoothness, batch_size):
        """The step used for ``learning_rate='auto'``.

        The default is ``1 / L_b``, the inverse of the expected smoothness of
        a minibatch gradient of size ``batch_size`` (Gower et al., 2019),
        which is ``1 / L`` for the full batch.

        Parameters
        ----------
        smoothness : Smoothness
            Lipschitz constants of the problem, computed on demand.
        batch_size : int
            Samples per update.

        Returns
        -------
        learning_rate : float
        """
        return 1.0 / smoothness.expected(batch_size)

    def stream_learning_rate(self, smoothness, batch_size):
        """The ``'auto'`` step when no certificate can reduce it.

        :meth:`auto_learning_rate` serves a ``fit`` with ``tol``, whose
        training loop doubles the batch and halves the step when the
        objective stalls. ``partial_fit`` and a ``fit`` with ``tol=None``
        measure nothing and keep their step; a solver whose ``'auto'`` step
        relies on that decay returns a smaller one here. The default is
        :meth:`auto_learning_rate`'s.

        Parameters
        ----------
        smoothness : Smoothness
        batch_size : int

        Returns
        -------
        learning_rate : float
        """
        return self.auto_learning_rate(smoothness, batch_size)

    def init_state(self, params):
        """A fresh state for parameters shaped like ``params``.

        Parameters
        ----------
        params : ndarray of shape (n_features + fit_intercept, n_outputs)
            The initial parameters; the state should use their dtype.

        Returns
        -------
        state : object
            Any picklable object; it is updated in place by :meth:`update`.
        """
        raise NotImplementedError

    def eval_point(self, params, state):
        """Where the next gradient is evaluated; ``params`` by default.

        Accelerated methods (Nesterov, FISTA) evaluate the gradient at an
        extrapolated point that they keep in their state.
        """
        return params

    def update(self, params, grad, state, learning_rate, prox):
        """Take one step: update ``params`` and ``state`` in place.

        Parameters
        ----------
        params : ndarray of shape (n_features + fit_intercept, n_outputs)
            Packed coefficients (intercept last), updated in place.
        grad : ndarray of the shape of ``params``
            Gradient of the smooth part of the objective at
            ``eval_point(params, state)``. Its buffer may be reused.
        state : object
            The state from :meth:`init_state`, updated in place.
        learning_rate : float
            The step size for this update (the schedule is already applied).
        prox : callable or None
            ``prox(params, step)`` applies the proximal operator of the L1
            part in place, with ``step`` a float or an array shaped like
            ``params`` (a per-coordinate step). None when there is no L1
            part. Call it after the gradient step, with the step just taken.
            It is soft-thresholding: ``prox.threshold[j] * step`` is the
            threshold of row ``j`` (0 for the intercept), which a compiled
            step may apply itself. A lazy solver, given ``rows``, calls
            ``prox(params[rows], step, rows)`` on those rows.
        rows : ndarray of int, optional
            Only for lazy solvers (``Capabilities(lazy=True)``): the rows of
            ``params`` to update, in increasing order (the intercept row
            last); ``grad`` is meaningful on those rows only, and the other
            rows of its buffer may be used as scratch.
        """
        raise NotImplementedError

    def take_direction(self, params, state, direction):
        """Make ``direction`` the next step from ``params``, for ``takes_direction``.

        Called after an update, with ``params`` the point where the last
        gradient was taken (and accepted). Returns whether the solver took
        it (a solver may refuse, e.g. a direction that does not descend).
        """
        raise NotImplementedError(f"{type(self).__name__} takes no direction.")

    def linear_update(self, state, learning_rate):
        """The step as a linear map, for ``Capabilities(linear=True)`` solvers.

        Without a prox, :meth:`update` must compute
        ``[params, *arrays] <- P @ [params, *arrays] + q * grad``, applied
        elementwise to the stacked arrays.

        Parameters
        ----------
        state : object
            The solver's state. Counters in it (a step count) are advanced
            here, as :meth:`update` would; its arrays are *not* updated.
            ``P`` and ``q`` may depend on the counters and the learning
            rate, not on the arrays' values: on sparse data the training
            loop asks for all of an epoch's steps, then takes them in one
            compiled call.
        learning_rate : float
            The step size for this update.

        Returns
        -------
        arrays : tuple of ndarray
            The state's arrays shaped like ``params`` that the step acts on,
            in the order of ``P``'s rows after the first.
        P : sequence of sequence of float, of shape (1 + len(arrays),) * 2
        q : sequence of float, of shape (1 + len(arrays),)

        Examples
        --------
        Plain SGD, ``params <- params - learning_rate * grad``:

        >>> import numpy as np
        >>> from sklearn_adamlr import get_solver
        >>> sgd = get_solver("minibatch", {"momentum": 0.0})
        >>> sgd.linear_update(sgd.init_state(np.zeros((3, 1))), 0.5)
        ((), ((1.0,),), (-0.5,))
        """
        raise NotImplementedError(f"{type(self).__name__} is not a linear solver.")

    def __repr__(self):
        args = ", ".join(
            f"{key}={getattr(self, key)!r}"
            for key in self.hyperparameters
            if hasattr(self, key)
        )
        return f"{type(self).__name__}({args})"


def register_solver(cls):
    """Register a :class:`Solver` subclass under its ``name``.

    Usable as a class decorator. A name can be registered once; unregister it
    first to replace it.

    Parameters
    ----------
    cls : type
        A subclass of :class:`Solver` with a ``name``.

    Returns
    -------
    cls : type
        The same class, so that this works as a decorator.

    Examples
    --------
    >>> from sklearn_adamlr import available_solvers
    >>> {"adam", "gd", "minibatch"} <= set(available_solvers())
    True
    """
    if not (isinstance(cls, type) and issubclass(cls, Solver)):
        raise TypeError(f"register_solver expects a Solver subclass, got {cls!r}.")
    name = cls.name
    if not isinstance(name, str) or not name:
        raise ValueError(f"{cls.__name__}.name must be a non-empty string.")
    if name in _REGISTRY:
        raise ValueError(
            f"A solver named {name!r} is already registered "
            f"({_REGISTRY[name].__name__}); call unregister_solver({name!r}) "
            "first to replace it."
        )
    _REGISTRY[name] = cls
    return cls


def unregister_solver(name):
    """Remove the solver registered as ``name``.

    Parameters
    ----------
    name : str
        A registered name.

    Examples
    --------
    >>> from sklearn_adamlr import unregister_solver
    >>> unregister_solver("no-such-solver")
    Traceback (most recent call last):
    ...
    KeyError: "No solver named 'no-such-solver' is registered."
    """
    if name not in _REGISTRY:
        raise KeyError(f"No solver named {name!r} is registered.")
    del _REGISTRY[name]


def available_solvers():
    """Sorted names of the registered solvers.

    Returns
    -------
    names : list of str

    Examples
    --------
    >>> from sklearn_adamlr import available_solvers
    >>> "adam" in available_solvers()
    True
    """
    return sorted(_REGISTRY)


def get_solver(solver, params=None):
    """A solver instance from a registered name or an instance.

    Parameters
    ----------
    solver : str or Solver
        A registered name, or an instance that is returned as is.
    params : dict, default=None
        Hyperparameter values by name (typically the estimator's
        ``get_params()``); the solver class takes those it declares.

    Returns
    -------
    solver : Solver

    Raises
    ------
    InvalidParameterError
        If ``solver`` is not a registered name.
    """
    if not isinstance(solver, str):
        return solver
    if solver not in _REGISTRY:
        raise InvalidParameterError(
            f"The 'solver' parameter of AdamLogisticRegression must be one of "
            f"the registered solvers {available_solvers()} or a Solver "
            f"instance. Got {solver!r} instead."
        )
    cls = _REGISTRY[solver]
    params = params or {}
    return cls(**{key: params[key] for key in cls.hyperparameters if key in params})
