"""Beyond one machine: dask-ml's Incremental and joblib's dask backend.

The tests start an in-process ``distributed.LocalCluster``; on a real cluster
the same code runs with ``Client("tcp://scheduler-address:8786")``.
"""

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
dask_ml_wrappers = pytest.importorskip("dask_ml.wrappers")

import joblib  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

from sklearn_adamlr import AdamLogisticRegression  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def _data():
    X, y = make_classification(n_samples=4000, n_features=10, random_state=0)
    return X, y


def test_incremental_streams_dask_blocks_through_partial_fit(client):
    X, y = _data()
    dX = da.from_array(X, chunks=(1000, 10))
    dy = da.from_array(y, chunks=1000)
    est = AdamLogisticRegression(random_state=0, shuffle=False)
    inc = dask_ml_wrappers.Incremental(est, shuffle_blocks=False)
    inc.fit(dX, dy, classes=[0, 1])
    fitted = inc.estimator_
    assert fitted.t_ == 4 * 5  # 4 blocks of 1,000 rows, batches of 200
    assert len(fitted.loss_curve_) == 4
    # the same as calling partial_fit on each block in order
    local = AdamLogisticRegression(random_state=0, shuffle=False)
    for start in range(0, 4000, 1000):
        local.partial_fit(
            X[start : start + 1000], y[start : start + 1000], classes=[0, 1]
        )
    np.testing.assert_array_equal(fitted.coef_, local.coef_)
    # two more passes over the blocks continue the same model
    for _ in range(2):
        inc.partial_fit(dX, dy, classes=[0, 1])
    assert inc.estimator_.t_ == 3 * 4 * 5
    from sklearn.linear_model import LogisticRegression

    best = LogisticRegression().fit(X, y).score(X, y)
    assert inc.score(dX, dy) > best - 0.03


def test_grid_search_under_the_dask_joblib_backend(client):
    X, y = _data()
    grid = GridSearchCV(
        AdamLogisticRegression(random_state=0),
        {"solver": ["gd", "adam"], "C": [0.1, 1.0]},
        cv=3,
    )
    with distributed.get_task_stream(client) as tasks:
        with joblib.parallel_backend("dask"):
            grid.fit(X, y)
    # the fits ran as tasks of the cluster's worker (joblib batches them, so
    # there may be fewer tasks than the 12 fits), not in this process's pool
    assert tasks.data
    workers = {task["worker"] for task in tasks.data}
    assert workers == set(client.scheduler_info()["workers"])
    assert len(grid.cv_results_["params"]) == 4
    assert grid.best_score_ > 0.85
    # and they are the same fits as on the default backend
    local = GridSearchCV(
        AdamLogisticRegression(random_state=0),
        {"solver": ["gd", "adam"], "C": [0.1, 1.0]},
        cv=3,
    ).fit(X, y)
    np.testing.assert_array_equal(
        grid.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
