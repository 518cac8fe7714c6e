"""
GridSearchCV over solver and learning rate
==========================================

The estimator is an ordinary scikit-learn classifier: it tunes under
``GridSearchCV`` inside a ``Pipeline``.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_adamlr import AdamLogisticRegression

X, y = load_digits(return_X_y=True)
pipe = make_pipeline(
    StandardScaler(), AdamLogisticRegression(random_state=0, max_iter=100)
)
solvers, rates = ["adam", "minibatch"], [0.001, 0.01, 0.1]
grid = GridSearchCV(
    pipe,
    {
        "adamlogisticregression__solver": solvers,
        "adamlogisticregression__learning_rate": rates,
    },
    cv=3,
).fit(X, y)
print("best:", grid.best_params_, f"accuracy {grid.best_score_:.3f}")

scores = grid.cv_results_["mean_test_score"].reshape(len(solvers), len(rates))
plt.imshow(scores, cmap="viridis")
plt.xticks(range(len(rates)), rates)
plt.yticks(range(len(solvers)), solvers)
plt.xlabel("learning_rate")
plt.colorbar(label="mean CV accuracy")
for (i, j), value in np.ndenumerate(scores):
    plt.text(j, i, f"{value:.3f}", ha="center", va="center", color="w")
