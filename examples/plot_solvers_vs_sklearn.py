"""
The three solvers against scikit-learn's optimum
================================================

Every solver minimises the objective of
:class:`~sklearn.linear_model.LogisticRegression`. We train each epoch by epoch
(``partial_fit`` is exactly one epoch of ``fit``) and plot the relative
suboptimality against the lbfgs optimum, by epoch and by time.
"""

import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from sklearn_adamlr import AdamLogisticRegression, logistic_objective

X, y = load_breast_cancer(return_X_y=True)
X = StandardScaler().fit_transform(X)
C = 1.0
ref = LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(X, y)
optimum = logistic_objective(X, y, ref.coef_, ref.intercept_, C=C)

fig, (by_epoch, by_time) = plt.subplots(1, 2, figsize=(10, 4))
settings = {
    "gd": {},
    "minibatch": {"schedule": "invscaling", "power_t": 0.1, "shuffle": "samples"},
    "adam": {"learning_rate": 0.1, "schedule": "invscaling", "shuffle": "samples"},
}
for solver, kw in settings.items():
    est = AdamLogisticRegression(solver=solver, C=C, random_state=0, **kw)
    gaps, times, elapsed = [], [], 0.0
    for _ in range(300):
        start = time.perf_counter()
        est.partial_fit(X, y, classes=[0, 1])
        elapsed += time.perf_counter() - start
        value = logistic_objective(X, y, est.coef_, est.intercept_, C=C)
        gaps.append(max((value - optimum) / optimum, 1e-16))
        times.append(elapsed)
    by_epoch.semilogy(np.arange(1, 301), gaps, label=solver)
    by_time.loglog(times, gaps, label=solver)
    print(f"{solver:>9}: relative gap after 300 epochs {gaps[-1]:.1e}")

by_epoch.set(xlabel="epoch", ylabel="relative suboptimality")
by_time.set(xlabel="time (s)")
by_epoch.legend()
plt.tight_layout()
