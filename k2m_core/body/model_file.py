"""SMPL body-model files: load (official .pkl or converted .npz), validate, save and locate.

Everything read is checked once, here, so the rest of k2m never meets a malformed body model;
every problem is reported as a BodyModelError naming the file, what is wrong and the fix.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from k2m_core.body.chumpy_pickle import SMPL_DOWNLOAD_URL, SmplPickleError, load_smpl_pickle
from k2m_core.body.skeleton import (
    NUM_POSE_CORRECTIVES,
    NUM_SMPL_JOINTS,
    SMPL_JOINT_NAMES,
    SMPL_PARENTS,
    SMPL_VERTEX_IDS,
    VERTEX_KEYPOINT_NAMES,
    parents_from_kintree,
)

__all__ = [
    "GENDERS",
    "MIN_SHAPE_DIRECTIONS",
    "NUM_H36M_JOINTS",
    "REQUIRED_KEYS",
    "SMPL_DOWNLOAD_URL",
    "BodyModelError",
    "SmplData",
    "body_model_arrays",
    "load_body_model_file",
    "resolve_body_model_path",
    "save_body_model",
    "smpl_data_from_mapping",
]

MIN_SHAPE_DIRECTIONS = 10
NUM_H36M_JOINTS = 17
REQUIRED_KEYS: tuple[str, ...] = (
    "v_template",
    "f",
    "J_regressor",
    "weights",
    "shapedirs",
    "posedirs",
    "kintree_table",
)
GENDERS: tuple[str, ...] = ("neutral", "male", "female")

# Converted .npz first: it is the chumpy-free copy a user made on purpose, and loads faster.
_MODEL_FILE_NAMES: dict[str, tuple[str, ...]] = {
    "neutral": (
        "SMPL_NEUTRAL.npz",
        "SMPL_NEUTRAL.pkl",
        "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl",
        "basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl",
        "k2m_generated_neutral.npz",  # `k2m body generate` (the shipped stand-in)
    ),
    "male": (
        "SMPL_MALE.npz",
        "SMPL_MALE.pkl",
        "basicmodel_m_lbs_10_207_0_v1.0.0.pkl",
        "basicmodel_m_lbs_10_207_0_v1.1.0.pkl",
    ),
    "female": (
        "SMPL_FEMALE.npz",
        "SMPL_FEMALE.pkl",
        "basicModel_f_lbs_10_207_0_v1.0.0.pkl",
        "basicmodel_f_lbs_10_207_0_v1.1.0.pkl",
    ),
}
_MODEL_SUBFOLDERS = ("", "smpl")

# Other body models in the same file family, told apart by their kinematic tree or by keys
# only they have; loading them as SMPL would fail later with a far less helpful message.
_OTHER_MODELS_BY_JOINTS = {55: "SMPL-X", 52: "SMPL+H", 16: "MANO", 5: "FLAME"}
_OTHER_MODELS_BY_KEY = (
    ("dynamic_lmk_faces_idx", "SMPL-X"),
    ("lmk_faces_idx", "SMPL-X"),
    ("hands_componentsl", "SMPL+H"),
    ("hands_components", "MANO"),
)

_GET_SMPL = (
    f"SMPL model files are licence-gated: register at {SMPL_DOWNLOAD_URL}, download SMPL and "
    "pass the model file or its folder, or run `k2m body generate` to make a stand-in "
    "SMPL-format body."
)
_REDOWNLOAD = (
    f"The file is damaged or not a SMPL model: re-download it from {SMPL_DOWNLOAD_URL} "
    "(or regenerate a stand-in with `k2m body generate`)."
)


class BodyModelError(ValueError):
    """A body-model file (or in-memory model) is unusable; the message says why and the fix."""


@dataclass(frozen=True, eq=False)
class SmplData:
    """An SMPL-format body model; checked and normalised on construction, so always usable."""

    v_template: np.ndarray  # (V, 3) float32
    faces: np.ndarray  # (F, 3) int64, file key 'f'
    j_regressor: np.ndarray  # (24, V) float32, dense
    weights: np.ndarray  # (V, 24) float32
    shapedirs: np.ndarray  # (V, 3, S) float32, S >= 10
    posedirs: np.ndarray  # (V, 3, 207) float32
    kintree_table: np.ndarray  # (2, 24) int64
    vertex_ids: dict[str, int]  # extra-keypoint vertices, keyed by VERTEX_KEYPOINT_NAMES
    j_regressor_h36m: np.ndarray | None = None  # (17, V) float32
    source: str = "in-memory body model"
    shape_direction_names: tuple[str, ...] = ()  # what each beta means, when the maker says

    def __post_init__(self) -> None:
        for name, value in _validated_fields(self).items():
            object.__setattr__(self, name, value)

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def num_betas(self) -> int:
        return int(self.shapedirs.shape[2])

    @property
    def parents(self) -> tuple[int, ...]:
        return parents_from_kintree(self.kintree_table)

    @property
    def has_pose_correctives(self) -> bool:
        """False for bodies that ship no pose blend shapes, so callers can skip that work."""
        return bool(np.any(self.posedirs))


# --------------------------------------------------------------------------- validation


def _shape_text(shape: tuple[int | str, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _check_shape(array: np.ndarray, expected: tuple[int | str, ...], key: str, src: str) -> None:
    """Compare against a shape whose str entries are free dimensions (any size)."""
    fits = array.ndim == len(expected) and all(
        isinstance(want, str) or want == got
        for want, got in zip(expected, array.shape, strict=False)
    )
    if not fits:
        raise BodyModelError(
            f"{src}: '{key}' has shape {_shape_text(array.shape)}, expected "
            f"{_shape_text(expected)}. {_REDOWNLOAD}"
        )


def _numeric_array(value: Any, key: str, src: str) -> np.ndarray:
    if scipy.sparse.issparse(value):
        value = value.toarray()
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as err:
        raise BodyModelError(f"{src}: '{key}' is not an array ({err}). {_REDOWNLOAD}") from err
    if array.dtype.kind not in "biuf":
        raise BodyModelError(
            f"{src}: '{key}' holds {array.dtype} values, not numbers. {_REDOWNLOAD}"
        )
    return array


def _float_array(value: Any, key: str, expected: tuple[int | str, ...], src: str) -> np.ndarray:
    array = _numeric_array(value, key, src)
    _check_shape(array, expected, key, src)
    with np.errstate(over="ignore"):  # values beyond float32 become inf, reported just below
        array = np.ascontiguousarray(array, dtype=np.float32)
    bad = int(array.size - np.count_nonzero(np.isfinite(array)))
    if bad:
        raise BodyModelError(
            f"{src}: '{key}' contains {bad} NaN or infinite value(s) (as float32). {_REDOWNLOAD}"
        )
    return array


def _int_array(value: Any, key: str, expected: tuple[int | str, ...], src: str) -> np.ndarray:
    array = _numeric_array(value, key, src)
    if array.dtype.kind not in "iu":
        raise BodyModelError(f"{src}: '{key}' must hold integers, got {array.dtype}. {_REDOWNLOAD}")
    _check_shape(array, expected, key, src)
    return array


def _template(value: Any, src: str) -> np.ndarray:
    v_template = _float_array(value, "v_template", ("V", 3), src)
    if v_template.shape[0] == 0:
        raise BodyModelError(f"{src}: 'v_template' has no vertices. {_REDOWNLOAD}")
    return v_template


def _faces(value: Any, num_vertices: int, src: str) -> np.ndarray:
    faces = _int_array(value, "f", ("F", 3), src)
    if faces.shape[0] == 0:
        raise BodyModelError(f"{src}: 'f' (faces) is empty. {_REDOWNLOAD}")
    outside = (faces < 0) | (faces >= num_vertices)
    if outside.any():
        raise BodyModelError(
            f"{src}: 'f' (faces) has {int(outside.sum())} vertex index(es) outside "
            f"0..{num_vertices - 1}, e.g. {int(faces[outside][0])}; faces must index the "
            f"{num_vertices} vertices of 'v_template'. {_REDOWNLOAD}"
        )
    return faces.astype(np.int64)


def _kintree(value: Any, src: str) -> np.ndarray:
    kintree = _int_array(value, "kintree_table", (2, NUM_SMPL_JOINTS), src).astype(np.int64)
    parents = parents_from_kintree(kintree)
    wrong = [j for j in range(NUM_SMPL_JOINTS) if parents[j] != SMPL_PARENTS[j]]
    wrong_ids = [j for j in range(NUM_SMPL_JOINTS) if kintree[1, j] != j]
    if wrong or wrong_ids:
        detail = "; ".join(
            [
                f"joint {j} ({SMPL_JOINT_NAMES[j]}) has parent {parents[j]}, "
                f"SMPL's is {SMPL_PARENTS[j]}"
                for j in wrong[:3]
            ]
            + [f"column {j} names joint {int(kintree[1, j])}" for j in wrong_ids[:3]]
        )
        raise BodyModelError(
            f"{src}: 'kintree_table' does not match SMPL's 24-joint tree ({detail}). {_REDOWNLOAD}"
        )
    return kintree


def _shapedirs(value: Any, num_vertices: int, src: str) -> np.ndarray:
    shapedirs = _float_array(value, "shapedirs", (num_vertices, 3, "S"), src)
    if shapedirs.shape[2] < MIN_SHAPE_DIRECTIONS:
        raise BodyModelError(
            f"{src}: 'shapedirs' has only {shapedirs.shape[2]} shape direction(s); Key2Mesh "
            f"needs at least {MIN_SHAPE_DIRECTIONS} (SMPL files have 10 or 300). {_REDOWNLOAD}"
        )
    return shapedirs


def _vertex_ids(value: Any, num_vertices: int, src: str) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise BodyModelError(
            f"{src}: vertex_ids must map keypoint names to vertex indices, got "
            f"{type(value).__name__}."
        )
    missing = [n for n in VERTEX_KEYPOINT_NAMES if n not in value]
    unknown = [str(n) for n in value if n not in VERTEX_KEYPOINT_NAMES]
    if missing or unknown:
        raise BodyModelError(
            f"{src}: vertex ids must name exactly the {len(VERTEX_KEYPOINT_NAMES)} extra "
            f"keypoints {', '.join(VERTEX_KEYPOINT_NAMES)}; missing: {', '.join(missing) or '-'}"
            f"; unknown: {', '.join(unknown) or '-'}."
        )
    ids: dict[str, int] = {}
    for name in VERTEX_KEYPOINT_NAMES:
        index = value[name]
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise BodyModelError(f"{src}: vertex id of '{name}' must be an integer, got {index!r}.")
        if not 0 <= int(index) < num_vertices:
            raise BodyModelError(
                f"{src}: vertex id of '{name}' is {int(index)}, outside 0..{num_vertices - 1}. "
                "A body whose topology differs from SMPL's must store its own "
                "'vertex_id_names' and 'vertex_id_values'."
            )
        ids[name] = int(index)
    return ids


def _validated_fields(data: SmplData) -> dict[str, Any]:
    src = data.source
    v_template = _template(data.v_template, src)
    num_vertices = v_template.shape[0]
    h36m = data.j_regressor_h36m
    return {
        "v_template": v_template,
        "faces": _faces(data.faces, num_vertices, src),
        "j_regressor": _float_array(
            data.j_regressor, "J_regressor", (NUM_SMPL_JOINTS, num_vertices), src
        ),
        "weights": _float_array(data.weights, "weights", (num_vertices, NUM_SMPL_JOINTS), src),
        "shapedirs": _shapedirs(data.shapedirs, num_vertices, src),
        "posedirs": _float_array(
            data.posedirs, "posedirs", (num_vertices, 3, NUM_POSE_CORRECTIVES), src
        ),
        "kintree_table": _kintree(data.kintree_table, src),
        "vertex_ids": _vertex_ids(data.vertex_ids, num_vertices, src),
        "j_regressor_h36m": None
        if h36m is None
        else _float_array(h36m, "J_regressor_h36m", (NUM_H36M_JOINTS, num_vertices), src),
        "shape_direction_names": _shape_direction_names(
            data.shape_direction_names, data.shapedirs.shape[-1], src
        ),
    }


def _shape_direction_names(names: Any, num_dirs: int, src: str) -> tuple[str, ...]:
    names = tuple(str(n) for n in np.asarray(names, dtype=str).reshape(-1))
    if len(names) > num_dirs:
        raise BodyModelError(
            f"{src}: {len(names)} shape direction names for {num_dirs} shape directions"
        )
    return names


# --------------------------------------------------------------------------- from file keys


def _other_body_model(raw: Mapping[str, Any]) -> str | None:
    """Name the non-SMPL model family a file belongs to, if it evidently is one."""
    kintree = raw.get("kintree_table")
    if kintree is not None and np.ndim(kintree) == 2:
        joints = int(np.shape(kintree)[1])
        if joints in _OTHER_MODELS_BY_JOINTS:
            return f"{_OTHER_MODELS_BY_JOINTS[joints]} ({joints}-joint kinematic tree)"
    for key, family in _OTHER_MODELS_BY_KEY:
        if key in raw:
            return f"{family} (it has the key '{key}')"
    return None


def _vertex_ids_from_mapping(raw: Mapping[str, Any], src: str) -> dict[str, int]:
    """The file's own extra-keypoint vertices, or real SMPL's when it names none."""
    names, values = raw.get("vertex_id_names"), raw.get("vertex_id_values")
    if names is None and values is None:
        return dict(SMPL_VERTEX_IDS)
    if names is None or values is None:
        have, lack = (
            ("vertex_id_names", "vertex_id_values")
            if values is None
            else ("vertex_id_values", "vertex_id_names")
        )
        raise BodyModelError(
            f"{src}: has '{have}' but not '{lack}'; store both (or neither, for SMPL's own "
            "topology)."
        )
    names, values = np.asarray(names), np.asarray(values)
    if names.dtype.kind not in "US" or values.dtype.kind not in "iu":
        raise BodyModelError(
            f"{src}: 'vertex_id_names' must be strings and 'vertex_id_values' integers, got "
            f"{names.dtype} and {values.dtype}."
        )
    if names.ndim != 1 or names.shape != values.shape:
        raise BodyModelError(
            f"{src}: 'vertex_id_names' {_shape_text(names.shape)} and 'vertex_id_values' "
            f"{_shape_text(values.shape)} must be 1-D and of equal length."
        )
    as_str = [n.decode() if isinstance(n, bytes) else str(n) for n in names.tolist()]
    if len(set(as_str)) != len(as_str):
        raise BodyModelError(f"{src}: 'vertex_id_names' lists a name more than once.")
    return dict(zip(as_str, (int(v) for v in values), strict=True))


def smpl_data_from_mapping(raw: Mapping[str, Any], source: str) -> SmplData:
    """Build SmplData from SMPL's own file keys (as in the .pkl/.npz), checking everything."""
    other = _other_body_model(raw)
    if other is not None:
        raise BodyModelError(
            f"{source}: this is a {other} model file, not SMPL. Key2Mesh drives the 24-joint "
            f"SMPL body: use SMPL_NEUTRAL.pkl (or the male/female file) from "
            f"{SMPL_DOWNLOAD_URL}, or `k2m body generate` for a stand-in."
        )
    missing = [key for key in REQUIRED_KEYS if key not in raw]
    if missing:
        raise BodyModelError(
            f"{source}: not a SMPL model file: missing key(s) {', '.join(missing)} (it has: "
            f"{', '.join(sorted(map(str, raw))) or 'nothing'}). SMPL files hold "
            f"{', '.join(REQUIRED_KEYS)}. {_REDOWNLOAD}"
        )
    return SmplData(
        v_template=raw["v_template"],
        faces=raw["f"],
        j_regressor=raw["J_regressor"],
        weights=raw["weights"],
        shapedirs=raw["shapedirs"],
        posedirs=raw["posedirs"],
        kintree_table=raw["kintree_table"],
        vertex_ids=_vertex_ids_from_mapping(raw, source),
        j_regressor_h36m=raw.get("J_regressor_h36m"),
        source=source,
        shape_direction_names=raw.get("shape_direction_names", ()),
    )


# --------------------------------------------------------------------------- load


def _read_pkl(file: Path) -> dict[str, Any]:
    try:
        return load_smpl_pickle(file)
    except SmplPickleError as err:
        raise BodyModelError(str(err)) from err


_NPZ_READ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)


class _NpzEntries(Mapping[str, Any]):
    """An open .npz read entry by entry: keys nobody asks for (e.g. object arrays) stay unread."""

    def __init__(self, archive: np.lib.npyio.NpzFile, file: Path) -> None:
        self._archive = archive
        self._file = file

    def __getitem__(self, key: str) -> Any:
        if key not in self._archive.files:
            raise KeyError(key)
        try:
            return self._archive[key]
        except _NPZ_READ_ERRORS as err:
            raise BodyModelError(
                f"{self._file}: entry '{key}' cannot be read ({err}). Re-save the model with "
                f"plain numeric arrays (save_body_model() does). {_REDOWNLOAD}"
            ) from err

    def __iter__(self) -> Iterator[str]:
        return iter(self._archive.files)

    def __len__(self) -> int:
        return len(self._archive.files)


def _open_npz(file: Path) -> np.lib.npyio.NpzFile:
    try:
        archive = np.load(file, allow_pickle=False)
    except _NPZ_READ_ERRORS as err:
        raise BodyModelError(f"{file}: not a readable .npz archive ({err}). {_REDOWNLOAD}") from err
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise BodyModelError(
            f"{file}: holds a single .npy array, not a .npz archive of named SMPL arrays. "
            "Save body models with save_body_model()."
        )
    return archive


def load_body_model_file(path: str | os.PathLike[str]) -> SmplData:
    """Load and validate an SMPL model: the official .pkl (chumpy-free) or a converted .npz."""
    file = Path(path).expanduser()
    if not file.exists():
        raise BodyModelError(f"{file}: no such file. {_GET_SMPL}")
    if file.is_dir():
        raise BodyModelError(
            f"{file}: is a folder, not a model file. Pass the file itself (e.g. "
            f"{file / 'SMPL_NEUTRAL.pkl'}), or pick one with resolve_body_model_path()."
        )
    suffix = file.suffix.lower()
    if suffix == ".pkl":
        return smpl_data_from_mapping(_read_pkl(file), source=str(file))
    if suffix == ".npz":
        with _open_npz(file) as archive:
            return smpl_data_from_mapping(_NpzEntries(archive, file), source=str(file))
    raise BodyModelError(
        f"{file}: unknown body-model file type '{file.suffix}'; expected .pkl (an official "
        "SMPL pickle) or .npz (a converted model)."
    )


# --------------------------------------------------------------------------- save


def body_model_arrays(data: SmplData) -> dict[str, np.ndarray]:
    """SMPL's file layout (what smplx reads) plus k2m's optional keys, as plain arrays."""
    arrays = {
        "v_template": data.v_template,
        "f": data.faces,
        "J_regressor": data.j_regressor,
        "weights": data.weights,
        "shapedirs": data.shapedirs,
        "posedirs": data.posedirs,
        "kintree_table": data.kintree_table,
        "vertex_id_names": np.array(list(data.vertex_ids), dtype=str),
        "vertex_id_values": np.array(list(data.vertex_ids.values()), dtype=np.int64),
    }
    if data.j_regressor_h36m is not None:
        arrays["J_regressor_h36m"] = data.j_regressor_h36m
    if data.shape_direction_names:
        arrays["shape_direction_names"] = np.array(data.shape_direction_names, dtype=str)
    return arrays


def _write_npz(arrays: dict[str, np.ndarray], file: Path) -> None:
    with file.open("wb") as out:  # a file object, so numpy does not append '.npz' to the name
        np.savez_compressed(out, **arrays)


def _write_pkl(arrays: dict[str, np.ndarray], file: Path) -> None:
    with file.open("wb") as out:
        pickle.dump(arrays, out, protocol=4)


def save_body_model(data: SmplData, path: str | os.PathLike[str]) -> Path:
    """Write a chumpy-free .npz or .pkl that smplx and load_body_model_file read unchanged."""
    file = Path(path).expanduser()
    writers = {".npz": _write_npz, ".pkl": _write_pkl}
    writer = writers.get(file.suffix.lower())
    if writer is None:
        raise BodyModelError(
            f"{file}: cannot save a body model as '{file.suffix}'; use .npz (compressed, "
            "recommended) or .pkl (what smplx.SMPL opens directly)."
        )
    partial = file.with_name(f".{file.name}.partial")  # never leave a half-written model
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        writer(body_model_arrays(data), partial)
        os.replace(partial, file)
    except OSError as err:
        raise BodyModelError(f"{file}: cannot be written ({err.strerror or err}).") from err
    finally:
        with contextlib.suppress(OSError):  # its folder may not even exist
            partial.unlink(missing_ok=True)
    return file


# --------------------------------------------------------------------------- locate


def _find_file(folder: Path, name: str) -> Path | None:
    """Exact name first, then case-insensitively (official names mix 'basicModel'/'basicmodel')."""
    exact = folder / name
    if exact.is_file():
        return exact
    if not folder.is_dir():
        return None
    matches = sorted(p for p in folder.iterdir() if p.name.lower() == name.lower() and p.is_file())
    return matches[0] if matches else None


def resolve_body_model_path(path_or_dir: str | os.PathLike[str], gender: str = "neutral") -> Path:
    """A model file as given, or the usual SMPL file for `gender` inside a folder."""
    wanted = gender.lower() if isinstance(gender, str) else gender
    if wanted not in GENDERS:
        raise BodyModelError(f"unknown gender {gender!r}; choose one of {', '.join(GENDERS)}.")
    path = Path(path_or_dir).expanduser()
    if path.is_file():
        return path
    if not path.exists():
        raise BodyModelError(f"{path}: no such file or folder. {_GET_SMPL}")
    folders = [path / sub if sub else path for sub in _MODEL_SUBFOLDERS]
    for folder in folders:
        for name in _MODEL_FILE_NAMES[wanted]:
            found = _find_file(folder, name)
            if found is not None:
                return found
    raise BodyModelError(
        f"{path}: no {wanted} SMPL model found. Looked for "
        f"{', '.join(_MODEL_FILE_NAMES[wanted])} in {', '.join(str(f) for f in folders)}. "
        f"{_GET_SMPL}"
    )
