"""Exception and warning hierarchy of neurolearn.

Every error a user can cause by passing the wrong data derives from
:class:`NeurolearnError`, so ``except NeurolearnError`` catches all of them,
and each also derives from the built-in class a generic caller would expect
(``ValueError`` for bad values, ``OSError`` for unreadable files).
"""

import contextlib
import warnings
from collections.abc import Iterator

__all__ = ["NeurolearnError", "SchemaError", "LoaderError", "InsufficientDataError",
           "ParameterError", "DependencyError", "EventOutsideRecordingError",
           "NeurolearnWarning", "warn_degenerate", "collect_degenerate"]


class NeurolearnError(Exception):
    """Base class of all neurolearn errors."""


class SchemaError(NeurolearnError, ValueError):
    """A Dataset or DataTree does not follow the canonical layout.

    The message names the variable, coordinate or dimension at fault and what
    was expected instead.
    """


class LoaderError(NeurolearnError, OSError):
    """A recording on disk cannot be read into the canonical layout, or a file written.

    The message names the file (or files) and the field at fault.
    """


class EventOutsideRecordingError(LoaderError):
    """A trial event's window reaches outside the recording it is aligned to.

    The message names the session, the event (its row and onset time) and the
    recording's extent, in seconds.
    """


class InsufficientDataError(NeurolearnError, ValueError):
    """There are too few trials, units, classes or sessions for an analysis."""


class ParameterError(NeurolearnError, ValueError):
    """A parameter is outside its allowed range or set of options.

    The message names the parameter, the value given and what is allowed.
    """


class DependencyError(NeurolearnError, ImportError):
    """An optional package a requested feature needs is not installed.

    The message names the package and the ``pip install`` that provides it.
    """


class NeurolearnWarning(UserWarning):
    """A result is degenerate (NaN, not converged) for a recorded reason."""


def warn_degenerate(where: str, reason: str) -> None:
    """Issue the one :class:`NeurolearnWarning` of a result set to NaN, with its reason.

    Parameters
    ----------
    where : str
        The function (and session) whose result is NaN.
    reason : str
        Why, e.g. "‖K_0‖ = 0: a constant kernel has no relative change".
    """
    warnings.warn(f"{where}: result is NaN: {reason}", NeurolearnWarning, stacklevel=3)


@contextlib.contextmanager
def collect_degenerate(where: str) -> Iterator[list[str]]:
    """Gather the degenerate-result warnings of a loop into one warning and a record.

    A loop over epochs or subsets would otherwise issue one
    :class:`NeurolearnWarning` per NaN; inside this block they are caught, their
    messages appended to the yielded list (which the caller stores, e.g. in
    ``attrs["degenerate"]``), and one warning naming ``where``, the count and
    the distinct reasons is issued on exit. Other warnings pass through.

    Parameters
    ----------
    where : str
        The loop's name, for the one warning.

    Yields
    ------
    list of str
        Filled with the caught warnings' messages on exit.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as shown:
    ...     warnings.simplefilter("always")
    ...     with collect_degenerate("my loop") as reasons:
    ...         for k in range(3):
    ...             warn_degenerate(f"step {k}", "a zero kernel")
    >>> len(reasons), len(shown)
    (3, 1)
    >>> str(shown[0].message).startswith("my loop: 3 results are NaN: step 0: result is NaN")
    True
    """
    reasons: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NeurolearnWarning)
        yield reasons
    for w in caught:
        if issubclass(w.category, NeurolearnWarning):
            reasons.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if reasons:
        distinct = "; ".join(dict.fromkeys(reasons))
        warnings.warn(f"{where}: {len(reasons)} results are NaN: {distinct}", NeurolearnWarning,
                      stacklevel=3)
