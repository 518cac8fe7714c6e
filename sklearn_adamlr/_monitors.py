"""The protocol between the training loop and its policies.

The loop (:func:`sklearn_adamlr._training.train`) runs epochs and hands each
epoch's :class:`EpochReport` to its monitors, in order. A monitor answers
with nothing (go on) or with actions: :class:`Stop`, :class:`Restart` from a
point, :class:`GrowBatch`, :class:`ScaleStep`, :class:`SetStep`,
:class:`TakeDirection`. The loop
carries each action out at once, so the monitors after it see its effect,
and stops after the last monitor has seen the epoch.

A monitor has six hooks, all optional (:class:`Monitor`): ``begin`` before
the first epoch, ``before_epoch``, ``observe`` (a full-batch update's own
pass over the data, mid-epoch), ``after_epoch``, ``restarted`` (after a
:class:`Restart`) and ``finish``. The policies: the certificate, the stall
response and the secant step in :mod:`sklearn_adamlr._certify`; averaging,
validation, the rising-loss watch and verbose output in
:mod:`sklearn_adamlr._policies`; scikit-learn's callbacks in
:mod:`sklearn_adamlr._callbacks`. A new policy is one class, with its own
tests, and one line where :func:`sklearn_adamlr._training.monitors_for`
lists the monitors of a call.
"""

from dataclasses import dataclass, field

import numpy as np

# ------------------------------------------------------------------ reports


@dataclass(slots=True)
class EpochReport:
    """What the loop hands its monitors at the end of an epoch.

    Monitors fill in what they measure, for those after them.

    Attributes
    ----------
    epoch : int
        The epoch's number, counting those of earlier ``partial_fit`` calls.
    objective : float
        The objective as the epoch measured it (each minibatch's loss before
        its step, plus the penalty).
    params : ndarray
        The point at the end of the epoch (the loop's own array: read it,
        copy it to keep it).
    batch_size : int
    learning_rate : float
        The base step at the end of the epoch, before the schedule.
    rate_scale : float
        The factor on that step (halved by the stall response).
    elapsed : float
        Seconds since the call started.
    optimality : float or None
        The certificate at the end of the epoch (:class:`Certificate`).
    validation_score : float or None
        The validation score (:class:`ValidationStop`).
    notes : list of str
        What the actions taken on this epoch changed, for the verbose output.
    """

    epoch: int
    objective: float
    params: np.ndarray
    batch_size: int
    learning_rate: float
    rate_scale: float
    elapsed: float
    optimality: float | None = None
    validation_score: float | None = None
    notes: list = field(default_factory=list)


# ------------------------------------------------------------------ actions


class Action:
    """An answer of a monitor; ``apply(loop)`` carries it out."""

    note = ""

    def apply(self, loop):
        raise NotImplementedError


@dataclass
class Stop(Action):
    """Stop after this epoch (the first Stop of an epoch is the one kept).

    ``converged``: the stopping rule was met. ``requested``: a user's
    callback asked for it, which is no failure to converge either.
    ``hand_over``: the minibatch steps are done, and a full-batch solver is
    to go on from the point returned (see ``StallResponse``).
    """

    converged: bool
    message: str = ""
    requested: bool = False
    hand_over: bool = False
    note: str = ""

    def apply(self, loop):
        if loop.stop is None:
            loop.stop = self


@dataclass
class Restart(Action):
    """Go on from ``point`` with a fresh solver state."""

    point: np.ndarray

    def apply(self, loop):
        loop.restart(self.point)


@dataclass
class GrowBatch(Action):
    """Take minibatches of ``size`` samples from the next epoch on."""

    size: int
    note: str = ""

    def apply(self, loop):
        loop.set_batch_size(self.size)


@dataclass
class ScaleStep(Action):
    """Set the factor on the step size to ``scale``."""

    scale: float
    note: str = ""

    def apply(self, loop):
        loop.rate_scale = self.scale


@dataclass
class SetStep(Action):
    """Set the base step size to ``learning_rate``."""

    learning_rate: float

    def apply(self, loop):
        loop.learning_rate = self.learning_rate


@dataclass
class TakeDirection(Action):
    """Make ``direction`` the solver's next step (``Solver.take_direction``)."""

    direction: np.ndarray
    note: str = ""

    def apply(self, loop):
        if not loop.solver.take_direction(loop.params, loop.state, self.direction):
            self.note = ""


class Monitor:
    """The hooks of a training-loop policy; each does nothing by default.

    The loop calls a hook only on the monitors whose class overrides it: an
    ``observe`` hook makes a full-batch engine hand the loop the update's
    own measurement (``Engine.observe``).
    """

    def begin(self, loop):
        """Before the first epoch (the loop's engine and point are set)."""

    def before_epoch(self, loop):
        """Before each epoch's steps (its plan is drawn)."""

    def observe(self, loop, point, value, gradient, rate):
        """A full-batch update measured ``point``: its step, or None to skip it."""
        return rate

    def after_epoch(self, loop, report):
        """After each epoch: None, an :class:`Action` or a tuple of them."""
        return None

    def restarted(self, loop):
        """The loop restarted from a point (:class:`Restart`)."""

    def finish(self, loop, result):
        """After the last epoch: complete ``result`` (a ``TrainingResult``)."""
