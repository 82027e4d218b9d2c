"""Parameter constraints declared once and checked on entry.

In the manner of scikit-learn's ``_parameter_constraints``: a function or
configuration declares, per parameter, what it accepts: an :class:`Interval`,
a set of :class:`Options`, a type, or ``None``; :func:`check_params` raises
:class:`~neurolearn.errors.ParameterError` naming the parameter, the value and
what is allowed.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from neurolearn.errors import ParameterError

__all__ = ["Interval", "Options", "check_params", "describe"]


@dataclass(frozen=True)
class Interval:
    """A real or integer range; ``closed`` says which ends belong to it.

    Parameters
    ----------
    kind : {"int", "real"}
        Integers (bool excluded) or any real number (ints included).
    low, high : float or None
        Bounds; None is unbounded.
    closed : {"both", "left", "right", "neither"}, default "both"
    """

    kind: str
    low: float | None = None
    high: float | None = None
    closed: str = "both"

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is a number of this kind inside the interval.

        Parameters
        ----------
        value : object

        Returns
        -------
        bool
            False for bools (not numbers here), other kinds and values outside.
        """
        if isinstance(value, bool):
            return False
        if self.kind == "int" and not isinstance(value, numbers.Integral):
            return False
        if not isinstance(value, numbers.Real) or value != value:  # NaN
            return False
        if self.low is not None:
            if value < self.low or (value == self.low and self.closed in ("right", "neither")):
                return False
        if self.high is not None:
            if value > self.high or (value == self.high and self.closed in ("left", "neither")):
                return False
        return True

    def __str__(self) -> str:
        left = "[" if self.closed in ("both", "left") else "("
        right = "]" if self.closed in ("both", "right") else ")"
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        return f"{'an integer' if self.kind == 'int' else 'a number'} in {left}{low}, {high}{right}"


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values (strings, usually).

    Parameters
    ----------
    values : tuple
        The allowed values.
    """

    values: tuple[Any, ...]

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is one of the options, of the same type.

        Parameters
        ----------
        value : object

        Returns
        -------
        bool
        """
        return any(value == v and type(value) is type(v) for v in self.values)

    def __str__(self) -> str:
        if len(self.values) == 1:
            return repr(self.values[0])
        return "one of " + ", ".join(repr(v) for v in self.values)


def _accepts(constraint: Any, value: Any) -> bool:
    if constraint is None:
        return value is None
    if isinstance(constraint, (Interval, Options)):
        return constraint.accepts(value)
    if isinstance(constraint, type):
        return isinstance(value, constraint) and not (constraint is not bool
                                                      and isinstance(value, bool))
    raise TypeError(f"unknown constraint {constraint!r}")


def describe(constraints: Sequence[Any]) -> str:
    """What a list of constraints allows, in words.

    Parameters
    ----------
    constraints : sequence
        Constraints as in :func:`check_params`.

    Returns
    -------
    str
    """
    words = []
    for c in constraints:
        if c is None:
            words.append("None")
        elif isinstance(c, type):
            words.append(f"a {c.__name__}")
        else:
            words.append(str(c))
    return " or ".join(words)


def check_params(values: Mapping[str, Any], constraints: Mapping[str, Sequence[Any]], *,
                 where: str = "") -> None:
    """Check each value against its constraints (any one of them may hold).

    Parameters
    ----------
    values : mapping
        Parameter name -> value; names without a constraint are not checked.
    constraints : mapping
        Parameter name -> list of allowed :class:`Interval`, :class:`Options`,
        types or None.
    where : str, optional
        Prefix for the message (the function or config section).

    Raises
    ------
    ParameterError
        Naming the first parameter whose value no constraint accepts.

    Examples
    --------
    >>> check_params({"n_folds": 10}, {"n_folds": [Interval("int", 2, None)]})
    >>> check_params({"n_folds": 1}, {"n_folds": [Interval("int", 2, None)]})
    Traceback (most recent call last):
    ...
    neurolearn.errors.ParameterError: `n_folds` must be an integer in [2, inf]; got 1.
    """
    for name, value in values.items():
        allowed = constraints.get(name)
        if allowed is None or any(_accepts(c, value) for c in allowed):
            continue
        prefix = f"{where}: " if where else ""
        raise ParameterError(f"{prefix}`{name}` must be {describe(allowed)}; got {value!r}.")
