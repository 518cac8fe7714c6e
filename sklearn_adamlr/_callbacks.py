"""scikit-learn's callbacks (``sklearn.callback``, 1.9+) as a training-loop monitor.

A fit is a task and each epoch a subtask: the end of an epoch hands the
callbacks an estimator fitted at that epoch (so that ``ScoringMonitor``
logs one row per epoch), and a callback whose ``on_fit_task_end`` returns
True stops the fit after that epoch. With an older scikit-learn,
:data:`CallbackSupportMixin` is an empty class and nothing changes.
"""

from ._monitors import Monitor, Stop
from ._stream_state import unpack

try:  # scikit-learn >= 1.9
    from sklearn.callback import CallbackSupportMixin
except ImportError:  # pragma: no cover - exercised with older scikit-learn

    class CallbackSupportMixin:
        """Stands in for ``sklearn.callback.CallbackSupportMixin`` before 1.9."""


# The attributes that scikit-learn's callback machinery sets on an estimator
# around a fit: a failed fit's rollback keeps them as they are, so that the
# teardown in ``_fit_context`` still finds the context it has to close (a
# ProgressBar's thread would otherwise keep the process alive).
CALLBACK_ATTRIBUTES = (
    "_callback_fit_ctx",
    "_skl_callbacks",
    "_skl_callbacks_to_teardown",
    "_parent_callback_ctx",
)


def root_context(estimator, max_subtasks):
    """The fit's callback context, or None before scikit-learn 1.9."""
    if not hasattr(estimator, "_init_callback_context"):
        return None
    return estimator._init_callback_context(max_subtasks=max_subtasks)


def callback_monitor(estimator, context, inputs, X, sample_weight):
    """The monitor of scikit-learn's callbacks, or None when none are set.

    They see the training data as given (a dask array as such) with the
    validated labels, and ``sample_weight`` as their scorers' metadata.
    """
    if context is None or not getattr(estimator, "_skl_callbacks", None):
        return None
    d, classes_ = inputs.X.shape[1], inputs.classes_

    def fitted(params):
        coef, intercept = unpack(params, d, estimator.fit_intercept)
        return {"classes_": classes_, "coef_": coef, "intercept_": intercept}

    metadata = None if sample_weight is None else {"sample_weight": sample_weight}
    data = X if inputs.distributed else inputs.X
    return SklearnCallbacks(context, estimator, data, inputs.y, metadata, fitted)


class SklearnCallbacks(Monitor):
    """Reports each epoch to scikit-learn's callbacks as a subtask of the fit.

    Parameters
    ----------
    context : sklearn.callback.CallbackContext
        The fit's root context.
    estimator : AdamLogisticRegression
    X, y : array-like
        The training data, as the callbacks are to see them.
    metadata : dict or None
        E.g. ``{"sample_weight": ...}``, for the callbacks' scorers.
    fitted : callable
        ``fitted(params) -> dict``: the fitted attributes of packed
        parameters (copies), set on a copy of the estimator when a callback
        asks for one.
    """

    def __init__(self, context, estimator, X, y, metadata, fitted):
        self.context = context
        self._arguments = dict(estimator=estimator, X=X, y=y, metadata=metadata)
        self._fitted = fitted
        self._task = None

    def begin(self, loop):
        self.context.call_on_fit_task_begin(**self._arguments)

    def end(self):
        """The end of the fit's task, once the fitted attributes are set."""
        # no fitted estimator: the epochs logged themselves, one row each
        self.context.call_on_fit_task_end(**self._arguments)

    def before_epoch(self, loop):
        self._task = self.context.subcontext(task_name="epoch")
        self._task.call_on_fit_task_begin(**self._arguments)

    def after_epoch(self, loop, report):
        params = loop.params
        stop = self._task.call_on_fit_task_end(
            **self._arguments,
            # evaluated only if a callback asks for the fitted estimator
            reconstruction_attributes=lambda: self._fitted(params),
        )
        self._task = None
        if stop:
            return Stop(
                False,
                f"Stopped: a callback asked to stop after epoch {report.epoch}.",
                requested=True,
            )
        return None
