"""Learning-rate schedules: small picklable objects mapping a step count to a rate.

The step count is the estimator's ``t_`` (update steps so far, over every
``fit`` epoch or ``partial_fit`` call), so a schedule keeps decaying across
``partial_fit`` calls and across a pickle round trip.
"""


class Constant:
    """The same rate at every step.

    Examples
    --------
    >>> from sklearn_adamlr import Constant
    >>> Constant()(0.1, 1000)
    0.1
    """

    def __call__(self, learning_rate, t):
        """Rate at step ``t`` (1 for the first update)."""
        return learning_rate

    def __repr__(self):
        return "Constant()"

    def __eq__(self, other):
        return type(other) is type(self)

    def __hash__(self):
        return hash(type(self))


class InverseScaling:
    """``learning_rate / t ** power_t``, as SGDClassifier's ``'invscaling'``.

    Parameters
    ----------
    power_t : float, default=0.5
        Exponent of the decay.

    Examples
    --------
    >>> from sklearn_adamlr import InverseScaling
    >>> InverseScaling(power_t=0.5)(0.1, 100)
    0.01
    """

    def __init__(self, power_t=0.5):
        self.power_t = power_t

    def __call__(self, learning_rate, t):
        """Rate at step ``t`` (1 for the first update)."""
        return learning_rate / max(t, 1) ** self.power_t

    def __repr__(self):
        return f"InverseScaling(power_t={self.power_t!r})"

    def __eq__(self, other):
        return type(other) is type(self) and other.power_t == self.power_t

    def __hash__(self):
        return hash((type(self), self.power_t))


SCHEDULES = {"constant": Constant, "invscaling": InverseScaling}


def make_schedule(schedule, power_t):
    """A schedule object from the estimator's ``schedule`` and ``power_t``."""
    if isinstance(schedule, str):
        if schedule == "invscaling":
            return InverseScaling(power_t=power_t)
        return SCHEDULES[schedule]()
    return schedule
