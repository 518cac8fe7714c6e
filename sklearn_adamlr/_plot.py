"""Diagnostics plots, following scikit-learn's Display convention."""


def _import_pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - exercised without matplotlib
        raise ImportError(
            "LossCurveDisplay needs matplotlib. Install it with "
            "`pip install sklearn-adamlr[plot]` (or `pip install matplotlib`)."
        ) from exc
    return plt


class LossCurveDisplay:
    """The training objective per epoch, and the validation score if any.

    Build it with :meth:`from_estimator`; it follows scikit-learn's Display
    convention (``plot`` returns the display and sets ``ax_``, ``figure_``
    and ``line_``).

    Parameters
    ----------
    loss_curve : list of float
        The estimator's ``loss_curve_``.
    validation_scores : list of float or None, default=None
        The estimator's ``validation_scores_`` (with ``early_stopping``).
    estimator_name : str, default=None
        Used in the legend.

    Attributes
    ----------
    ax_ : matplotlib Axes
        The axes of the loss curve.
    figure_ : matplotlib Figure
    line_ : matplotlib Line2D
        The loss curve.
    validation_ax_ : matplotlib Axes or None
        The twin axes of the validation score, when there is one.
    validation_line_ : matplotlib Line2D or None

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_adamlr import AdamLogisticRegression, LossCurveDisplay
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = AdamLogisticRegression(max_iter=50, tol=None, random_state=0).fit(X, y)
    >>> display = LossCurveDisplay.from_estimator(clf)
    >>> len(display.line_.get_xdata())
    50
    """

    def __init__(self, loss_curve, validation_scores=None, estimator_name=None):
        self.loss_curve = loss_curve
        self.validation_scores = validation_scores
        self.estimator_name = estimator_name

    def plot(self, ax=None, *, log_scale=False, **kwargs):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        log_scale : bool, default=False
            Logarithmic y axis for the objective.
        **kwargs : dict
            Passed to ``ax.plot`` for the loss curve.

        Returns
        -------
        display : LossCurveDisplay
        """
        plt = _import_pyplot()
        if ax is None:
            _, ax = plt.subplots()
        epochs = range(1, len(self.loss_curve) + 1)
        label = "training objective"
        if self.estimator_name:
            label = f"{self.estimator_name}: {label}"
        (self.line_,) = ax.plot(epochs, self.loss_curve, label=label, **kwargs)
        ax.set_xlabel("epoch")
        ax.set_ylabel("objective / (C * sum(sample_weight))")
        if log_scale:
            ax.set_yscale("log")
        self.validation_ax_ = self.validation_line_ = None
        if self.validation_scores is not None:
            twin = ax.twinx()
            (self.validation_line_,) = twin.plot(
                range(1, len(self.validation_scores) + 1),
                self.validation_scores,
                color="tab:orange",
                label="validation accuracy",
            )
            twin.set_ylabel("validation accuracy")
            self.validation_ax_ = twin
            lines = [self.line_, self.validation_line_]
            ax.legend(lines, [line.get_label() for line in lines])
        else:
            ax.legend()
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(
        cls, estimator, *, ax=None, log_scale=False, name=None, **kwargs
    ):
        """Plot the loss curve of a fitted estimator.

        Parameters
        ----------
        estimator : AdamLogisticRegression
            A fitted estimator (it needs ``loss_curve_``).
        ax : matplotlib Axes, default=None
        log_scale : bool, default=False
        name : str, default=None
            Legend name; the solver that ran (``solver_``) by default.
        **kwargs : dict
            Passed to ``ax.plot``.

        Returns
        -------
        display : LossCurveDisplay
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(estimator, "loss_curve_")
        if name is None:
            # the solver that ran (solver='auto' chose it)
            solver = getattr(estimator, "solver_", getattr(estimator, "solver", None))
            name = solver if isinstance(solver, str) else type(estimator).__name__
        display = cls(
            loss_curve=list(estimator.loss_curve_),
            validation_scores=getattr(estimator, "validation_scores_", None),
            estimator_name=name,
        )
        return display.plot(ax=ax, log_scale=log_scale, **kwargs)
