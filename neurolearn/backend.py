"""Array-namespace helpers: one code path for NumPy, CuPy and any array-API library.

Numeric kernels start with ``xp = get_namespace(X)`` and use only standard
calls, so the same function runs on NumPy, CuPy and ``array_api_strict``.
CuPy is imported only when a caller asks for ``device="cuda"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace, is_cupy_array, is_numpy_array
from array_api_compat import device as array_device

from neurolearn.errors import DependencyError, ParameterError

__all__ = [
    "get_namespace",
    "namespace_for_device",
    "resolve_namespace",
    "to_device",
    "to_numpy",
    "make_rng",
    "array_device",
    "softplus",
    "sigmoid",
    "spd_solver",
]


def get_namespace(*arrays: Any) -> Any:
    """Return the array-API namespace shared by ``arrays``.

    NumPy arrays get ``array_api_compat.numpy``, CuPy arrays
    ``array_api_compat.cupy``; arrays from different libraries raise
    ``TypeError``.

    Parameters
    ----------
    *arrays : arrays

    Returns
    -------
    namespace
        The array-API namespace (module) of the arrays.

    Examples
    --------
    >>> import numpy as np
    >>> get_namespace(np.zeros(2)).__name__
    'array_api_compat.numpy'
    """
    return array_namespace(*arrays)


def namespace_for_device(device: str = "cpu") -> Any:
    """Return the namespace that computes on ``device``.

    Parameters
    ----------
    device : {"cpu", "cuda"}
        ``"cpu"`` gives NumPy; ``"cuda"`` gives CuPy (imported here, lazily).

    Returns
    -------
    namespace
        ``array_api_compat.numpy`` or ``array_api_compat.cupy``.

    Raises
    ------
    ParameterError
        For an unknown device name (also a ``ValueError``).
    DependencyError
        When ``"cuda"`` is asked for and CuPy is not installed (also an
        ``ImportError``).

    Examples
    --------
    >>> namespace_for_device("cpu").__name__
    'array_api_compat.numpy'
    """
    if device in ("cpu", "numpy"):
        import array_api_compat.numpy as xp_numpy

        return xp_numpy
    if device in ("cuda", "gpu", "cupy"):
        try:
            import array_api_compat.cupy as xp_cupy
        except ImportError as exc:  # pragma: no cover - depends on the machine
            raise DependencyError("device='cuda' needs CuPy: pip install 'neurolearn[gpu]' "
                              "(cupy-cuda12x) or cupy-cuda13x for CUDA 13.") from exc
        return xp_cupy
    raise ParameterError(f"`device` must be 'cpu' or 'cuda'; got {device!r}.")


def resolve_namespace(device: str | Any) -> Any:
    """``"cpu"``/``"cuda"`` -> namespace (see :func:`namespace_for_device`); a namespace
    module (e.g. ``array_api_strict``) passes through unchanged.

    Parameters
    ----------
    device : str or namespace

    Returns
    -------
    namespace

    Examples
    --------
    >>> import array_api_strict
    >>> resolve_namespace("cpu").__name__, resolve_namespace(array_api_strict) is array_api_strict
    ('array_api_compat.numpy', True)
    """
    return namespace_for_device(device) if isinstance(device, str) else device


def to_device(x: Any, device: str | Any = "cpu", *, dtype: Any = None) -> Any:
    """Move an array to ``device``.

    Parameters
    ----------
    x : array-like
        NumPy, CuPy or array-API array, or nested lists.
    device : {"cpu", "cuda"} or namespace
        Target device name, or an array namespace to convert into (e.g.
        ``array_api_strict``).
    dtype : dtype, optional
        Target dtype in the target namespace (default: keep).

    Returns
    -------
    array
        A copy of ``x`` in the target namespace (same shape).

    Examples
    --------
    >>> import array_api_strict
    >>> to_device([1.0, 2.0], array_api_strict).shape
    (2,)
    """
    xp = resolve_namespace(device)
    host = to_numpy(x)
    if dtype is not None:
        return xp.asarray(host, dtype=dtype)
    return xp.asarray(host)


def to_numpy(x: Any) -> np.ndarray:
    """Copy any array (NumPy, CuPy, array-API) to a host NumPy array.

    Parameters
    ----------
    x : array-like

    Returns
    -------
    numpy.ndarray
        Same shape and dtype as ``x``.

    Examples
    --------
    >>> import array_api_strict
    >>> to_numpy(array_api_strict.asarray([1.0, 2.0])).tolist()
    [1.0, 2.0]
    """
    if is_numpy_array(x):
        return np.asarray(x)
    if is_cupy_array(x):
        return x.get()
    if hasattr(x, "__dlpack__") and not isinstance(x, (list, tuple)):
        try:
            return np.from_dlpack(x)
        except (TypeError, RuntimeError, BufferError):
            pass
    return np.asarray(x)


def make_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """Return a NumPy ``Generator`` from a seed, or pass a Generator through.

    Every random step in neurolearn goes through this one helper, so results
    are reproducible from the ``seed`` recorded in the result's ``attrs``.
    Random numbers are drawn on the host and moved with :func:`to_device`,
    which makes NumPy and GPU runs with the same seed identical.

    Parameters
    ----------
    seed : int, sequence of int, or numpy.random.Generator

    Returns
    -------
    numpy.random.Generator

    Raises
    ------
    ValueError
        If ``seed`` is None (no global random state).

    Examples
    --------
    >>> float(make_rng(0).random()) == float(make_rng(0).random())
    True
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        raise ValueError("Pass an explicit integer `seed`: neurolearn keeps no global random "
                         "state, so every random step must be reproducible.")
    return np.random.default_rng(seed)


def softplus(xp: Any, z: Any) -> Any:
    """log(1 + eᶻ), elementwise, without overflow: ``max(z, 0) + log1p(exp(-abs(z)))``.

    (Both branches of an ``xp.where`` are evaluated, so the textbook
    ``where(z > 0, z + log1p(e^−z), log1p(eᶻ))`` overflows for ``abs(z)`` ≳ 710.)

    Parameters
    ----------
    xp : array namespace
    z : array

    Returns
    -------
    array
        Same shape as ``z``.

    Examples
    --------
    >>> import array_api_compat.numpy as xp
    >>> softplus(xp, xp.asarray([-1000.0, 0.0, 1000.0])).tolist()
    [0.0, 0.6931471805599453, 1000.0]
    """
    return xp.where(z > 0, z, xp.zeros_like(z)) + xp.log1p(xp.exp(-xp.abs(z)))


def sigmoid(xp: Any, z: Any) -> Any:
    """1 / (1 + e^−z), elementwise, without overflow (``exp(-abs(z))`` ≤ 1 on both sides).

    Parameters
    ----------
    xp : array namespace
    z : array

    Returns
    -------
    array
        Same shape as ``z``, in [0, 1].

    Examples
    --------
    >>> import array_api_compat.numpy as xp
    >>> sigmoid(xp, xp.asarray([-1000.0, 0.0, 1000.0])).tolist()
    [0.0, 0.5, 1.0]
    """
    e = xp.exp(-xp.abs(z))
    return xp.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def spd_solver(xp: Any, A: Any, *, diagonal: Any = None) -> Any:
    """Factor a stack of symmetric positive-definite matrices once; solve many times.

    Parameters
    ----------
    A : array (N, m, m)
        Symmetric positive definite (with ``diagonal`` added).
    diagonal : array (N, m), optional
        Added to A's diagonal: the matrices are A + diag(diagonal), formed
        one at a time on NumPy (no (N, m, m) temporary).

    Returns
    -------
    callable
        ``solve(B)`` with B (N, m, k) returns A⁻¹B (N, m, k). On NumPy, A is
        Cholesky-factored once (m³/3 flops) and each solve is two triangular
        solves (2m²k), so an interior-point step's predictor and corrector
        share one factorisation; other namespaces (CuPy, ``array_api_strict``:
        the array API has no triangular solve) solve A afresh each call.

    Raises
    ------
    numpy.linalg.LinAlgError
        On NumPy, where some matrix is not positive definite to rounding.

    Examples
    --------
    >>> import array_api_compat.numpy as xp
    >>> import numpy as np
    >>> A = np.array([[[4.0, 1.0], [1.0, 3.0]]])
    >>> solve = spd_solver(xp, A)  # factored once
    >>> bool(np.allclose(solve(np.array([[[1.0], [2.0]]])), np.linalg.solve(A, [[[1.0], [2.0]]])))
    True
    >>> solve = spd_solver(xp, A, diagonal=np.array([[1.0, 1.0]]))  # A + I
    >>> B = np.ones((1, 2, 1))
    >>> bool(np.allclose(solve(B), np.linalg.solve(A + np.eye(2), B)))
    True
    """
    if xp is not namespace_for_device("cpu"):
        if diagonal is not None:
            A = A + xp.eye(A.shape[-1], dtype=A.dtype) * diagonal[:, None, :]
        return lambda B: xp.linalg.solve(A, B)
    from scipy.linalg import lapack

    # LAPACK's potrf/potrs per matrix: NumPy's batched cholesky measured 1.5-2×
    # slower at m = 300, and SciPy's batched triangular solves loop in Python
    # anyway. A is symmetric, so its transpose (Fortran-ordered, no copy) is A.
    factors = []
    m = A.shape[-1]
    for k, a in enumerate(A):
        work = a.T
        if diagonal is not None:
            work = np.array(work, order="F")
            work.flat[::m + 1] += diagonal[k]  # the diagonal, in either order
        c, info = lapack.dpotrf(work, lower=1, clean=0, overwrite_a=diagonal is not None)
        if info != 0:
            raise np.linalg.LinAlgError(f"matrix not positive definite (potrf info {info})")
        factors.append(c)

    def solve(B: Any) -> Any:
        out = np.empty(np.broadcast_shapes(A.shape[:-1], B.shape[:-2] + (A.shape[-1],))
                       + B.shape[-1:])
        for k, c in enumerate(factors):
            out[k], info = lapack.dpotrs(c, B[k], lower=1)
            if info != 0:
                raise np.linalg.LinAlgError(f"potrs failed (info {info})")
        return out

    return solve
