"""Encode the variables of a Berners-Lee unit file as compressed MATLAB v5 bytes.

Why not ``scipy.io.savemat``: it walks every cell of the per-trial label
strings through its generic recursive writer, one small NumPy array per
element, which is most of its time for a 200-trial file (60-70 % on a
2-core Xeon; the rest is zlib). Here each distinct string or empty cell is
encoded once and repeated as bytes, and a Fortran-ordered array is read
in place. The result is byte for byte what
``savemat(..., do_compression=True, oned_as="column", long_field_names=True)``
writes for the same variables, apart from the creation time in the file's
text header; ``tests/test_mat5.py`` checks that against SciPy.

Only what the layout uses is supported: real numeric arrays and scalars,
``str``, lists (cells, written as n × 1) of those, and dicts (1 × 1 structs)
of those. Anything else raises :class:`Unsupported`, and the caller falls
back to SciPy.

The format: MATLAB's "MAT-File Format" (MathWorks, 2013). Every variable is
one ``miCOMPRESSED`` element whose zlib stream holds one ``miMATRIX``
element: array flags, dimensions, name, then the data sub-elements (for a
cell or struct, one nameless ``miMATRIX`` per element or field).
"""

from __future__ import annotations

import os
import struct
import time
import zlib
from typing import Any

import numpy as np

__all__ = ["Unsupported", "mat5_bytes"]

# Data types (mi*) and array classes (mx*) of the format.
_MI_INT8, _MI_INT32, _MI_UINT32, _MI_MATRIX, _MI_COMPRESSED, _MI_UTF8 = 1, 5, 6, 14, 15, 16
_MX_CELL, _MX_STRUCT, _MX_CHAR = 1, 2, 4
# NumPy dtype (kind + item size) -> (data type, array class).
_NUMERIC = {
    "f8": (9, 6), "f4": (7, 7),
    "i1": (1, 8), "u1": (2, 9), "i2": (3, 10), "u2": (4, 11),
    "i4": (5, 12), "u4": (6, 13), "i8": (12, 14), "u8": (13, 15),
}
_LITTLE = "<"


class Unsupported(TypeError):
    """A value this encoder does not write (the caller uses SciPy instead)."""


def _element(mdtype: int, payload: bytes | memoryview) -> list[bytes | memoryview]:
    """One data element: its tag, payload and padding to 8 bytes.

    Payloads of at most 4 bytes go in the tag itself ("small data element").
    """
    n = len(payload)
    if n <= 4:
        return [struct.pack("<I", n << 16 | mdtype) + bytes(payload).ljust(4, b"\0")]
    pad = -n % 8
    return [struct.pack("<II", mdtype, n), payload] + ([b"\0" * pad] if pad else [])


def _matrix(mclass: int, dims: tuple[int, ...], body: list[bytes | memoryview],
            name: bytes = b"") -> list[bytes | memoryview]:
    """One ``miMATRIX`` element: flags, dims, name, then ``body`` (already encoded)."""
    head = [struct.pack("<IIII", _MI_UINT32, 8, mclass, 0)]
    head += _element(_MI_INT32, struct.pack(f"<{len(dims)}i", *dims))
    head += _element(_MI_INT8, name)
    parts = head + body
    size = sum(len(p) for p in parts)
    if size >= 2**32:
        raise Unsupported("a variable too large for the MATLAB v5 format")
    return [struct.pack("<II", _MI_MATRIX, size)] + parts


def _dims(arr: np.ndarray) -> tuple[int, ...]:
    """MATLAB's dims of an array, 1-D as a column and empties as 0 × 0 (SciPy's rule)."""
    if arr.size == 0:
        return (0,) * max(arr.ndim, 2)
    if arr.ndim == 0:
        return (1, 1)
    if arr.ndim == 1:
        return (arr.shape[0], 1)
    return arr.shape


def _numeric(arr: np.ndarray, name: bytes) -> list[bytes | memoryview]:
    key = arr.dtype.str[1:]
    if key not in _NUMERIC:
        raise Unsupported(f"arrays of dtype {arr.dtype}")
    mdtype, mclass = _NUMERIC[key]
    # Column-major bytes: the transpose of a Fortran-ordered array is C-contiguous,
    # so it is read in place.
    data = arr.astype(arr.dtype.newbyteorder(_LITTLE), copy=False).T
    payload = memoryview(np.ascontiguousarray(data).reshape(-1)).cast("B")
    return _matrix(mclass, _dims(arr), _element(mdtype, payload), name)


def _char(text: str, name: bytes) -> list[bytes | memoryview]:
    if text == "":
        return _matrix(_MX_CHAR, (0, 0), _element(_MI_UTF8, b""), name)
    try:
        payload = text.encode("ascii")  # (as SciPy writes: one byte a character)
    except UnicodeEncodeError as err:
        raise Unsupported("non-ASCII text") from err
    return _matrix(_MX_CHAR, (1, len(text)), _element(_MI_UTF8, payload), name)


def _value(value: Any, name: bytes = b"") -> list[bytes | memoryview]:
    if isinstance(value, str):
        return _char(value, name)
    if isinstance(value, dict):
        return _struct(value, name)
    if isinstance(value, list):
        return _cells(value, name)
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.ndarray, np.number)):
        raise Unsupported(f"values of type {type(value).__name__}")
    arr = np.asarray(value)
    if arr.dtype.kind in "US":
        raise Unsupported("arrays of text")
    return _numeric(arr, name)


def _cells(values: list[Any], name: bytes) -> list[bytes | memoryview]:
    encoded: dict[Any, list[bytes | memoryview]] = {}
    body: list[bytes | memoryview] = []
    for item in values:
        if not isinstance(item, str):
            body += _value(item)
            continue
        if item not in encoded:  # (a label column repeats a few strings 200 times)
            # An empty cell is the 0 × 0 double `_matfile._cell` gives SciPy.
            encoded[item] = _value(np.zeros((0, 0)) if item == "" else item)
        body += encoded[item]
    return _matrix(_MX_CELL, (len(values), 1), body, name)


def _struct(fields: dict[str, Any], name: bytes) -> list[bytes | memoryview]:
    names = [key.encode("ascii") for key in fields]
    if not names or any(not key or key[:1] in b"_0123456789" for key in names):
        raise Unsupported("empty structs or field names SciPy would skip")
    width = max(len(key) for key in names) + 1
    if width > 64:
        raise Unsupported("field names longer than 63 characters")
    body = _element(_MI_INT32, struct.pack("<i", width))
    body += _element(_MI_INT8, b"".join(key.ljust(width, b"\0") for key in names))
    for value in fields.values():
        body += _value(value)
    return _matrix(_MX_STRUCT, (1, 1), body, name)


def _header() -> bytes:
    text = (f"MATLAB 5.0 MAT-file Platform: {os.name}, "
            f"Created on: {time.asctime()}").encode("ascii")
    return text[:116].ljust(116, b"\0") + b"\0" * 8 + struct.pack("<H", 0x0100) + b"IM"


def mat5_bytes(variables: dict[str, Any]) -> list[bytes]:
    """The pieces of a compressed MATLAB v5 file holding ``variables``.

    Parameters
    ----------
    variables : dict
        Variable name -> value: a real numeric array or scalar, a ``str``, a
        list of those (a cell array, n × 1) or a dict of those (a 1 × 1
        struct). 1-D arrays are written as columns.

    Returns
    -------
    list of bytes
        Header and one compressed element per variable; write them in order.

    Raises
    ------
    Unsupported
        For a value outside that set (complex or boolean arrays, object
        arrays, non-ASCII text, ...).

    Examples
    --------
    >>> import io
    >>> import scipy.io as sio
    >>> pieces = mat5_bytes({"x": np.arange(6.0).reshape(2, 3), "s": {"a": ["hi", ""]}})
    >>> back = sio.loadmat(io.BytesIO(b"".join(pieces)), simplify_cells=True)
    >>> back["x"].tolist(), back["s"]["a"][0]
    ([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], 'hi')
    """
    pieces = [_header()]
    for var_name, value in variables.items():
        parts = _value(value, var_name.encode("ascii"))
        compressed = zlib.compress(b"".join(parts))  # (SciPy's level, so the same bytes)
        pieces += [struct.pack("<II", _MI_COMPRESSED, len(compressed)), compressed]
    return pieces
