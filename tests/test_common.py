"""scikit-learn's estimator checks, for every registered solver."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_adamlr import AdamLogisticRegression, available_solvers, get_solver

SAMPLE_WEIGHT_CHECKS = (
    "check_sample_weight_equivalence_on_dense_data",
    "check_sample_weight_equivalence_on_sparse_data",
)


def expected_failed_checks(estimator):
    """Only stochastic solvers may fail the sample-weight equivalence checks.

    Weighting a sample by 2 and repeating it twice give the same objective,
    but a stochastic solver visits different minibatches in the two cases, so
    after a finite number of epochs the iterates differ by more than the
    check's rtol=1e-7. A full-batch solver takes the same steps in both cases
    and must pass.
    """
    if get_solver(estimator.solver).full_batch:
        return {}
    reason = (
        "stochastic solver: weighted and repeated samples give different "
        "minibatches, so the iterates agree only approximately"
    )
    return dict.fromkeys(SAMPLE_WEIGHT_CHECKS, reason)


@parametrize_with_checks(
    [AdamLogisticRegression(solver=name) for name in available_solvers()],
    expected_failed_checks=expected_failed_checks,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_every_solver_is_checked():
    # The third-party solver from conftest.py is among them.
    assert "thirdparty_plain_sgd" in available_solvers()
    assert {"gd", "minibatch", "adam"} <= set(available_solvers())
