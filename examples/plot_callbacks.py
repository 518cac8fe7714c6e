"""
Watching a fit with scikit-learn's callbacks
============================================

With scikit-learn 1.9 or later, ``set_callbacks`` attaches callbacks from
:mod:`sklearn.callback` to the estimator. Each epoch is a subtask of the
fit: a :class:`~sklearn.callback.ScoringMonitor` scores the model of every
epoch, here the log-loss on the training rows and on held-out rows (a
scorer that reads its own data). A callback that returns True from
``on_fit_task_end`` stops the fit after that epoch.
"""

import matplotlib.pyplot as plt
from sklearn.callback import ScoringMonitor
from sklearn.datasets import load_digits
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_adamlr import AdamLogisticRegression

X, y = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)


def held_out_log_loss(estimator, X, y):
    """A scorer of the held-out rows (the training rows it is given unused)."""
    return -log_loss(y_test, estimator.predict_proba(X_test))


monitor = ScoringMonitor(
    scoring={"training": "neg_log_loss", "held out": held_out_log_loss}
)
est = AdamLogisticRegression(solver="adam", C=10.0, random_state=0)
est.set_callbacks(monitor).fit(X_train, y_train)
log = monitor.get_logs().data
print(f"{len(log)} epochs logged, {est.n_iter_} run")

fig, ax = plt.subplots()
epochs = [row["task_id"] + 1 for row in log]
for name in ("training", "held out"):
    ax.plot(epochs, [-row[name] for row in log], label=name)
ax.set_xlabel("epoch")
ax.set_ylabel("log-loss")
ax.set_yscale("log")
ax.legend()
ax.set_title("AdamLogisticRegression on digits, one row of the log per epoch")
plt.show()
