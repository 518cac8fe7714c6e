"""Each update rule against scikit-learn's own optimizer, step by step.

``MLPClassifier``'s optimizers (``sklearn.neural_network._stochastic_optimizers``)
implement Adam in the "efficient" form of Kingma & Ba and SGD with the heavy
ball or Nesterov's momentum in the form of Sutskever et al.: written apart
from this package, given the same gradients they must take the same steps.
Both of our paths run: the compiled step (numba) and the numpy one.
"""

import numpy as np
import pytest
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer

from sklearn_adamlr import _kernels, get_solver
from sklearn_adamlr.solvers import _adam, _minibatch


def _gradients(shape, n_steps, seed=0):
    rng = np.random.RandomState(seed)
    # gradients that shrink and change sign, as near an optimum
    return [rng.normal(size=shape) * 0.97**t for t in range(n_steps)]


@pytest.fixture(params=["compiled", "numpy"])
def path(request, monkeypatch):
    """Which step runs; yields the calls of the compiled steps, checked after."""
    calls = []
    if request.param == "numpy":
        monkeypatch.setattr(_kernels, "AVAILABLE", False)
    elif not _kernels.AVAILABLE:
        pytest.skip("numba not installed")
    for module in (_adam, _minibatch):
        compiled = module._step

        def spy(*args, _compiled=compiled):
            calls.append(1)
            return _compiled(*args)

        monkeypatch.setattr(module, "_step", spy)
    yield calls
    # the compiled step is the one that ran, or none of it
    assert bool(calls) == (request.param == "compiled")


@pytest.mark.parametrize(
    "beta_1, beta_2, epsilon", [(0.9, 0.999, 1e-8), (0.5, 0.9, 1e-3)]
)
def test_adam_takes_sklearns_steps(path, beta_1, beta_2, epsilon):
    hyper = dict(beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
    solver = get_solver("adam", hyper)
    start = np.random.RandomState(1).normal(size=(6, 3))
    ours, theirs = start.copy(), [start.copy()]
    state = solver.init_state(ours)
    reference = AdamOptimizer(theirs, learning_rate_init=0.05, **hyper)
    for grad in _gradients(start.shape, 200):
        solver.update(ours, grad.copy(), state, 0.05, None)
        reference.update_params(theirs, [grad.copy()])
    assert np.abs(ours - start).max() > 0.5  # the steps moved
    # measured: 4.4e-16 after 200 steps, compiled or numpy
    np.testing.assert_allclose(ours, theirs[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9])
def test_momentum_sgd_takes_sklearns_steps(path, momentum, nesterov):
    solver = get_solver(
        "minibatch", dict(momentum=momentum, nesterovs_momentum=nesterov)
    )
    start = np.random.RandomState(2).normal(size=(6, 1))
    ours, theirs = start.copy(), [start.copy()]
    state = solver.init_state(ours)
    reference = SGDOptimizer(
        theirs, learning_rate_init=0.1, momentum=momentum, nesterov=nesterov
    )
    for grad in _gradients(start.shape, 200, seed=3):
        solver.update(ours, grad.copy(), state, 0.1, None)
        reference.update_params(theirs, [grad.copy()])
    assert np.abs(ours - start).max() > 0.5
    # measured: 5.3e-15 after 200 steps, compiled or numpy
    np.testing.assert_allclose(ours, theirs[0], rtol=0, atol=1e-12)
