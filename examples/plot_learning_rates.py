"""
Adam at several learning rates
==============================

Loss curves of Adam on unscaled data for several learning rates. The largest
diverges: the estimator stops with a ``ValueError`` that names the epoch and
leaves the model as it was, instead of returning NaN coefficients.
"""

import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_breast_cancer

from sklearn_adamlr import AdamLogisticRegression, LossCurveDisplay

X, y = load_breast_cancer(return_X_y=True)  # features up to ~4,000: unscaled

fig, ax = plt.subplots()
for lr in (1e-3, 1e-2, 1e-1):
    est = AdamLogisticRegression(
        learning_rate=lr, max_iter=100, tol=None, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    LossCurveDisplay.from_estimator(est, ax=ax, name=f"lr={lr}", log_scale=True)
    print(f"lr={lr}: final objective {est.loss_curve_[-1]:.4f}")

# %%
# A learning rate of 1e300 overflows at once; the error says what to do.
diverging = AdamLogisticRegression(learning_rate=1e300, max_iter=5)
try:
    diverging.fit(X * 1e300, y)
except ValueError as exc:
    print(exc)
print("fitted after the failure:", hasattr(diverging, "coef_"))
