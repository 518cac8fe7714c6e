"""The held-out rows of ``early_stopping`` (``_inputs.split_validation``).

Bad input, which ``_inputs.fit_inputs`` refuses, is ``tests/test_reliability.py``'s.
"""

import numpy as np
import pytest

from sklearn_adamlr import AdamLogisticRegression
from sklearn_adamlr._inputs import fit_inputs, split_validation

N = 200


def _split(n_classes, sample_weight, class_weight=None):
    """The split of rows whose first column is their index, second random."""
    rng = np.random.RandomState(0)
    X = np.column_stack([np.arange(N, dtype=float), rng.normal(size=N)])
    y = np.arange(N) % n_classes
    est = AdamLogisticRegression(class_weight=class_weight)
    inputs = fit_inputs(est, X, y, sample_weight, None, False, True)
    generator = np.random.RandomState(0)
    return X, y, inputs, split_validation(inputs, 0.2, generator, sample_weight)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_the_training_rows_keep_their_weights_class_weights_included(n_classes):
    sw = np.random.RandomState(1).uniform(0.5, 2.0, size=N)
    class_weight = {k: 1.0 + k for k in range(n_classes)}
    X, y, inputs, (X_train, target, sw_train, _) = _split(n_classes, sw, class_weight)
    rows = X_train[:, 0].astype(int)
    assert len(rows) == N - N // 5 and np.all(np.diff(rows) > 0)  # the share asked
    np.testing.assert_array_equal(X_train, X[rows])
    np.testing.assert_array_equal(sw_train, sw[rows] * (1.0 + y[rows]))
    np.testing.assert_array_equal(sw_train, inputs.sample_weight[rows])
    np.testing.assert_array_equal(target, inputs.target[rows])
    # stratified: each class keeps its share of the held-out rows
    held_out = np.setdiff1d(np.arange(N), rows)
    share = np.bincount(y[held_out], minlength=n_classes) / len(held_out)
    assert np.abs(share - 1 / n_classes).max() <= 1 / len(held_out)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_the_validation_accuracy_is_weighted_by_the_users_sample_weight(
    n_classes, weighted
):
    # scikit-learn's SGDClassifier and MLPClassifier weigh their validation
    # scores by the held-out rows' sample_weight (not by the class weights).
    # Before, the accuracy was unweighted, and the multiclass one passed the
    # whole quick suite when it took the first column's sign for the class.
    sw = np.random.RandomState(1).uniform(0.1, 3.0, size=N) if weighted else None
    class_weight = {k: 1.0 + k for k in range(n_classes)}
    X, y, _, (X_train, _, _, accuracy) = _split(n_classes, sw, class_weight)
    held_out = np.setdiff1d(np.arange(N), X_train[:, 0].astype(int))
    # raw predictions x1 * (0, 1, ..., k-1) (binary: x1): the last class
    # where the random column is positive, class 0 where it is not
    k = 1 if n_classes == 2 else n_classes
    params = np.zeros((3, k))
    params[1] = np.arange(k) if k > 1 else 1.0
    predicted = np.where(X[held_out, 1] > 0, n_classes - 1, 0)
    correct = predicted == y[held_out]
    weights = None if sw is None else sw[held_out]
    expected = np.average(correct, weights=weights)
    assert 0.1 < expected < 0.9  # neither all right nor all wrong
    assert accuracy(params) == pytest.approx(expected, rel=1e-15)
    if weighted:
        assert expected != pytest.approx(correct.mean(), rel=1e-3)


def test_fit_hands_its_sample_weight_to_the_split(monkeypatch):
    from sklearn_adamlr import _estimator

    received = []

    def spy(inputs, fraction, rng, sample_weight=None):
        received.append(sample_weight)
        return split_validation(inputs, fraction, rng, sample_weight)

    monkeypatch.setattr(_estimator, "split_validation", spy)
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(100, 3)), np.arange(100) % 2
    sw = rng.uniform(0.5, 2.0, size=100)
    est = AdamLogisticRegression(early_stopping=True, class_weight="balanced")
    est.fit(X, y, sample_weight=sw)
    assert len(received) == 1 and received[0] is sw
    assert 0.0 <= est.best_validation_score_ <= 1.0
