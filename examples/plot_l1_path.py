"""
L1 and elastic-net regularization paths
=======================================

The proximal (soft-thresholding) step gives exact zeros. We fit ``gd`` along a
path of ``C`` for L1 and elastic net, and plot the coefficients and the
number of non-zeros.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from sklearn_adamlr import AdamLogisticRegression

X, y = load_breast_cancer(return_X_y=True)
X = StandardScaler().fit_transform(X)
Cs = np.logspace(-3, 0, 12)

fig, axes = plt.subplots(1, 3, figsize=(13, 4))
for ax, l1_ratio in zip(axes[:2], (1.0, 0.5), strict=True):
    coefs, nonzero = [], []
    est = AdamLogisticRegression(
        solver="gd", l1_ratio=l1_ratio, tol=1e-8, max_iter=2000, warm_start=True
    )
    for C in Cs:
        est.set_params(C=C).fit(X, y)
        coefs.append(est.coef_.ravel().copy())
        nonzero.append(int(np.count_nonzero(est.coef_)))
    ax.semilogx(Cs, np.array(coefs))
    ax.set(title=f"l1_ratio={l1_ratio}", xlabel="C", ylabel="coefficient")
    axes[2].semilogx(Cs, nonzero, marker="o", label=f"l1_ratio={l1_ratio}")
    print(f"l1_ratio={l1_ratio}: non-zeros along the path {nonzero}")
axes[2].set(xlabel="C", ylabel="non-zero coefficients")
axes[2].legend()
plt.tight_layout()
