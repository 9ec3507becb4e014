"""Read official SMPL ``.pkl`` files without chumpy, and without trusting the pickle.

The official files are Python-2 pickles (protocol 2) of a dict whose entries are numpy arrays,
a ``scipy.sparse.csc.csc_matrix`` J_regressor and terminal chumpy ``Ch`` objects (e.g.
``shapedirs``). chumpy does not work on numpy 2, so every ``chumpy.*`` class is mapped to a
stand-in that only records the pickled state; a terminal ``Ch`` keeps its value in ``x``.
Pickles can run code, so only the handful of globals such a file needs are allowed.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import collections
import copyreg
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

SMPL_DOWNLOAD_URL = "https://smpl.is.tue.mpg.de"

__all__ = ["SMPL_DOWNLOAD_URL", "SmplPickleError", "load_smpl_pickle"]


class SmplPickleError(ValueError):
    """A SMPL pickle could not be read; the message names the file, the problem and the fix."""


class ChumpyStandIn:
    """Takes a chumpy object's place while unpickling, keeping only its pickled state."""

    chumpy_class = "chumpy.ch.Ch"

    def __new__(cls, *args: Any, **kwargs: Any) -> ChumpyStandIn:
        # NEWOBJ / copyreg._reconstructor may pass constructor arguments; chumpy's own are unused.
        return super().__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


# numpy moved numpy.core to numpy._core in 2.0; asking live objects for their reduce functions
# finds the current home of what old pickles call numpy.core.multiarray._reconstruct etc.
_NUMPY_GLOBALS: dict[str, Any] = {
    "ndarray": np.ndarray,
    "dtype": np.dtype,
    "_reconstruct": np.zeros(1).__reduce__()[0],
    "scalar": np.float64(0).__reduce__()[0],
    "_frombuffer": np.zeros(1).__reduce_ex__(5)[0],
}
_NUMPY_MODULES = frozenset(
    {
        "numpy",
        "numpy.core.multiarray",
        "numpy._core.multiarray",
        "numpy.core.numeric",
        "numpy._core.numeric",
    }
)
_SPARSE_CLASSES = frozenset(
    {"csc_matrix", "csr_matrix", "coo_matrix", "csc_array", "csr_array", "coo_array"}
)
_SAFE_GLOBALS: dict[tuple[str, str], Any] = {
    **{
        ("builtins", t.__name__): t
        for t in (
            set,
            frozenset,
            dict,
            list,
            tuple,
            str,
            bytes,
            bytearray,
            int,
            float,
            complex,
            bool,
            object,
        )
    },
    ("collections", "OrderedDict"): collections.OrderedDict,
    # Protocol 0/1 pickles rebuild plain objects with this; the class itself is still checked.
    ("copyreg", "_reconstructor"): copyreg._reconstructor,
    # Python 3 writes bytes at protocol 2 as _codecs.encode(str, 'latin1').
    ("_codecs", "encode"): codecs.encode,
}


def _python3_name(module: str, name: str) -> tuple[str, str]:
    """Python 2 names (``__builtin__.set``, ``copy_reg``) under their Python 3 spelling."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def _is_chumpy(module: str) -> bool:
    return module == "chumpy" or module.startswith("chumpy.")


def _is_sparse(module: str) -> bool:
    return module == "scipy.sparse" or module.startswith("scipy.sparse.")


class _SmplUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals a SMPL body-model file legitimately uses."""

    def __init__(self, file: Any, path: Path) -> None:
        super().__init__(file, encoding="latin1")
        self._path = path
        self._stand_ins: dict[str, type[ChumpyStandIn]] = {}

    def find_class(self, module: str, name: str) -> Any:
        module, name = _python3_name(module, name)
        if _is_chumpy(module):
            return self._stand_in(f"{module}.{name}")
        if _is_sparse(module) and name in _SPARSE_CLASSES:
            # Old pickles name scipy.sparse.csc etc., private or gone in current scipy.
            return getattr(scipy.sparse, name)
        if module in _NUMPY_MODULES and name in _NUMPY_GLOBALS:
            return _NUMPY_GLOBALS[name]
        if (module, name) in _SAFE_GLOBALS:
            return _SAFE_GLOBALS[(module, name)]
        raise SmplPickleError(
            f"{self._path}: refusing to load this pickle: it asks for '{module}.{name}', "
            "which a SMPL body-model file never needs. Pickles can run arbitrary code, so only "
            "numpy arrays, scipy.sparse matrices, chumpy arrays and plain Python containers are "
            f"accepted. Use an official SMPL file from {SMPL_DOWNLOAD_URL} or a .npz written by "
            "k2m, and do not load this file."
        )

    def _stand_in(self, qualified: str) -> type[ChumpyStandIn]:
        if qualified not in self._stand_ins:
            name = qualified.rpartition(".")[2]
            self._stand_ins[qualified] = type(name, (ChumpyStandIn,), {"chumpy_class": qualified})
        return self._stand_ins[qualified]


def _chumpy_value(obj: ChumpyStandIn, where: str, path: Path) -> np.ndarray:
    """A terminal chumpy array's value; expressions only chumpy itself could evaluate."""
    state = obj.state
    if not isinstance(state, dict) or "x" not in state:
        raise SmplPickleError(
            f"{path}: entry {where} is a chumpy expression ({obj.chumpy_class}) with no stored "
            "value, which cannot be evaluated without chumpy. Convert the file on a machine that "
            "has chumpy installed (load it and save np.asarray(...) of every entry), or "
            f"re-download the model from {SMPL_DOWNLOAD_URL}."
        )
    value = state["x"]
    if isinstance(value, ChumpyStandIn):
        return _chumpy_value(value, where, path)
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise SmplPickleError(
            f"{path}: entry {where} is a chumpy array whose value is not numeric "
            f"(dtype {array.dtype}); the file is damaged. Re-download it from {SMPL_DOWNLOAD_URL}."
        )
    return array


def _without_stand_ins(value: Any, where: str, path: Path) -> Any:
    """Replace every chumpy stand-in, however nested, by its numpy value."""
    if isinstance(value, ChumpyStandIn):
        return _chumpy_value(value, where, path)
    if isinstance(value, dict):
        return {k: _without_stand_ins(v, f"{where}[{k!r}]", path) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [_without_stand_ins(v, f"{where}[{i}]", path) for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    return value


def _unpickle(path: Path) -> Any:
    try:
        with path.open("rb") as file:
            return _SmplUnpickler(file, path).load()
    except SmplPickleError:
        raise
    except OSError as err:
        raise SmplPickleError(f"{path}: cannot be read ({err.strerror or err}).") from err
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        OverflowError,
        MemoryError,
    ) as err:
        raise SmplPickleError(
            f"{path}: not a readable Python pickle ({type(err).__name__}: {err}). The file is "
            f"damaged or is not a SMPL .pkl; re-download it from {SMPL_DOWNLOAD_URL}."
        ) from err


def load_smpl_pickle(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a SMPL .pkl as a dict of numpy arrays (and scipy.sparse matrices), chumpy-free."""
    path = Path(path)
    content = _unpickle(path)
    if not isinstance(content, dict):
        raise SmplPickleError(
            f"{path}: holds a {type(content).__name__}, not the dict of arrays a SMPL model "
            f"file contains. Use the model file from {SMPL_DOWNLOAD_URL}."
        )
    return {
        str(key): _without_stand_ins(value, repr(str(key)), path) for key, value in content.items()
    }
