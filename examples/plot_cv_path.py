"""
Choosing C along a warm-started path
====================================

:class:`~sklearn_adamlr.AdamLogisticRegressionCV` fits, for each fold, a
path over ``C`` from the strongest penalty to the weakest, each fit
starting where the one before ended. Left: the mean held-out accuracy along
the path and the chosen ``C``. Right: the coefficients of an L1 model along
its path on all the data: they leave zero one by one as the penalty
weakens.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from sklearn_adamlr import AdamLogisticRegressionCV

X, y = load_breast_cancer(return_X_y=True)
X = StandardScaler().fit_transform(X)

search = AdamLogisticRegressionCV(Cs=20).fit(X, y)
mean = search.scores_[:, 0, :].mean(axis=0)
spread = search.scores_[:, 0, :].std(axis=0)
print(f"chosen C: {search.C_:.3g}, mean accuracy {mean.max():.3f}")
print(f"epochs over the 5 folds' paths: {search.n_iter_.sum()}")

l1 = AdamLogisticRegressionCV(Cs=np.logspace(-2, 1, 20), l1_ratios=[1.0]).fit(X, y)
# one fold's path: shape (n_cs, n_features + 1), the intercept last
path = l1.coefs_paths_[0, 0, :, 0, :-1]

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
left.semilogx(search.Cs_, mean, marker="o")
left.fill_between(search.Cs_, mean - spread, mean + spread, alpha=0.2)
left.axvline(search.C_, color="k", linestyle="--", label=f"C_ = {search.C_:.3g}")
left.set_xlabel("C")
left.set_ylabel("held-out accuracy (5 folds)")
left.legend()
right.semilogx(l1.Cs_, path)
right.set_xlabel("C")
right.set_ylabel("coefficient (L1, fold 0)")
right.set_title(f"{np.count_nonzero(path[0])} to {np.count_nonzero(path[-1])} features")
fig.tight_layout()
plt.show()
