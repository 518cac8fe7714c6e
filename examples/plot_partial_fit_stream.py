"""
partial_fit over a stream of chunks
===================================

Chunks arrive one at a time; each ``partial_fit`` call takes one pass over its
chunk and keeps the optimizer's state. We track the held-out accuracy.
"""

import matplotlib.pyplot as plt
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

from sklearn_adamlr import AdamLogisticRegression

X, y = make_classification(
    n_samples=30_000, n_features=20, n_informative=10, random_state=0
)
X, X_test, y, y_test = train_test_split(X, y, test_size=5_000, random_state=0)

est = AdamLogisticRegression(random_state=0)
seen, accuracy = [], []
for start in range(0, len(y), 1_000):
    est.partial_fit(X[start : start + 1_000], y[start : start + 1_000], classes=[0, 1])
    seen.append(start + 1_000)
    accuracy.append(est.score(X_test, y_test))

plt.plot(seen, accuracy, marker=".")
plt.xlabel("samples seen")
plt.ylabel("held-out accuracy")
print(f"after {seen[-1]} samples: accuracy {accuracy[-1]:.3f}, t_={est.t_}")
