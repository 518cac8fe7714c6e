"""Warnings that name the user's line, not the package's.

A warning raised with a fixed ``stacklevel`` inside ``fit`` names a line of
scikit-learn's ``_fit_context`` wrapper (``sklearn/base.py``), or of a
``Pipeline`` or a search that called the fit: a user who filters warnings
by module, or reads where one came from, is pointed at code that is not
theirs. :func:`warn_user` names the first frame outside this package,
scikit-learn and joblib instead.
"""

import sys
import warnings

# Frames of these modules are skipped: the package, scikit-learn's fit
# wrappers, pipelines and searches, and joblib's sequential dispatch
# between a search and its fits.
_SKIPPED = ("sklearn_adamlr", "sklearn.", "joblib")


def user_stacklevel(depth=1):
    """The ``stacklevel`` of the first frame outside the package and its callers.

    Parameters
    ----------
    depth : int, default=1
        The frames between the caller's ``warnings.warn`` and this call: 1
        when the caller passes the result straight to ``warnings.warn``.

    Returns
    -------
    stacklevel : int
        For ``warnings.warn`` in the caller. Where every frame is skipped
        (a fit in a joblib worker), the outermost frame's.

    Examples
    --------
    Called from code outside the package, it names that code's own line:

    >>> from sklearn_adamlr._warn import user_stacklevel
    >>> names = {"__name__": "user_code", "user_stacklevel": user_stacklevel}
    >>> exec("level = user_stacklevel()", names)
    >>> names["level"]
    1
    """
    frame, level = sys._getframe(depth), 1
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith(
        _SKIPPED
    ):
        frame, level = frame.f_back, level + 1
    return level


def warn_user(message, category):
    """``warnings.warn(message, category)``, naming the user's line.

    Parameters
    ----------
    message : str
    category : type of Warning

    Examples
    --------
    A call from a user's file (here compiled as ``user_code.py``) names it:

    >>> import warnings
    >>> from sklearn_adamlr._warn import warn_user
    >>> code = compile("warn_user('a message', UserWarning)", "user_code.py", "exec")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     exec(code, {"__name__": "user_code", "warn_user": warn_user})
    >>> caught[0].filename, caught[0].lineno
    ('user_code.py', 1)
    """
    warnings.warn(message, category, stacklevel=user_stacklevel(2) + 1)
