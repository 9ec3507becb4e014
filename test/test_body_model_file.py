"""SMPL body-model files: chumpy-free official pickles, npz/pkl round trips, smplx compatibility,
validation errors and model lookup. All data is built here; real SMPL files are optional."""

from __future__ import annotations

import contextlib
import copyreg
import importlib
import os
import pickle
import pickletools
import struct
import sys
import types
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from k2m_core.body.chumpy_pickle import SmplPickleError, load_smpl_pickle
from k2m_core.body.model_file import (
    BodyModelError,
    SmplData,
    load_body_model_file,
    resolve_body_model_path,
    save_body_model,
    smpl_data_from_mapping,
)
from k2m_core.body.skeleton import (
    SMPL_PARENTS,
    SMPL_VERTEX_IDS,
    VERTEX_KEYPOINT_NAMES,
)

NUM_VERTICES = 6890
NUM_FACES = 13776
ROOT_PARENT = 4294967295  # what the official files store as the root's parent (uint32 -1)


# --------------------------------------------------------------------------- test data


def make_smpl_raw(num_vertices: int = NUM_VERTICES, num_faces: int = NUM_FACES) -> dict[str, Any]:
    """A random but valid SMPL-format dict, laid out like the official file (sparse J_regressor,
    uint32 faces, float64 arrays, the root parent stored as uint32 -1, extra string keys)."""
    rng = np.random.default_rng(7)
    j_regressor = np.zeros((24, num_vertices))
    for joint in range(24):
        cols = rng.choice(num_vertices, size=12, replace=False)
        j_regressor[joint, cols] = rng.random(12)
    j_regressor /= j_regressor.sum(axis=1, keepdims=True)
    weights = rng.random((num_vertices, 24)) ** 8  # peaked, like skinning weights
    weights /= weights.sum(axis=1, keepdims=True)
    return {
        "v_template": rng.normal(scale=0.3, size=(num_vertices, 3)),
        "f": rng.integers(0, num_vertices, size=(num_faces, 3)).astype(np.uint32),
        "J_regressor": sp.csc_matrix(j_regressor),
        "weights": weights,
        "shapedirs": rng.normal(scale=0.01, size=(num_vertices, 3, 10)),
        "posedirs": rng.normal(scale=0.001, size=(num_vertices, 3, 207)),
        "kintree_table": np.array([[ROOT_PARENT, *SMPL_PARENTS[1:]], list(range(24))]),
        "J": rng.normal(size=(24, 3)),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }


@pytest.fixture(scope="module")
def smpl_raw() -> dict[str, Any]:
    return make_smpl_raw()


@pytest.fixture(scope="module")
def smpl_data(smpl_raw: dict[str, Any]) -> SmplData:
    return smpl_data_from_mapping(smpl_raw, source="fixture")


def dense_arrays(raw: dict[str, Any]) -> dict[str, Any]:
    """The raw dict as npz can hold it (dense J_regressor, no Python strings)."""
    out = {k: v for k, v in raw.items() if not isinstance(v, str)}
    out["J_regressor"] = raw["J_regressor"].toarray()
    return out


def write_npz(path: Path, raw: dict[str, Any], **changes: Any) -> Path:
    """Write raw (with entries replaced, or dropped when the change is None) as an npz."""
    arrays = dense_arrays(raw)
    for key, value in changes.items():
        if value is None:
            arrays.pop(key, None)
        else:
            arrays[key] = value
    np.savez(path, **arrays)
    return path


# --------------------------------------------------------------------------- chumpy mimicry


class FakeCh:
    """Mimics a terminal chumpy.ch.Ch: the attributes Ch.__new__ and Ch.set(x=...) leave on
    the instance, and Ch.__getstate__, which pickles __dict__ minus its weak-ref caches."""

    def __init__(self, x: Any) -> None:
        self._dirty_vars = {"x"}
        self._itr = None
        self._parents: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
        self._cache = {"r": None, "drs": weakref.WeakKeyDictionary()}
        self._make_dense = False
        self._make_sparse = False
        self._depends_on_deps: dict[str, Any] = {}
        self.x = np.asarray(x, dtype=np.float64)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_parents"]
        del state["_cache"]
        return state


FakeCh.__module__, FakeCh.__name__, FakeCh.__qualname__ = "chumpy.ch", "Ch", "Ch"


class FakeChAdd(FakeCh):
    """Mimics chumpy.ch_ops.add: a lazily computed expression whose state has no 'x'."""

    def __init__(self, a: FakeCh, b: FakeCh) -> None:
        super().__init__(0.0)
        del self.x
        self._dirty_vars = {"a", "b"}
        self.a, self.b = a, b


FakeChAdd.__module__, FakeChAdd.__name__, FakeChAdd.__qualname__ = "chumpy.ch_ops", "add", "add"


@contextlib.contextmanager
def fake_chumpy_installed() -> Iterator[None]:
    """A stand-in chumpy package in sys.modules, so pickle can name chumpy.ch.Ch; only while
    writing, so loading has to cope without it."""
    package = types.ModuleType("chumpy")
    ch = types.ModuleType("chumpy.ch")
    ch_ops = types.ModuleType("chumpy.ch_ops")
    ch.Ch = FakeCh  # type: ignore[attr-defined]
    ch_ops.add = FakeChAdd  # type: ignore[attr-defined]
    package.ch, package.ch_ops = ch, ch_ops  # type: ignore[attr-defined]
    modules = {"chumpy": package, "chumpy.ch": ch, "chumpy.ch_ops": ch_ops}
    assert not set(modules) & set(sys.modules), "a real chumpy must not be importable here"
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name in modules:
            del sys.modules[name]


def old_scipy_state(matrix: sp.csc_matrix) -> dict[str, Any]:
    """A csc_matrix's __dict__ as the scipy of 2015 pickled it."""
    return {
        "_shape": matrix.shape,
        "maxprint": 50,
        "format": "csc",
        "indices": matrix.indices.astype(np.int32),
        "indptr": matrix.indptr.astype(np.int32),
        "data": matrix.data,
    }


_RECONSTRUCT = np.zeros(1).__reduce__()[0]


class Py2Pickler(pickle._Pickler):
    """Writes protocol 2 the way Python 2's cPickle wrote the official SMPL files: every str as
    a byte string (SHORT_BINSTRING/BINSTRING), Python-2 / old-numpy / old-scipy global names."""

    py2_names: ClassVar[dict[Any, tuple[str, str]]] = {
        set: ("__builtin__", "set"),
        _RECONSTRUCT: ("numpy.core.multiarray", "_reconstruct"),
        sp.csc_matrix: ("scipy.sparse.csc", "csc_matrix"),
    }
    dispatch: ClassVar[dict[type, Callable[..., None]]] = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj: str | bytes) -> None:
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str

    def save_global(self, obj: Any, name: str | None = None) -> None:
        spelled = self.py2_names.get(obj)
        if spelled is None:
            super().save_global(obj, name)
            return
        self.write(pickle.GLOBAL + f"{spelled[0]}\n{spelled[1]}\n".encode("ascii"))
        self.memoize(obj)

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, sp.csc_matrix):
            return copyreg.__newobj__, (sp.csc_matrix,), old_scipy_state(obj)
        return NotImplemented


def write_official_style_pkl(path: Path, content: dict[str, Any]) -> bytes:
    """Pickle content as SMPL's serialization.save_model did (protocol -1 in Python 2 is 2)."""
    with fake_chumpy_installed(), path.open("wb") as out:
        Py2Pickler(out, protocol=2).dump(content)
    return path.read_bytes()


def official_content(raw: dict[str, Any]) -> dict[str, Any]:
    """The official layout: shapedirs a terminal chumpy Ch, the rest numpy / scipy / str."""
    return {**raw, "shapedirs": FakeCh(raw["shapedirs"])}


# --------------------------------------------------------------------------- chumpy pickles


def test_official_style_pickle_loads_without_chumpy(
    tmp_path: Path, smpl_raw: dict[str, Any]
) -> None:
    path = tmp_path / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"
    stream = write_official_style_pkl(path, official_content(smpl_raw))

    # The stream names what the official files name, in Python 2's opcodes.
    assert b"cchumpy.ch\nCh\n" in stream
    assert b"cscipy.sparse.csc\ncsc_matrix\n" in stream
    assert b"cnumpy.core.multiarray\n_reconstruct\n" in stream
    opcodes = {op.name for op, _, _ in pickletools.genops(stream)}
    assert {"NEWOBJ", "BINSTRING", "SHORT_BINSTRING"} <= opcodes
    assert not opcodes & {"BINUNICODE", "SHORT_BINUNICODE", "BINBYTES", "SHORT_BINBYTES"}
    with pytest.raises(ImportError):
        importlib.import_module("chumpy")

    loaded = load_smpl_pickle(path)

    assert "chumpy" not in sys.modules
    assert set(loaded) == set(smpl_raw)
    assert type(loaded["shapedirs"]) is np.ndarray
    for key in ("v_template", "f", "weights", "shapedirs", "posedirs", "kintree_table", "J"):
        assert loaded[key].dtype == smpl_raw[key].dtype, key
        np.testing.assert_array_equal(loaded[key], smpl_raw[key], err_msg=key)
    assert sp.issparse(loaded["J_regressor"])
    np.testing.assert_array_equal(
        loaded["J_regressor"].toarray(), smpl_raw["J_regressor"].toarray()
    )
    assert loaded["bs_style"] == "lbs"

    data = load_body_model_file(path)
    np.testing.assert_array_equal(data.shapedirs, smpl_raw["shapedirs"].astype(np.float32))
    np.testing.assert_array_equal(
        data.j_regressor, smpl_raw["J_regressor"].toarray().astype(np.float32)
    )
    np.testing.assert_array_equal(data.faces, smpl_raw["f"].astype(np.int64))
    assert data.parents == SMPL_PARENTS
    assert data.vertex_ids == SMPL_VERTEX_IDS
    assert data.source == str(path)


def test_chumpy_expression_without_value_is_an_error(
    tmp_path: Path, smpl_raw: dict[str, Any]
) -> None:
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    lazy = FakeChAdd(FakeCh(smpl_raw["shapedirs"]), FakeCh(np.zeros_like(smpl_raw["shapedirs"])))
    write_official_style_pkl(path, {**smpl_raw, "shapedirs": lazy})

    with pytest.raises(SmplPickleError) as caught:
        load_smpl_pickle(path)
    message = str(caught.value)
    for part in (str(path), "'shapedirs'", "chumpy.ch_ops.add", "chumpy installed", "download"):
        assert part in message

    with pytest.raises(BodyModelError, match="chumpy expression") as caught_model:
        load_body_model_file(path)
    assert str(path) in str(caught_model.value)


class RunsCommand:
    """Unpickling this runs a shell command: what a malicious 'model file' would carry."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.system, (self.command,)


# Protocol-0 payloads with Python 2 spellings, and a protocol-4 one (STACK_GLOBAL) from pickle.
CODE_RUNNING_PICKLES: dict[str, Callable[[Path], bytes]] = {
    "os.system": lambda marker: f"cos\nsystem\n(S'touch {marker}'\ntR.".encode(),
    "builtins.eval": lambda marker: (
        f'c__builtin__\neval\n(S\'open("{marker}", "w")\'\ntR.'.encode()
    ),
    "subprocess.Popen": lambda marker: (
        f"csubprocess\nPopen\n((S'touch'\nS'{marker}'\nltR.".encode()
    ),
    f"{os.system.__module__}.system": lambda marker: pickle.dumps(
        RunsCommand(f"touch {marker}"), protocol=4
    ),
}


@pytest.mark.parametrize("target", sorted(CODE_RUNNING_PICKLES))
def test_pickle_that_would_run_code_is_refused(tmp_path: Path, target: str) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(CODE_RUNNING_PICKLES[target](marker))

    with pytest.raises(BodyModelError) as caught:
        load_body_model_file(path)
    assert not marker.exists()
    message = str(caught.value)
    assert str(path) in message
    assert f"'{target}'" in message
    assert "refusing" in message


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_python3_pickles_of_plain_arrays_load(
    tmp_path: Path, smpl_raw: dict[str, Any], protocol: int
) -> None:
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    with path.open("wb") as out:
        pickle.dump(smpl_raw, out, protocol=protocol)

    data = load_body_model_file(path)

    np.testing.assert_array_equal(data.posedirs, smpl_raw["posedirs"].astype(np.float32))
    np.testing.assert_array_equal(
        data.j_regressor, smpl_raw["J_regressor"].toarray().astype(np.float32)
    )


# --------------------------------------------------------------------------- round trips


def assert_same_model(a: SmplData, b: SmplData) -> None:
    for name in (
        "v_template",
        "faces",
        "j_regressor",
        "weights",
        "shapedirs",
        "posedirs",
        "kintree_table",
    ):
        left, right = getattr(a, name), getattr(b, name)
        assert left.dtype == right.dtype, name
        np.testing.assert_array_equal(left, right, err_msg=name)
    assert a.vertex_ids == b.vertex_ids
    if a.j_regressor_h36m is None:
        assert b.j_regressor_h36m is None
    else:
        np.testing.assert_array_equal(a.j_regressor_h36m, b.j_regressor_h36m)


def with_extras(data: SmplData) -> SmplData:
    """The model with an H36M regressor and its own vertex ids, which must survive saving."""
    rng = np.random.default_rng(3)
    own_ids = {
        name: int(i)
        for name, i in zip(VERTEX_KEYPOINT_NAMES, rng.permutation(50)[:21], strict=True)
    }
    return SmplData(
        v_template=data.v_template,
        faces=data.faces,
        j_regressor=data.j_regressor,
        weights=data.weights,
        shapedirs=data.shapedirs,
        posedirs=data.posedirs,
        kintree_table=data.kintree_table,
        vertex_ids=own_ids,
        j_regressor_h36m=rng.random((17, data.num_vertices)),
        source="with extras",
    )


@pytest.mark.parametrize("suffix", [".npz", ".pkl"])
@pytest.mark.parametrize("extras", [False, True])
def test_save_then_load_is_lossless(
    tmp_path: Path, smpl_data: SmplData, suffix: str, extras: bool
) -> None:
    model = with_extras(smpl_data) if extras else smpl_data
    first = save_body_model(model, tmp_path / f"first{suffix}")
    loaded = load_body_model_file(first)
    assert_same_model(model, loaded)

    again = load_body_model_file(save_body_model(loaded, tmp_path / f"second{suffix}"))
    assert_same_model(loaded, again)
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_saved_pkl_holds_only_plain_numpy_arrays(tmp_path: Path, smpl_data: SmplData) -> None:
    path = save_body_model(smpl_data, tmp_path / "model.pkl")
    stream = path.read_bytes()
    assert b"chumpy" not in stream and b"scipy" not in stream
    with path.open("rb") as file:
        content = pickle.load(file)
    assert all(type(v) is np.ndarray for v in content.values())
    assert content["J_regressor"].shape == (24, NUM_VERTICES)


def test_loaded_model_properties(smpl_data: SmplData, smpl_raw: dict[str, Any]) -> None:
    assert smpl_data.num_vertices == NUM_VERTICES
    assert smpl_data.num_betas == 10
    assert smpl_data.parents == SMPL_PARENTS
    assert smpl_data.has_pose_correctives
    assert smpl_data.kintree_table[0, 0] == ROOT_PARENT  # kept as in the file
    for name in ("v_template", "j_regressor", "weights", "shapedirs", "posedirs"):
        assert getattr(smpl_data, name).dtype == np.float32
    flat = SmplData(**{**vars(smpl_data), "posedirs": np.zeros((NUM_VERTICES, 3, 207))})
    assert not flat.has_pose_correctives


def smplx_from_pkl(path: Path) -> Any:
    import smplx

    return smplx.SMPL(model_path=str(path))


def smplx_from_npz(path: Path) -> Any:
    import smplx
    from smplx.utils import Struct

    with np.load(path) as archive:
        return smplx.SMPL(model_path=str(path), data_struct=Struct(**dict(archive)))


@pytest.mark.parametrize(
    ("suffix", "open_with_smplx"), [(".pkl", smplx_from_pkl), (".npz", smplx_from_npz)]
)
def test_smplx_loads_saved_models_unchanged(
    tmp_path: Path,
    smpl_data: SmplData,
    suffix: str,
    open_with_smplx: Callable[[Path], Any],
) -> None:
    path = save_body_model(smpl_data, tmp_path / f"SMPL_NEUTRAL{suffix}")
    body = open_with_smplx(path)
    with torch.no_grad():
        out = body(betas=torch.zeros(1, 10), body_pose=torch.zeros(1, 69))

    vertices = out.vertices[0].numpy()
    np.testing.assert_allclose(vertices, smpl_data.v_template, atol=1e-5)
    joints = out.joints[0].numpy()
    np.testing.assert_allclose(joints[:24], smpl_data.j_regressor @ smpl_data.v_template, atol=1e-5)
    extra = [smpl_data.vertex_ids[name] for name in VERTEX_KEYPOINT_NAMES]
    np.testing.assert_allclose(joints[24:], smpl_data.v_template[extra], atol=1e-5)
    assert body.parents.tolist() == list(SMPL_PARENTS)


# --------------------------------------------------------------------------- file errors


def load_error(path: Path) -> str:
    with pytest.raises(BodyModelError) as caught:
        load_body_model_file(path)
    message = str(caught.value)
    assert str(path) in message, message
    return message


def test_missing_file_says_where_smpl_comes_from(tmp_path: Path) -> None:
    message = load_error(tmp_path / "SMPL_NEUTRAL.pkl")
    assert "no such file" in message
    assert "https://smpl.is.tue.mpg.de" in message
    assert "k2m body generate" in message


def test_folder_instead_of_file(tmp_path: Path) -> None:
    assert "is a folder" in load_error(tmp_path)


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "SMPL_NEUTRAL.obj"
    path.write_text("v 0 0 0\n")
    message = load_error(path)
    assert "'.obj'" in message and ".pkl" in message and ".npz" in message


@pytest.mark.parametrize("content", [b"", b"hello, not a pickle\n", b"\x80\x02}q\x00(U"])
def test_pkl_that_is_not_a_pickle(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(content)
    assert "not a readable Python pickle" in load_error(path)


def test_pickle_of_something_other_than_a_dict(tmp_path: Path) -> None:
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    assert "holds a list" in load_error(path)


def test_npz_that_is_not_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "SMPL_NEUTRAL.npz"
    path.write_text("not a zip file")
    assert "not a readable .npz archive" in load_error(path)


def test_npz_that_is_a_single_npy_array(tmp_path: Path) -> None:
    path = tmp_path / "SMPL_NEUTRAL.npz"
    with path.open("wb") as out:
        np.save(out, np.zeros(3))
    assert "single .npy array" in load_error(path)


def test_npz_entries_not_needed_are_never_read(tmp_path: Path, smpl_raw: dict[str, Any]) -> None:
    path = write_npz(
        tmp_path / "m.npz", smpl_raw, pose_training_info=np.array([{"a": 1}], dtype=object)
    )
    assert load_body_model_file(path).num_vertices == NUM_VERTICES


def test_npz_needed_entry_holding_python_objects(tmp_path: Path, smpl_raw: dict[str, Any]) -> None:
    objects = np.empty((NUM_VERTICES, 3), dtype=object)
    path = write_npz(tmp_path / "m.npz", smpl_raw, v_template=objects)
    message = load_error(path)
    assert "entry 'v_template' cannot be read" in message


@pytest.mark.parametrize(
    ("family", "changes", "expected"),
    [
        (
            "SMPL-X",
            {
                "kintree_table": np.zeros((2, 55), dtype=np.int64),
                "hands_componentsl": np.zeros((45, 45)),
                "dynamic_lmk_faces_idx": np.zeros((79, 17), dtype=np.int64),
            },
            "SMPL-X (55-joint",
        ),
        (
            "SMPL+H",
            {"kintree_table": np.zeros((2, 52), dtype=np.int64)},
            "SMPL+H (52-joint",
        ),
        (
            "MANO",
            {
                "v_template": np.zeros((778, 3)),
                "kintree_table": np.zeros((2, 16), dtype=np.int64),
                "hands_components": np.zeros((45, 45)),
            },
            "MANO (16-joint",
        ),
        ("SMPL-X by key", {"lmk_faces_idx": np.zeros((51,), dtype=np.int64)}, "SMPL-X (it has"),
    ],
)
def test_other_body_model_families_are_named(
    tmp_path: Path,
    smpl_raw: dict[str, Any],
    family: str,
    changes: dict[str, Any],
    expected: str,
) -> None:
    path = write_npz(tmp_path / "model.npz", smpl_raw, **changes)
    message = load_error(path)
    assert expected in message
    assert "not SMPL" in message


def test_missing_keys_are_listed(tmp_path: Path, smpl_raw: dict[str, Any]) -> None:
    path = write_npz(tmp_path / "model.npz", smpl_raw, weights=None, posedirs=None)
    message = load_error(path)
    assert "missing key(s) weights, posedirs" in message


@pytest.mark.parametrize(
    ("key", "bad", "expected"),
    [
        (
            "v_template",
            np.zeros((NUM_VERTICES, 2)),
            "'v_template' has shape (6890, 2), expected (V, 3)",
        ),
        (
            "weights",
            np.zeros((NUM_VERTICES, 23)),
            "'weights' has shape (6890, 23), expected (6890, 24)",
        ),
        (
            "J_regressor",
            np.zeros((24, NUM_VERTICES - 1)),
            "'J_regressor' has shape (24, 6889), expected (24, 6890)",
        ),
        (
            "posedirs",
            np.zeros((NUM_VERTICES, 3, 200)),
            "'posedirs' has shape (6890, 3, 200), expected (6890, 3, 207)",
        ),
        (
            "shapedirs",
            np.zeros((NUM_VERTICES * 3, 10)),
            "'shapedirs' has shape (20670, 10), expected (6890, 3, S)",
        ),
        (
            "J_regressor_h36m",
            np.zeros((14, NUM_VERTICES)),
            "'J_regressor_h36m' has shape (14, 6890), expected (17, 6890)",
        ),
        (
            "f",
            np.zeros((NUM_FACES, 4), dtype=np.int64),
            "'f' has shape (13776, 4), expected (F, 3)",
        ),
        ("f", np.zeros((NUM_FACES, 3)), "'f' must hold integers, got float64"),
        (
            "v_template",
            np.full((NUM_VERTICES, 3), "x"),
            "'v_template' holds <U1 values, not numbers",
        ),
    ],
)
def test_wrong_shapes_and_types(
    tmp_path: Path, smpl_raw: dict[str, Any], key: str, bad: np.ndarray, expected: str
) -> None:
    path = write_npz(tmp_path / "model.npz", smpl_raw, **{key: bad})
    assert expected in load_error(path)


def test_too_few_shape_directions(tmp_path: Path, smpl_raw: dict[str, Any]) -> None:
    path = write_npz(tmp_path / "model.npz", smpl_raw, shapedirs=smpl_raw["shapedirs"][..., :8])
    assert "only 8 shape direction(s)" in load_error(path)


def test_kintree_that_is_not_smpls_tree(tmp_path: Path, smpl_raw: dict[str, Any]) -> None:
    kintree = smpl_raw["kintree_table"].copy()
    kintree[0, 4] = 2  # left knee hung on the right hip
    path = write_npz(tmp_path / "model.npz", smpl_raw, kintree_table=kintree)
    message = load_error(path)
    assert "does not match SMPL's 24-joint tree" in message
    assert "joint 4 (left_knee) has parent 2, SMPL's is 1" in message


def test_kintree_with_joints_out_of_order(tmp_path: Path, smpl_raw: dict[str, Any]) -> None:
    kintree = smpl_raw["kintree_table"].copy()
    kintree[1, [5, 6]] = [6, 5]
    path = write_npz(tmp_path / "model.npz", smpl_raw, kintree_table=kintree)
    assert "column 5 names joint 6" in load_error(path)


@pytest.mark.parametrize(
    ("key", "where", "value"),
    [("v_template", (5, 1), np.nan), ("shapedirs", (0, 0, 3), np.inf), ("weights", (9, 9), 1e39)],
)
def test_non_finite_values(
    tmp_path: Path, smpl_raw: dict[str, Any], key: str, where: tuple[int, ...], value: float
) -> None:
    array = np.array(smpl_raw[key], dtype=np.float64)
    array[where] = value
    path = write_npz(tmp_path / "model.npz", smpl_raw, **{key: array})
    assert f"'{key}' contains 1 NaN or infinite value(s)" in load_error(path)


@pytest.mark.parametrize("bad_face", [NUM_VERTICES, -1])
def test_faces_out_of_range(tmp_path: Path, smpl_raw: dict[str, Any], bad_face: int) -> None:
    faces = smpl_raw["f"].astype(np.int64)
    faces[10, 2] = bad_face
    path = write_npz(tmp_path / "model.npz", smpl_raw, f=faces)
    message = load_error(path)
    assert "'f' (faces) has 1 vertex index(es) outside 0..6889" in message
    assert f"e.g. {bad_face}" in message


def vertex_id_arrays(ids: dict[str, int]) -> dict[str, np.ndarray]:
    return {
        "vertex_id_names": np.array(list(ids)),
        "vertex_id_values": np.array(list(ids.values())),
    }


def test_vertex_ids_out_of_range(tmp_path: Path, smpl_raw: dict[str, Any]) -> None:
    ids = {**SMPL_VERTEX_IDS, "RHeel": NUM_VERTICES}
    path = write_npz(tmp_path / "model.npz", smpl_raw, **vertex_id_arrays(ids))
    assert "vertex id of 'RHeel' is 6890, outside 0..6889" in load_error(path)


def test_smpl_vertex_ids_assumed_for_other_topology_are_caught(tmp_path: Path) -> None:
    small = make_smpl_raw(num_vertices=3000, num_faces=5000)
    path = write_npz(tmp_path / "small.npz", small)
    message = load_error(path)
    assert "outside 0..2999" in message
    assert "'vertex_id_names' and 'vertex_id_values'" in message


def test_own_vertex_ids_make_other_topology_loadable(tmp_path: Path) -> None:
    small = make_smpl_raw(num_vertices=3000, num_faces=5000)
    ids = {name: 100 + i for i, name in enumerate(VERTEX_KEYPOINT_NAMES)}
    path = write_npz(tmp_path / "small.npz", small, **vertex_id_arrays(ids))
    assert load_body_model_file(path).vertex_ids == ids


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"vertex_id_names": np.array(list(SMPL_VERTEX_IDS))},
            "has 'vertex_id_names' but not 'vertex_id_values'",
        ),
        (
            vertex_id_arrays(
                {**{k: v for k, v in SMPL_VERTEX_IDS.items() if k != "nose"}, "chin": 1}
            ),
            "missing: nose; unknown: chin",
        ),
        (
            {
                "vertex_id_names": np.array(list(SMPL_VERTEX_IDS)),
                "vertex_id_values": np.zeros(21),
            },
            "'vertex_id_values' integers, got <U9 and float64",
        ),
    ],
)
def test_malformed_vertex_id_keys(
    tmp_path: Path, smpl_raw: dict[str, Any], changes: dict[str, Any], expected: str
) -> None:
    path = write_npz(tmp_path / "model.npz", smpl_raw, **changes)
    assert expected in load_error(path)


def test_in_memory_model_errors_name_their_source(smpl_data: SmplData) -> None:
    fields = {**vars(smpl_data), "weights": np.zeros((5, 24)), "source": "generated body"}
    with pytest.raises(BodyModelError, match=r"^generated body: 'weights' has shape \(5, 24\)"):
        SmplData(**fields)


# --------------------------------------------------------------------------- save errors


def test_save_refuses_unknown_extension(tmp_path: Path, smpl_data: SmplData) -> None:
    path = tmp_path / "model.obj"
    with pytest.raises(BodyModelError, match=r"use \.npz") as caught:
        save_body_model(smpl_data, path)
    assert str(path) in str(caught.value)
    assert not path.exists()


def test_save_to_unwritable_place(tmp_path: Path, smpl_data: SmplData) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    path = blocker / "model.npz"
    with pytest.raises(BodyModelError, match="cannot be written") as caught:
        save_body_model(smpl_data, path)
    assert str(path) in str(caught.value)


# --------------------------------------------------------------------------- lookup


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_resolve_returns_a_file_as_is(tmp_path: Path) -> None:
    path = touch(tmp_path / "my_body.npz")
    assert resolve_body_model_path(path, gender="female") == path
    assert resolve_body_model_path(str(path)) == path


@pytest.mark.parametrize(
    ("gender", "name"),
    [
        ("neutral", "SMPL_NEUTRAL.pkl"),
        ("male", "SMPL_MALE.pkl"),
        ("female", "SMPL_FEMALE.npz"),
        ("neutral", "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"),
        ("male", "basicmodel_m_lbs_10_207_0_v1.0.0.pkl"),
        ("female", "basicModel_f_lbs_10_207_0_v1.0.0.pkl"),
        ("FEMALE", "basicmodel_f_lbs_10_207_0_v1.1.0.pkl"),
    ],
)
@pytest.mark.parametrize("subfolder", ["", "smpl"])
def test_resolve_finds_the_usual_names(
    tmp_path: Path, gender: str, name: str, subfolder: str
) -> None:
    folder = tmp_path / subfolder if subfolder else tmp_path
    expected = touch(folder / name)
    touch(tmp_path / "other" / "SMPL_NEUTRAL.pkl")  # elsewhere: must not be picked
    assert resolve_body_model_path(tmp_path, gender=gender) == expected


def test_resolve_picks_the_requested_gender(tmp_path: Path) -> None:
    files = {g: touch(tmp_path / f"SMPL_{g.upper()}.pkl") for g in ("neutral", "male", "female")}
    for gender, path in files.items():
        assert resolve_body_model_path(tmp_path, gender=gender) == path
    assert resolve_body_model_path(tmp_path) == files["neutral"]


def test_resolve_prefers_the_converted_npz(tmp_path: Path) -> None:
    touch(tmp_path / "SMPL_NEUTRAL.pkl")
    npz = touch(tmp_path / "SMPL_NEUTRAL.npz")
    assert resolve_body_model_path(tmp_path) == npz


def test_resolve_matches_names_case_insensitively(tmp_path: Path) -> None:
    path = touch(tmp_path / "BASICMODEL_NEUTRAL_LBS_10_207_0_V1.0.0.PKL")
    assert resolve_body_model_path(tmp_path).samefile(path)


def test_resolve_unknown_gender(tmp_path: Path) -> None:
    with pytest.raises(BodyModelError) as caught:
        resolve_body_model_path(tmp_path, gender="kid")
    message = str(caught.value)
    assert "'kid'" in message and "neutral, male, female" in message


def test_resolve_folder_without_a_model(tmp_path: Path) -> None:
    touch(tmp_path / "SMPL_MALE.pkl")  # another gender does not count
    with pytest.raises(BodyModelError) as caught:
        resolve_body_model_path(tmp_path, gender="female")
    message = str(caught.value)
    assert f"{tmp_path}: no female SMPL model found" in message
    assert "SMPL_FEMALE.pkl" in message and "basicModel_f_lbs_10_207_0_v1.0.0.pkl" in message
    assert str(tmp_path / "smpl") in message
    assert "https://smpl.is.tue.mpg.de" in message


def test_resolve_missing_path(tmp_path: Path) -> None:
    with pytest.raises(BodyModelError, match="no such file or folder") as caught:
        resolve_body_model_path(tmp_path / "nowhere")
    assert "nowhere" in str(caught.value)


# --------------------------------------------------------------------------- real SMPL


def test_real_smpl_files_when_available(tmp_path: Path) -> None:
    folder = os.environ.get("K2M_SMPL_DIR")
    if not folder:
        pytest.skip(
            "K2M_SMPL_DIR is not set: point it at a folder holding the licence-gated SMPL "
            "files (https://smpl.is.tue.mpg.de) to test loading real ones"
        )
    found = []
    for gender in ("neutral", "male", "female"):
        with contextlib.suppress(BodyModelError):
            found.append(resolve_body_model_path(folder, gender=gender))
    assert found, f"K2M_SMPL_DIR={folder} holds no SMPL model file"
    for path in found:
        data = load_body_model_file(path)
        assert data.num_vertices == NUM_VERTICES
        assert data.faces.shape == (NUM_FACES, 3)
        assert data.num_betas >= 10
        assert data.parents == SMPL_PARENTS
        assert data.has_pose_correctives
        np.testing.assert_allclose(data.j_regressor.sum(axis=1), 1.0, atol=1e-4)
        converted = save_body_model(data, tmp_path / f"{path.stem}.npz")
        assert_same_model(data, load_body_model_file(converted))
        body = smplx_from_npz(converted)
        with torch.no_grad():
            vertices = body().vertices[0].numpy()
        np.testing.assert_allclose(vertices, data.v_template, atol=1e-5)
