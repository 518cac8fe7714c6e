"""The other policies of the loop: averaging, validation, rising loss, verbose output.

Each is one monitor (:mod:`sklearn_adamlr._monitors`).
"""

import numpy as np

from ._loss import raw_prediction
from ._monitors import Monitor, Stop
from ._warn import warn_user


class RisingLossWarning(UserWarning):
    """The training objective rose over several consecutive epochs.

    This is the classic symptom of a learning rate that is too large: the
    iterates overshoot and the loss climbs, often while the accuracy still
    looks fine. Lower ``learning_rate`` (or use ``learning_rate='auto'``), or
    standardize the features.

    Examples
    --------
    >>> import warnings
    >>> from sklearn_adamlr import RisingLossWarning
    >>> issubclass(RisingLossWarning, UserWarning)
    True
    """


AVERAGE_ETA = 3
# Rows on which IterateAverage.compare measures the two points.
COMPARE_ROWS = 2048


class IterateAverage(Monitor):
    """The average of the iterates at the ends of epochs, the recent ones weighted most.

    A constant step leaves a stochastic solver's iterate moving in a ball of
    noise around the optimum; their average sits much closer to it (Polyak &
    Juditsky, 1992). The polynomial-decay average of Shamir & Zhang (2013),
    ``add(x_k)`` setting ``point += (eta + 1) / (k + eta) * (x_k - point)``
    with ``eta = AVERAGE_ETA``, weights the k-th iterate about as k**eta:
    it forgets the first, far epochs without knowing how many will follow.

    While the iterate is still on its way to the optimum, rather than moving
    around it, the average lags behind it. So before each epoch
    :meth:`compare` measures the log-loss of both on the data that the epoch
    is about to train on, which neither has seen in a stream (progressive
    validation), and :attr:`preferred` says whether the average did at least
    as well.

    Measured, one pass of default ``partial_fit``, relative gaps of the last
    iterate and of the average with eta = 1, 3 and 7: ``adam`` over 400,000
    x 100 standardized rows in 10,000-row chunks, 1.6e-2 and 2.8e-4, 6.6e-4,
    1.3e-3; over 40,000 x 20 in 1,000-row chunks (200 steps of 0.01 from
    zero: the iterate still converges) 3.6e-3 and 8.8e-3, 4.3e-3, 3.1e-3;
    ``minibatch`` on the same two, 3.5e-2 and 1.5e-3, 2.5e-3, 3.9e-3, and
    1.2e-2 and 2.2e-4, 6.9e-4, 1.6e-3. eta = 3 keeps most of the gain where
    the noise dominates and loses at most a fifth where the iterate is
    still converging.

    Parameters
    ----------
    point : ndarray or None
        The average so far (None before the first iterate).
    count : int
        The iterates averaged so far.
    preferred : bool
        Whether the average measured at least as well as the last iterate.
    """

    def __init__(self, point=None, count=0, preferred=True):
        self.point = point
        self.count = count
        self.preferred = preferred

    def before_epoch(self, loop):
        self.compare(loop.problem, loop.params)

    def after_epoch(self, loop, report):
        self.add(loop.params)

    def add(self, params):
        """Average in the iterate ``params`` (not modified)."""
        self.count += 1
        if self.count == 1:
            self.point = params.copy()
        else:
            eta = AVERAGE_ETA
            self.point += ((eta + 1) / (self.count + eta)) * (params - self.point)

    def compare(self, problem, params):
        """Measure the log-loss of ``params`` and of the average on ``problem``.

        The loss alone, without the penalty: in ``partial_fit`` the penalty
        is scaled to one chunk, and would favour the smaller coefficients of
        a lagging average.

        On at most ``COMPARE_ROWS`` rows, evenly spaced (no random draw, so
        the stream's numbers do not change): over all the rows of a
        1,000,000 x 100 epoch it doubled the time of an ``adam`` epoch.
        """
        if self.count == 0:
            return
        n = problem.n_samples
        rows = slice(None, None, -(-n // COMPARE_ROWS))
        X, target = problem.X[rows], problem.target[rows]
        sw = None if problem.sample_weight is None else problem.sample_weight[rows]
        d, k = problem.n_features, params.shape[1]
        raw = raw_prediction(X, np.hstack([params, self.point]), d)
        losses = []
        for j in range(2):
            part = np.ascontiguousarray(raw[:, j * k : (j + 1) * k])
            losses.append(
                problem.loss.loss_gradient(part, target, sw, np.empty_like(part))
            )
        self.preferred = bool(losses[1] <= losses[0])


class ValidationStop(Monitor):
    """Early stopping on a held-out score, keeping the best point.

    ``validation(params) -> score`` (higher is better) is measured after
    each epoch; the point of the best score is kept. With ``tol``, the loop
    stops once the score has not improved by ``tol`` for
    ``n_iter_no_change`` epochs in a row.
    """

    def __init__(self, validation, tol, n_iter_no_change):
        self.validation = validation
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.scores = []
        self.best_score = -np.inf
        self.best_params = None
        self._no_improvement = 0

    def after_epoch(self, loop, report):
        score = self.validation(loop.params)
        report.validation_score = score
        self.scores.append(score)
        previous_best = self.best_score
        if score > self.best_score:
            self.best_score = score
            self.best_params = loop.params.copy()
        if self.tol is None:
            return None
        improved = score >= previous_best + self.tol
        self._no_improvement = 0 if improved else self._no_improvement + 1
        if self._no_improvement < self.n_iter_no_change:
            return None
        return Stop(
            True,
            f"Stopped: no improvement of the validation score by tol={self.tol} "
            f"for {self.n_iter_no_change} consecutive epochs.",
        )

    def finish(self, loop, result):
        result.validation_scores = self.scores
        result.best_params = self.best_params


# Epochs in a row over which the loss must rise, by how much in total
# relative to the best value, and which share of the progress since the
# first epoch it must give back, before RisingLossWarning fires: stochastic
# solvers jitter around the optimum, and momentum oscillates, which must not
# trigger it (see rising).
RISING_EPOCHS = 5
RISING_MARGIN = 1e-2
RISING_SHARE = 0.5


def rising(history):
    """Whether ``history`` ends with a divergence pattern.

    The objective rose over the last ``RISING_EPOCHS`` epochs in a row, by
    more than ``RISING_MARGIN`` of the best value, and gave back more than
    ``RISING_SHARE`` of the progress made since the first epoch. The last
    condition tells divergence from the bounded oscillation of momentum (or
    Adam) around the optimum, which also rises for a few epochs at a time:
    on wine at C=1, minibatch's full-batch momentum rises for 5 epochs in a
    row while giving back at most 1.8% of its progress (measured over 300
    epochs).
    """
    if len(history) <= RISING_EPOCHS:
        return False
    recent = history[-RISING_EPOCHS - 1 :]
    if not all(b > a for a, b in zip(recent[:-1], recent[1:], strict=True)):
        return False
    best = min(history)
    rise = recent[-1] - best
    return rise > RISING_MARGIN * abs(best) and rise > RISING_SHARE * (
        history[0] - best
    )


class RisingLossWatch(Monitor):
    """Warns (RisingLossWarning) at the first epoch of a rising objective.

    With the automatic step of a certified fit (``deferred``), the warning
    waits for the end and is dropped if the fit converges: the stall
    response halves such a step, and a rise it recovers from is not worth a
    warning (saga's 1 / L_mean on breast_cancer at C=0.01 with an L1 part
    rose for 5 epochs, then certified at a gap of 1e-8).

    Parameters
    ----------
    previous_losses : sequence of float
        The loss curve of earlier calls (``partial_fit``).
    deferred : bool
    """

    def __init__(self, previous_losses=(), deferred=False):
        self.history = list(previous_losses)
        self.deferred = deferred
        self.pending = None

    def after_epoch(self, loop, report):
        self.history.append(report.objective)
        message = self.message(loop.learning_rate, report.epoch)
        if message is None:
            return None
        if self.deferred:
            self.pending = self.pending or message
        else:
            warn_user(message, RisingLossWarning)
        return None

    def finish(self, loop, result):
        if self.pending is not None and not result.converged:
            warn_user(self.pending, RisingLossWarning)

    def message(self, learning_rate, epoch_no):
        """The warning's text at the first epoch of a divergence pattern, or None."""
        history = self.history
        if not rising(history) or rising(history[:-1]):
            return None
        best = min(history)
        if self.deferred:
            advice = (
                f"the automatic learning_rate={learning_rate!r} is too large for "
                "this data: standardize the features, or set a smaller "
                "learning_rate."
            )
        else:
            advice = (
                f"learning_rate={learning_rate!r} is probably too large (or the "
                "momentum too high): lower it, or use learning_rate='auto' and "
                "standardized features."
            )
        return (
            f"The training objective rose over the last {RISING_EPOCHS} epochs "
            f"(epoch {epoch_no}: {history[-1]:.6g}, best so far {best:.6g}); " + advice
        )


class VerboseLog(Monitor):
    """Prints one line per epoch, what the actions changed, and why it stopped."""

    def after_epoch(self, loop, report):
        for note in report.notes:
            print(note)
        line = (
            f"Epoch {report.epoch}, objective = {report.objective:.8f}, learning "
            f"rate = {loop.rate_at(max(loop.t, 1)):.4g}, elapsed = "
            f"{report.elapsed:.2f} s"
        )
        if report.validation_score is not None:
            line += f", validation score = {report.validation_score:.6f}"
        if report.optimality is not None:
            line += f", optimality = {report.optimality:.3g} (tol={loop.tol})"
        print(line)

    def finish(self, loop, result):
        if loop.stop is not None and loop.stop.message:
            print(loop.stop.message)
