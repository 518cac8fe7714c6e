"""LossCurveDisplay and verbose output."""

import matplotlib
import numpy as np
import pytest
from sklearn.datasets import load_iris, make_classification

from sklearn_adamlr import AdamLogisticRegression, LossCurveDisplay

matplotlib.use("Agg")


def test_display_from_estimator_plots_the_loss_curve():
    import matplotlib.pyplot as plt

    X, y = load_iris(return_X_y=True)
    est = AdamLogisticRegression(max_iter=30, tol=None, random_state=0).fit(X, y)
    assert est.solver_ == "newton"  # raw iris: the default's choice names it
    fig, ax = plt.subplots()
    display = LossCurveDisplay.from_estimator(est, ax=ax)
    assert display.ax_ is ax and display.figure_ is fig
    np.testing.assert_array_equal(display.line_.get_ydata(), est.loss_curve_)
    np.testing.assert_array_equal(display.line_.get_xdata(), np.arange(1, 31))
    assert display.validation_line_ is None
    assert "newton" in display.line_.get_label()
    plt.close(fig)


def test_display_shows_validation_scores_with_early_stopping():
    import matplotlib.pyplot as plt

    X, y = make_classification(n_samples=500, random_state=0)
    est = AdamLogisticRegression(early_stopping=True, random_state=0).fit(X, y)
    display = LossCurveDisplay.from_estimator(est)
    np.testing.assert_array_equal(
        display.validation_line_.get_ydata(), est.validation_scores_
    )
    assert display.validation_ax_ is not display.ax_
    plt.close(display.figure_)


def test_display_needs_a_fitted_estimator():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        LossCurveDisplay.from_estimator(AdamLogisticRegression())


def test_verbose_prints_one_line_per_epoch(capsys):
    X, y = load_iris(return_X_y=True)
    AdamLogisticRegression(solver="adam", max_iter=3, tol=None, verbose=1).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    for epoch, line in enumerate(lines, start=1):
        assert line.startswith(f"Epoch {epoch}, objective = ")
        assert "learning rate = 0.01" in line and "elapsed = " in line
