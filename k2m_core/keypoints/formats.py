"""Keypoint formats of 2D detectors and 3D evaluations, named by one shared snake_case vocabulary.

Names are the contract between formats: the same anatomical point has the same name everywhere
('left_shoulder', 'neck', 'mid_hip', 'left_big_toe', 'head_top', ...), so conversions copy by
name and left/right flips are derived from names instead of hand-typed permutations.

Each format also says how every keypoint is obtained from an SMPL forward pass: ``smpl_sources``
holds, per keypoint, the indices it averages (one index = a plain copy) into the concatenation
[45 SMPL output joints, 17 H36M regressor joints], or None where SMPL has no such point.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from k2m_core.body.skeleton import (
    NUM_OUTPUT_JOINTS,
    SMPL_JOINT_NAMES,
    SMPL_PARENTS,
    VERTEX_KEYPOINT_NAMES,
)

SourceSpec = tuple[int, ...]
"""Indices into [45 SMPL output joints, 17 H36M joints] whose mean gives one keypoint."""

NUM_H36M_JOINTS = 17
H36M_OFFSET = NUM_OUTPUT_JOINTS  # source index of H36M joint 0
NUM_SMPL_SOURCES = NUM_OUTPUT_JOINTS + NUM_H36M_JOINTS  # 62

_SIDES = {"left": "right", "right": "left"}


class UnknownKeypointFormatError(KeyError, ValueError):
    """Raised for a format name the registry does not know; a KeyError for dict-like lookups."""

    def __str__(self) -> str:
        # KeyError would quote the message as a repr; keep it readable.
        return str(self.args[0]) if self.args else ""


def flip_name(name: str) -> str:
    """Mirror a name by swapping its 'left'/'right' words ('mouth_left' -> 'mouth_right')."""
    return "_".join(_SIDES.get(word, word) for word in name.split("_"))


@dataclass(frozen=True)
class KeypointFormat:
    """An ordered, named keypoint set with its drawing skeleton and its recipe from SMPL."""

    name: str
    keypoint_names: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    smpl_sources: tuple[SourceSpec | None, ...]

    def __post_init__(self) -> None:
        # Validate once at definition so a malformed format cannot reach a loss or a drawing.
        k = len(self.keypoint_names)
        if len(set(self.keypoint_names)) != k:
            raise ValueError(f"format {self.name!r}: keypoint names are not unique")
        if len(self.smpl_sources) != k:
            raise ValueError(
                f"format {self.name!r}: {len(self.smpl_sources)} smpl_sources for {k} keypoints"
            )
        for a, b in self.edges:
            if not (0 <= a < k and 0 <= b < k) or a == b:
                raise ValueError(f"format {self.name!r}: bad edge ({a}, {b}) for {k} keypoints")
        for spec in self.smpl_sources:
            if spec is not None and (not spec or any(not 0 <= i < NUM_SMPL_SOURCES for i in spec)):
                raise ValueError(f"format {self.name!r}: bad SMPL source {spec}")
        for n in self.keypoint_names:
            if flip_name(n) not in self._index_of:
                raise ValueError(f"format {self.name!r}: {n!r} has no mirror {flip_name(n)!r}")

    @cached_property
    def _index_of(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.keypoint_names)}

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoint_names)

    def index(self, name: str) -> int:
        """Position of a keypoint by name; KeyError names the format to ease debugging."""
        try:
            return self._index_of[name]
        except KeyError:
            raise KeyError(f"format {self.name!r} has no keypoint {name!r}") from None

    @cached_property
    def flip_indices(self) -> tuple[int, ...]:
        """Permutation p with flipped[..., i, :] = kps[..., p[i], :] for horizontal flips."""
        return tuple(self._index_of[flip_name(n)] for n in self.keypoint_names)

    @property
    def needs_h36m(self) -> bool:
        """Whether SMPL keypoints in this format require the H36M joint regressor."""
        return any(i >= H36M_OFFSET for s in self.smpl_sources if s is not None for i in s)


# --- SMPL-side vocabulary -------------------------------------------------------------------

# Semantic names of smplx's vertex keypoints (SMPL output joints 24-44), in their order.
_VERTEX_SEMANTIC_NAMES: dict[str, str] = {
    "nose": "nose",
    "reye": "right_eye",
    "leye": "left_eye",
    "rear": "right_ear",
    "lear": "left_ear",
    "LBigToe": "left_big_toe",
    "LSmallToe": "left_small_toe",
    "LHeel": "left_heel",
    "RBigToe": "right_big_toe",
    "RSmallToe": "right_small_toe",
    "RHeel": "right_heel",
    "lthumb": "left_thumb_tip",
    "lindex": "left_index_tip",
    "lmiddle": "left_middle_tip",
    "lring": "left_ring_tip",
    "lpinky": "left_pinky_tip",
    "rthumb": "right_thumb_tip",
    "rindex": "right_index_tip",
    "rmiddle": "right_middle_tip",
    "rring": "right_ring_tip",
    "rpinky": "right_pinky_tip",
}

SMPL_OUTPUT_NAMES: tuple[str, ...] = SMPL_JOINT_NAMES + tuple(
    _VERTEX_SEMANTIC_NAMES[n] for n in VERTEX_KEYPOINT_NAMES
)
"""Semantic names of the 45 SMPL output joints (24 kinematic joints + 21 vertex keypoints)."""

H36M_NAMES: tuple[str, ...] = (
    "pelvis",
    "right_hip",
    "right_knee",
    "right_ankle",
    "left_hip",
    "left_knee",
    "left_ankle",
    "spine",
    "thorax",
    "neck_nose",
    "head_top",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
)


def _smpl_output_sources() -> dict[str, SourceSpec]:
    """Recipes for names measured on the SMPL joints and mesh (not on the H36M regressor)."""
    table: dict[str, SourceSpec] = {n: (i,) for i, n in enumerate(SMPL_OUTPUT_NAMES)}
    table["mid_hip"] = (table["left_hip"][0], table["right_hip"][0])
    for side in ("left", "right"):
        # BlazePose's hand points are nearer the knuckles than the tips; the tips are the
        # closest SMPL offers, as in other SMPL->BlazePose mappings.
        for finger in ("pinky", "index", "thumb"):
            table[f"{side}_{finger}"] = table[f"{side}_{finger}_tip"]
        table[f"{side}_foot_index"] = table[f"{side}_big_toe"]
    return table


_SMPL_OUTPUT_SOURCES = _smpl_output_sources()
_H36M_SOURCES: dict[str, SourceSpec] = {n: (H36M_OFFSET + i,) for i, n in enumerate(H36M_NAMES)}


def _sources(names: tuple[str, ...], table: dict[str, SourceSpec]) -> tuple[SourceSpec | None, ...]:
    return tuple(table.get(n) for n in names)


def _tree_edges(parents: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    return tuple((p, c) for c, p in enumerate(parents) if p >= 0)


# --- formats ---------------------------------------------------------------------------------

_COCO17_NAMES = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)

_COCO18_NAMES = (
    "nose",
    "neck",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_hip",
    "right_knee",
    "right_ankle",
    "left_hip",
    "left_knee",
    "left_ankle",
    "right_eye",
    "left_eye",
    "right_ear",
    "left_ear",
)

_BODY25_NAMES = (
    *_COCO18_NAMES[:8],
    "mid_hip",
    *_COCO18_NAMES[8:],
    "left_big_toe",
    "left_small_toe",
    "left_heel",
    "right_big_toe",
    "right_small_toe",
    "right_heel",
)

_BLAZEPOSE33_NAMES = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
)

_LSP14_NAMES = (
    "right_ankle",
    "right_knee",
    "right_hip",
    "left_hip",
    "left_knee",
    "left_ankle",
    "right_wrist",
    "right_elbow",
    "right_shoulder",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "thorax",  # LSP calls it "neck"; it is H36M's thorax, which is what evaluation regresses
    "head_top",
)

# Drawing skeletons: each format's own standard one, kept compact.
# fmt: off
_COCO17_EDGES = (  # COCO's person_keypoints skeleton, made 0-based
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
    (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)
_COCO18_EDGES = (  # OpenPose's POSE_COCO_PAIRS_RENDER
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11),
    (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)
_BODY25_EDGES = (  # OpenPose's POSE_BODY_25_PAIRS_RENDER
    (1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11),
    (8, 12), (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18), (14, 19),
    (19, 20), (14, 21), (11, 22), (22, 23), (11, 24),
)
_BLAZEPOSE33_EDGES = (  # MediaPipe's POSE_CONNECTIONS
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10), (11, 12),
    (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19), (12, 14), (14, 16),
    (16, 18), (16, 20), (16, 22), (18, 20), (11, 23), (12, 24), (23, 24), (23, 25),
    (24, 26), (25, 27), (26, 28), (27, 29), (28, 30), (29, 31), (30, 32), (27, 31),
    (28, 32),
)
_H36M17_EDGES = (
    (0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6), (0, 7), (7, 8), (8, 9), (9, 10),
    (8, 11), (11, 12), (12, 13), (8, 14), (14, 15), (15, 16),
)
_LSP14_EDGES = (
    (0, 1), (1, 2), (3, 4), (4, 5), (6, 7), (7, 8), (9, 10), (10, 11), (2, 3), (2, 8),
    (3, 9), (8, 12), (9, 12), (12, 13),
)
# fmt: on

SMPL24 = KeypointFormat(
    name="smpl24",
    keypoint_names=SMPL_JOINT_NAMES,
    edges=_tree_edges(SMPL_PARENTS),
    smpl_sources=tuple((i,) for i in range(len(SMPL_JOINT_NAMES))),
)
COCO17 = KeypointFormat(
    name="coco17",
    keypoint_names=_COCO17_NAMES,
    edges=_COCO17_EDGES,
    smpl_sources=_sources(_COCO17_NAMES, _SMPL_OUTPUT_SOURCES),
)
COCO18 = KeypointFormat(
    name="coco18",
    keypoint_names=_COCO18_NAMES,
    edges=_COCO18_EDGES,
    smpl_sources=_sources(_COCO18_NAMES, _SMPL_OUTPUT_SOURCES),
)
BODY25 = KeypointFormat(
    name="body25",
    keypoint_names=_BODY25_NAMES,
    edges=_BODY25_EDGES,
    smpl_sources=_sources(_BODY25_NAMES, _SMPL_OUTPUT_SOURCES),
)
# Eye inner/outer corners and mouth corners have no SMPL point: their sources are None.
BLAZEPOSE33 = KeypointFormat(
    name="blazepose33",
    keypoint_names=_BLAZEPOSE33_NAMES,
    edges=_BLAZEPOSE33_EDGES,
    smpl_sources=_sources(_BLAZEPOSE33_NAMES, _SMPL_OUTPUT_SOURCES),
)
H36M17 = KeypointFormat(
    name="h36m17",
    keypoint_names=H36M_NAMES,
    edges=_H36M17_EDGES,
    smpl_sources=_sources(H36M_NAMES, _H36M_SOURCES),
)
# Evaluation joints: a named subset of H36M17, so its SMPL sources follow from the names.
LSP14 = KeypointFormat(
    name="lsp14",
    keypoint_names=_LSP14_NAMES,
    edges=_LSP14_EDGES,
    smpl_sources=_sources(_LSP14_NAMES, _H36M_SOURCES),
)

# --- registry --------------------------------------------------------------------------------

_FORMATS: dict[str, KeypointFormat] = {
    f.name: f for f in (SMPL24, COCO17, COCO18, BODY25, BLAZEPOSE33, H36M17, LSP14)
}

# Keys are normalised (see _normalise), so 'COCO-18', 'coco_18' and 'body_25' need no entry.
_ALIASES: dict[str, str] = {
    "smpl": "smpl24",
    "coco": "coco17",
    "openpose": "coco18",
    "openpose18": "coco18",
    "openpose25": "body25",
    "blazepose": "blazepose33",
    "mediapipe": "blazepose33",
    "h36m": "h36m17",
    "human36m": "h36m17",
    "lsp": "lsp14",
}


def _normalise(name: str) -> str:
    return "".join(c for c in name.lower() if c not in "-_ .")


def list_formats() -> tuple[str, ...]:
    """Canonical format names, in registry order."""
    return tuple(_FORMATS)


def get_format(name: str | KeypointFormat) -> KeypointFormat:
    """Look a format up by name or alias, case- and punctuation-insensitively.

    A KeypointFormat passes through, so every API can take either.
    """
    if isinstance(name, KeypointFormat):
        return name
    key = _normalise(name)
    key = _ALIASES.get(key, key)
    if key in _FORMATS:
        return _FORMATS[key]
    raise UnknownKeypointFormatError(
        f"unknown keypoint format {name!r}; known formats: {', '.join(_FORMATS)} "
        f"(aliases: {', '.join(_ALIASES)})"
    )
