"""Out-of-core training: epochs of ``partial_fit`` over a stream of chunks."""

import time
from collections.abc import Iterator

import numpy as np


def fit_stream(estimator, chunks, *, classes, n_epochs=1, verbose=0):
    """Train ``estimator`` by ``partial_fit`` on an iterable of data chunks.

    Each chunk is ``(X, y)`` or ``(X, y, sample_weight)``; it is passed to
    ``partial_fit`` as is, so only one chunk is in memory at a time (plus
    what the source itself holds). With ``n_epochs > 1`` the source is read
    again for each epoch, so it must be re-iterable (a list, or an object
    whose ``__iter__`` restarts, e.g. one that re-opens a file) or a callable
    returning a fresh iterator; a one-shot iterator or generator is refused.

    Parameters
    ----------
    estimator : AdamLogisticRegression
        Or any classifier with ``partial_fit(X, y, classes=...)`` (and a
        ``sample_weight`` argument if the chunks carry weights). A fitted one
        continues from where it stopped. If a chunk fails, the error is
        raised, and an ``AdamLogisticRegression`` is left as it was after
        the previous chunk.
    chunks : iterable of tuple or callable
        The stream, or a zero-argument callable returning it.
    classes : array-like of shape (n_classes,)
        Every label that the stream may contain.
    n_epochs : int, default=1
        Passes over the stream.
    verbose : int, default=0
        Print progress (chunks and samples seen, samples per second) after
        each epoch, and after every chunk when ``verbose >= 2``.

    Returns
    -------
    estimator : object
        The trained estimator.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_classification
    >>> from sklearn_adamlr import AdamLogisticRegression, fit_stream
    >>> X, y = make_classification(n_samples=1000, random_state=0)
    >>> chunks = [(X[i : i + 100], y[i : i + 100]) for i in range(0, 1000, 100)]
    >>> clf = fit_stream(
    ...     AdamLogisticRegression(random_state=0), chunks, classes=[0, 1], n_epochs=5
    ... )
    >>> clf.t_  # 10 chunks of one batch each, 5 times
    50
    >>> clf.score(X, y) > 0.9
    True
    """
    # bool is an int subclass, but n_epochs=True is surely a mistake
    if (
        isinstance(n_epochs, bool)
        or not isinstance(n_epochs, int | np.integer)
        or n_epochs < 1
    ):
        raise ValueError(f"n_epochs must be a positive integer, got {n_epochs!r}.")
    source = chunks
    if not callable(source) and isinstance(source, Iterator) and n_epochs > 1:
        raise TypeError(
            "chunks is a one-shot iterator (e.g. a generator), which cannot be "
            f"read {n_epochs} times. Pass a list, a re-iterable object, or a "
            "callable that returns a fresh iterator for each epoch."
        )
    n_chunks = n_samples = 0
    start = time.perf_counter()
    for epoch in range(n_epochs):
        stream = source() if callable(source) else source
        for chunk in stream:
            if len(chunk) == 3:
                X, y, sample_weight = chunk
                # passed only when given: some partial_fit methods (e.g.
                # PassiveAggressiveClassifier's) take no sample_weight
                fit_params = {"sample_weight": sample_weight}
            elif len(chunk) == 2:
                (X, y), fit_params = chunk, {}
            else:
                raise ValueError(
                    "Each chunk must be (X, y) or (X, y, sample_weight); got a "
                    f"tuple of length {len(chunk)}."
                )
            estimator.partial_fit(X, y, classes=classes, **fit_params)
            n_chunks += 1
            n_samples += len(y)
            if verbose >= 2:
                _progress(epoch + 1, n_chunks, n_samples, start, estimator)
        if verbose:
            _progress(epoch + 1, n_chunks, n_samples, start, estimator)
    return estimator


def _progress(epoch, n_chunks, n_samples, start, estimator):
    elapsed = time.perf_counter() - start
    rate = n_samples / elapsed if elapsed > 0 else float("inf")
    loss = getattr(estimator, "loss_curve_", [float("nan")])[-1]
    print(
        f"epoch {epoch}: {n_chunks} chunks, {n_samples} samples seen, "
        f"{rate:,.0f} samples/s, last chunk objective = {loss:.6f}"
    )
