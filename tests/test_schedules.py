"""The learning-rate schedules: values, names and identity."""

import pickle

import pytest

from sklearn_adamlr import Constant, InverseScaling
from sklearn_adamlr._schedules import make_schedule


def test_inverse_scaling_is_the_rate_over_a_power_of_the_step():
    schedule = InverseScaling(power_t=0.25)
    assert schedule(0.1, 16) == pytest.approx(0.1 / 2.0, rel=1e-15)
    # step 1 is the first update; a count of 0 (nothing done yet) is not a
    # larger rate than the first step's
    assert schedule(0.1, 1) == schedule(0.1, 0) == 0.1
    assert Constant()(0.1, 10**6) == 0.1


def test_names_make_their_schedules_and_a_callable_passes_through():
    assert make_schedule("constant", 0.3) == Constant()
    made = make_schedule("invscaling", 0.3)
    assert made == InverseScaling(power_t=0.3)
    assert made(1.0, 8) == pytest.approx(8**-0.3, rel=1e-15)

    def mine(rate, t):
        return rate

    assert make_schedule(mine, 0.3) is mine


def test_schedules_compare_hash_print_and_pickle_by_value():
    # an estimator's parameters compare by value (clone, set_params)
    assert InverseScaling(0.5) == InverseScaling(0.5)
    assert InverseScaling(0.5) != InverseScaling(0.25)
    assert InverseScaling(0.5) != Constant() and Constant() != InverseScaling(0.5)
    assert hash(InverseScaling(0.5)) == hash(InverseScaling(0.5))
    assert hash(Constant()) == hash(Constant())
    assert len({InverseScaling(0.5), InverseScaling(0.25), Constant()}) == 3
    assert repr(InverseScaling(0.25)) == "InverseScaling(power_t=0.25)"
    assert repr(Constant()) == "Constant()"
    for schedule in (Constant(), InverseScaling(0.25)):
        assert pickle.loads(pickle.dumps(schedule)) == schedule
