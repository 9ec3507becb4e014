"""Synthetic human motion: the pose prior Key2Mesh pre-trains on when AMASS is not at hand.

Each sequence is one activity (stand, walk, run, sit, ...) drawn from a parametric generator
with per-sequence random parameters (speed, amplitude, asymmetry, arm and leg style), plus
small temporally smooth noise on every joint, clamped to per-joint anatomical limits. The
result is a MotionBank, the same currency as AMASS, so training code cannot tell them apart.

Pose representation: every joint (root included) is three Euler angles in degrees about the
x, y and z axes of SMPL's joint frame (y up, body facing +z, +x on the body's left), always
stored in x, y, z column order. They compose as *intrinsic* rotations in the order given by
EULER_ORDERS: "XYZ" (R = Rx @ Ry @ Rz) for every joint but the elbows, whose flexion about y
exceeds 90 degrees and therefore comes first ("YXZ"); with every middle angle kept within
+-90 degrees by the limit table, the angles of a rotation are unique, so a bank's axis-angle
poses decode back to the Euler angles they were made from (`axis_angle_to_euler`).

Left and right are mirror images: for a right-side joint, angles about y and z change sign
(x stays), which is how the limit table and the generators describe both sides at once.
Generators build every pose for a "lead" side (the left) and half the sequences are mirrored.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy.spatial.transform import Rotation

from k2m_core.body.skeleton import NUM_BODY_POSE_JOINTS, NUM_SMPL_JOINTS, SMPL_JOINT_NAMES
from k2m_core.data.motion_bank import MotionBank

Span = float | tuple[float, float]
Range3 = tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
BoxSpec = Mapping[str, tuple[Span, Span, Span]]
Seed = int | Sequence[int]

X, Y, Z = 0, 1, 2
_J: dict[str, int] = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}
_SIDED_PARTS = ("hip", "knee", "ankle", "foot", "collar", "shoulder", "elbow", "wrist", "hand")
_MIRROR_SIGNS = np.array([1.0, -1.0, -1.0])

# ---------------------------------------------------------------------------------------------
# Joint limits
# ---------------------------------------------------------------------------------------------

# Degrees, (x, y, z) ranges in SMPL's joint frame, left side (the right side is the mirror).
# Sources: clinical range-of-motion norms (AAOS; Soucie et al. 2011) mapped onto SMPL's axes
# (-x flexes a hip, +x bends a knee, -y flexes the left elbow, -z lowers the left arm from
# T-pose), widened a little where SMPL's joints absorb neighbouring motion (the wrist carries
# forearm twist, spine joints share the trunk's range, the head shares the neck's). A box in
# Euler angles cannot express coupled limits (a shoulder's twist range depends on where the
# arm points); it is a safety net, and the generators aim well inside it.
_PART_LIMITS: dict[str, Range3] = {
    # -x flexion (thigh forward) to +x extension; +y external rotation; +z abduction.
    "hip": ((-125.0, 30.0), (-35.0, 45.0), (-25.0, 45.0)),
    # hinge: flexion about +x, a little tibial rotation only.
    "knee": ((0.0, 150.0), (-10.0, 10.0), (-5.0, 5.0)),
    # -x dorsiflexion, +x plantarflexion; y, z: foot turning and inversion/eversion.
    "ankle": ((-40.0, 60.0), (-25.0, 25.0), (-25.0, 25.0)),
    # toes: -x extension (toes up) to +x flexion.
    "foot": ((-50.0, 30.0), (-5.0, 5.0), (-5.0, 5.0)),
    # +x bends forward, y twists, z bends sideways; the trunk's range shared by three joints.
    "spine1": ((-25.0, 45.0), (-25.0, 25.0), (-25.0, 25.0)),
    "spine2": ((-20.0, 35.0), (-25.0, 25.0), (-20.0, 20.0)),
    "spine3": ((-20.0, 30.0), (-25.0, 25.0), (-20.0, 20.0)),
    "neck": ((-35.0, 45.0), (-45.0, 45.0), (-25.0, 25.0)),
    "head": ((-40.0, 40.0), (-45.0, 45.0), (-25.0, 25.0)),
    # shoulder girdle: small; +z elevates (shrugs) the left shoulder.
    "collar": ((-15.0, 15.0), (-20.0, 15.0), (-15.0, 30.0)),
    # hanging arm (z near -80): -x raises it forward (to overhead near -170), +x swings it
    # back, y twists it (- internal); z: -115 (across the body) to +95 (raised sideways).
    "shoulder": ((-175.0, 75.0), (-85.0, 60.0), (-115.0, 95.0)),
    # hinge: flexion is -y on the left; x, z small (forearm twist lives mostly in the wrist).
    "elbow": ((-20.0, 20.0), (-150.0, 0.0), (-15.0, 15.0)),
    # x forearm twist, y radial/ulnar deviation, z flexion/extension.
    "wrist": ((-60.0, 60.0), (-30.0, 30.0), (-70.0, 70.0)),
    "hand": ((-15.0, 15.0), (-15.0, 15.0), (-30.0, 30.0)),
}

# Pelvis orientation: +x pitches forward (deep bends reach 85), y yaw, z roll.
ROOT_LIMITS_DEG: Range3 = ((-30.0, 85.0), (-45.0, 45.0), (-20.0, 20.0))


def _mirror_range(r: Range3) -> Range3:
    """Limits of the right-side joint: y and z ranges negated and swapped end for end."""
    (xl, xh), (yl, yh), (zl, zh) = r
    return ((xl, xh), (-yh, -yl), (-zh, -zl))


def _joint_limits() -> dict[str, Range3]:
    limits: dict[str, Range3] = {}
    for name in SMPL_JOINT_NAMES[1:]:
        side, _, part = name.partition("_")
        if part in _SIDED_PARTS:
            base = _PART_LIMITS[part]
            limits[name] = base if side == "left" else _mirror_range(base)
        else:
            limits[name] = _PART_LIMITS[name]
    return limits


JOINT_LIMITS_DEG: dict[str, Range3] = _joint_limits()
"""(x, y, z) ranges in degrees of each of the 23 body joints, by SMPL joint name."""

_ALL_LIMITS = np.array([ROOT_LIMITS_DEG, *JOINT_LIMITS_DEG.values()])  # (24, 3, 2)
LIMITS_LOW_DEG: np.ndarray = _ALL_LIMITS[1:, :, 0].copy()
"""(23, 3) lower limits, body joints in SMPL order (root excluded)."""
LIMITS_HIGH_DEG: np.ndarray = _ALL_LIMITS[1:, :, 1].copy()
"""(23, 3) upper limits, body joints in SMPL order (root excluded)."""

EULER_ORDERS: tuple[str, ...] = tuple(
    "YXZ" if name.endswith("elbow") else "XYZ" for name in SMPL_JOINT_NAMES[1:]
)
"""Intrinsic Euler order of each body joint (root: "XYZ"); angles are stored x, y, z."""
ROOT_EULER_ORDER = "XYZ"


def _limits_for(num_joints: int) -> tuple[np.ndarray, np.ndarray]:
    """Low and high (J, 3) for a body (23 joints) or a full pose (24, root first)."""
    if num_joints == NUM_SMPL_JOINTS:
        return _ALL_LIMITS[:, :, 0], _ALL_LIMITS[:, :, 1]
    if num_joints == NUM_BODY_POSE_JOINTS:
        return LIMITS_LOW_DEG, LIMITS_HIGH_DEG
    raise ValueError(f"expected 23 body joints or 24 with the root, got {num_joints}")


def _orders_for(num_joints: int) -> tuple[str, ...]:
    _limits_for(num_joints)  # validates the count
    return EULER_ORDERS if num_joints == NUM_BODY_POSE_JOINTS else (ROOT_EULER_ORDER, *EULER_ORDERS)


def clamp_to_limits(euler: np.ndarray) -> np.ndarray:
    """Clip Euler angles (degrees; (..., 23, 3) body, or (..., 24, 3) with the root first)
    into the limit table, so that no generated pose bends a joint the wrong way."""
    euler = np.asarray(euler)
    low, high = _limits_for(euler.shape[-2])
    return np.clip(euler, low, high)


def within_limits(euler: np.ndarray, tolerance_deg: float = 1e-3) -> np.ndarray:
    """(...,) bool: every joint of the pose inside its limits (same shapes as clamp_to_limits)."""
    euler = np.asarray(euler)
    low, high = _limits_for(euler.shape[-2])
    inside = (euler >= low - tolerance_deg) & (euler <= high + tolerance_deg)
    return inside.all(axis=(-2, -1))


def _order_groups(num_joints: int) -> list[tuple[str, list[int], list[int]]]:
    """(order, joints using it, the x/y/z column of each angle in that order)."""
    orders = _orders_for(num_joints)
    return [
        (order, [j for j, o in enumerate(orders) if o == order], ["XYZ".index(a) for a in order])
        for order in sorted(set(orders))
    ]


def _axis_quaternions(angles_deg: np.ndarray, axis: str) -> np.ndarray:
    """(..., 4) scalar-first quaternions of rotations about one coordinate axis."""
    half = np.radians(angles_deg) / 2.0
    q = np.zeros((*half.shape, 4))
    q[..., 0] = np.cos(half)
    q[..., 1 + "XYZ".index(axis)] = np.sin(half)
    return q


def _quaternion_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def _quaternion_to_axis_angle(q: np.ndarray) -> np.ndarray:
    """Scalar-first quaternions to axis-angle, angle in [0, pi] (w made >= 0 first)."""
    q = np.where(q[..., :1] < 0.0, -q, q)
    vec_norm = np.linalg.norm(q[..., 1:], axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(vec_norm, q[..., :1])
    small = vec_norm < 1e-8  # angle ~ 2 |v|: the limit of angle / |v| is 2
    scale = np.where(small, 2.0, angle / np.where(small, 1.0, vec_norm))
    return q[..., 1:] * scale


def euler_to_axis_angle(euler: np.ndarray) -> np.ndarray:
    """Euler degrees (..., 23 or 24, 3), x/y/z columns, EULER_ORDERS -> axis-angle radians.

    Composed as quaternions in numpy: the same rotations as scipy's
    Rotation.from_euler(order, ...).as_rotvec() (the tests check it) at a tenth of the time,
    which is most of what generating a large bank costs.
    """
    euler = np.asarray(euler, dtype=np.float64)
    quat = np.empty((*euler.shape[:-1], 4))
    for order, joints, cols in _order_groups(euler.shape[-2]):
        angles = euler[..., joints, :]
        q = _axis_quaternions(angles[..., cols[0]], order[0])
        for col, axis in zip(cols[1:], order[1:], strict=True):
            q = _quaternion_product(q, _axis_quaternions(angles[..., col], axis))
        quat[..., joints, :] = q
    return _quaternion_to_axis_angle(quat)


def axis_angle_to_euler(axis_angle: np.ndarray) -> np.ndarray:
    """Inverse of euler_to_axis_angle: lets any bank (AMASS too) be checked against limits."""
    axis_angle = np.asarray(axis_angle, dtype=np.float64)
    out = np.empty_like(axis_angle)
    for order, joints, cols in _order_groups(axis_angle.shape[-2]):
        sub = axis_angle[..., joints, :]
        angles = Rotation.from_rotvec(sub.reshape(-1, 3)).as_euler(order, degrees=True)
        decoded = np.empty_like(angles)
        decoded[:, cols] = angles
        out[..., joints, :] = decoded.reshape(sub.shape)
    return out


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------


@cache
def _targets(key: str) -> tuple[tuple[int, np.ndarray], ...]:
    """Joints a spec key addresses, with the sign flips of each axis.

    Keys: a centre joint ("root", "spine2"), a sided part for both sides ("elbow"), or one
    side as "lead_elbow" (left) / "other_elbow" (right). Values are always written for the
    left side; right-side joints get their y and z negated (the mirror image).
    """
    keep = np.ones(3)
    if key == "root":
        return ((0, keep),)
    if key in _J:
        return ((_J[key], keep),)
    role, _, part = key.partition("_")
    if key in _SIDED_PARTS:
        return ((_J[f"left_{key}"], keep), (_J[f"right_{key}"], _MIRROR_SIGNS))
    if role in ("lead", "other") and part in _SIDED_PARTS:
        side = "left" if role == "lead" else "right"
        return ((_J[f"{side}_{part}"], keep if role == "lead" else _MIRROR_SIGNS),)
    raise KeyError(f"unknown pose key {key!r}")


def _add(pose: np.ndarray, key: str, axis: int, value: np.ndarray | float) -> None:
    """pose[..., joint, axis] += value for every joint the key names (mirrored on the right)."""
    for joint, signs in _targets(key):
        pose[..., joint, axis] += signs[axis] * value


def _compile_box(spec: BoxSpec) -> tuple[np.ndarray, np.ndarray]:
    """(24, 3) low and high angles; joints the spec leaves out stay at 0. Later keys win."""
    low, high = np.zeros((NUM_SMPL_JOINTS, 3)), np.zeros((NUM_SMPL_JOINTS, 3))
    for key, spans in spec.items():
        for axis, span in enumerate(spans):
            lo, hi = (span, span) if isinstance(span, int | float) else span
            for joint, signs in _targets(key):
                a, b = signs[axis] * lo, signs[axis] * hi
                low[joint, axis], high[joint, axis] = min(a, b), max(a, b)
    return low, high


def _merge(*specs: BoxSpec) -> dict[str, tuple[Span, Span, Span]]:
    """One spec from several; for a joint named in more than one (directly or through a
    sided part), the later spec wins because _compile_box applies keys in order."""
    merged: dict[str, tuple[Span, Span, Span]] = {}
    for spec in specs:
        for key, value in spec.items():
            merged.pop(key, None)
            merged[key] = value
    return merged


@dataclass(frozen=True)
class _Draw:
    """Random parameters for n sequences of one activity, each (n, 1) to broadcast over time.

    With `extreme` (the held-out set), ranges are sampled from a U-shaped Beta(0.5, 0.5), so
    values pile up near both ends instead of spreading evenly.
    """

    rng: np.random.Generator
    n: int
    extreme: bool = False

    def _unit(self, shape: tuple[int, ...]) -> np.ndarray:
        return self.rng.beta(0.5, 0.5, shape) if self.extreme else self.rng.random(shape)

    def uniform(self, low: float, high: float) -> np.ndarray:
        return low + (high - low) * self._unit((self.n, 1))

    def phase(self) -> np.ndarray:
        """Uniform in [0, 1) even in extreme mode: a cycle has no extreme phase."""
        return self.rng.random((self.n, 1))

    def chance(self, p: float) -> np.ndarray:
        return self.rng.random((self.n, 1)) < p

    def pick(self, weights: Sequence[float]) -> np.ndarray:
        p = np.asarray(weights, dtype=np.float64)
        return self.rng.choice(len(p), size=self.n, p=p / p.sum())

    def box(self, spec: BoxSpec) -> np.ndarray:
        """(n, 1, 24, 3) static poses, each angle uniform in its span."""
        low, high = _compile_box(spec)
        return (low + (high - low) * self._unit((self.n, NUM_SMPL_JOINTS, 3)))[:, None]

    def styles(self, specs: Sequence[tuple[float, BoxSpec]]) -> tuple[np.ndarray, np.ndarray]:
        """A weighted choice of box per sequence: (poses (n, 1, 24, 3), chosen index (n,))."""
        choice = self.pick([w for w, _ in specs])
        poses = np.zeros((self.n, 1, NUM_SMPL_JOINTS, 3))
        for k, (_, spec) in enumerate(specs):
            chosen = np.flatnonzero(choice == k)
            if len(chosen):
                poses[chosen] = _Draw(self.rng, len(chosen), self.extreme).box(spec)
        return poses, choice


def _smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def _bump(phase: np.ndarray, centre: float, width: float) -> np.ndarray:
    """Periodic bump (von Mises) at `centre` with full width `width` at half height, in cycles:
    the building block of gait curves, smooth across the cycle boundary."""
    kappa = math.log(2.0) / (1.0 - math.cos(math.pi * width))
    return np.exp(kappa * (np.cos(2.0 * np.pi * (phase - centre)) - 1.0))


def _slow_wave(
    draw: _Draw, t: np.ndarray, amplitude: np.ndarray | float, hz: tuple[float, float]
) -> np.ndarray:
    """(n, T) sum of two random low-frequency sinusoids, peak about +-amplitude: idle drifts
    such as looking around or shifting weight."""
    total = np.zeros((draw.n, len(t)))
    for _ in range(2):
        f = draw.rng.uniform(*hz, (draw.n, 1))
        total += np.sin(2.0 * np.pi * (f * t + draw.phase()))
    return 0.5 * amplitude * total


def _envelope(
    draw: _Draw,
    t: np.ndarray,
    weights: Sequence[float],
    start: tuple[float, float] = (0.0, 0.35),
    length: tuple[float, float] = (0.25, 0.5),
    cycle_hz: tuple[float, float] = (0.25, 0.6),
    floor: tuple[float, float] = (0.0, 0.3),
    shortest_s: float = 0.6,
) -> np.ndarray:
    """How far into its pose an activity is at each frame, (n, T) in [0, 1] (0: the neutral
    stance). `weights` choose per sequence among hold (1), enter (0 -> 1), leave (1 -> 0),
    pulse (0 -> 1 -> 0, e.g. reach out and back) and cycle (repeated, e.g. squats, between
    `floor` and 1). Times are fractions of the sequence, so that the change happens whatever
    its length, but no change takes less than `shortest_s`."""
    span = max(float(t[-1]), 1e-6) if len(t) > 1 else 1.0
    mode = draw.pick(weights)[:, None]
    t0 = draw.uniform(*start) * span
    dur = np.maximum(draw.uniform(*length) * span, shortest_s)  # no flailing into poses
    rise = _smoothstep((t - t0) / dur)
    held = draw.uniform(0.0, 0.3) * span
    fall = _smoothstep((t - t0 - dur - held) / dur)
    lowest = draw.uniform(*floor)
    wave = 0.5 - 0.5 * np.cos(2.0 * np.pi * (draw.uniform(*cycle_hz) * t + draw.phase()))
    shapes = [np.ones_like(rise), rise, 1.0 - rise, rise * (1.0 - fall),
              lowest + (1.0 - lowest) * wave]  # fmt: skip
    return np.choose(np.broadcast_to(mode, rise.shape), shapes)


def _blend(neutral: np.ndarray, target: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """(n, T, 24, 3) poses `amount` (n, T) of the way from neutral to target, angle by angle."""
    return neutral + amount[..., None, None] * (target - neutral)


def _feet_flat(pose: np.ndarray, sides: Sequence[str] = ("left", "right")) -> None:
    """Set the ankles so the feet stay level with the ground however the pelvis, hips and knees
    pitch and roll (sagittal and frontal angles add up along a leg to a good approximation)."""
    for side in sides:
        hip, knee, ankle = (_J[f"{side}_{p}"] for p in ("hip", "knee", "ankle"))
        pose[..., ankle, X] = -(pose[..., 0, X] + pose[..., hip, X] + pose[..., knee, X])
        pose[..., ankle, Z] = -(pose[..., 0, Z] + pose[..., hip, Z])


# ---------------------------------------------------------------------------------------------
# Postures shared by activities (all angles for the left, i.e. lead, side; see _targets)
# ---------------------------------------------------------------------------------------------

_TORSO_UPRIGHT: BoxSpec = {
    "root": ((-3, 5), 0, (-2, 2)),
    "spine1": ((-3, 6), (-4, 4), (-3, 3)),
    "spine2": ((-3, 5), (-4, 4), (-3, 3)),
    "spine3": ((-3, 5), (-4, 4), (-3, 3)),
    "neck": ((-5, 15), (-10, 10), (-4, 4)),
    "head": ((-8, 10), (-10, 10), (-4, 4)),
    "collar": ((-3, 3), (-3, 3), (-3, 3)),
}
_LEGS_STANDING: BoxSpec = {
    "hip": ((-4, 3), (0, 15), (0, 8)),
    "knee": ((0, 8), 0, 0),
    "foot": ((-5, 5), 0, 0),
}
_ARM_HANG: BoxSpec = {
    "shoulder": ((-10, 10), (-10, 15), (-82, -68)),
    "elbow": (0, (-25, -5), 0),
    "wrist": ((-20, 20), (-10, 10), (-15, 10)),
    "hand": (0, 0, (-15, 0)),
}
# Arm postures: centres solved offline from upper-arm and forearm directions (e.g. hands on
# hips: elbow out and a little back, forearm down and in to the iliac crest), then checked by
# rendering; spans give variety around them.
_ARM_ON_HIP: BoxSpec = {
    "shoulder": ((55, 70), (-45, -38), (-35, -20)),
    "elbow": (0, (-100, -85), 0),
    "wrist": ((-10, 10), (-10, 10), (-30, -10)),
}
_ARM_CLASPED_FRONT: BoxSpec = {
    "shoulder": ((-10, 5), (-60, -50), (-82, -76)),
    "elbow": (0, (-75, -55), 0),
    "wrist": ((-20, 10), (-10, 10), (-10, 10)),
}
_ARM_BEHIND_BACK: BoxSpec = {
    "shoulder": ((45, 60), (-80, -70), (-58, -45)),
    "elbow": (0, (-90, -75), 0),
}
_ARM_CROSSED: BoxSpec = {
    "shoulder": ((-20, 10), (-78, -70), (-80, -55)),
    "elbow": (0, (-105, -92), 0),
}
_ARM_PHONE: BoxSpec = {  # texting: forearm forward and up, head down
    "shoulder": ((-20, -5), (-25, -10), (-84, -76)),
    "elbow": (0, (-105, -85), 0),
    "wrist": ((-40, -10), (-10, 10), (-20, 10)),
}
_ARM_CALL: BoxSpec = {  # phone at the ear
    "shoulder": ((-50, -38), (-5, 8), (-68, -55)),
    "elbow": (0, (-148, -135), 0),
    "wrist": ((-20, 10), (-10, 10), (-20, 10)),
}
_ARM_GESTURE: BoxSpec = {
    "shoulder": ((-20, 5), (-15, 10), (-80, -65)),
    "elbow": (0, (-100, -60), 0),
    "wrist": ((-30, 30), (-10, 10), (-20, 20)),
}


def _lead(spec: BoxSpec) -> dict[str, tuple[Span, Span, Span]]:
    """The spec of both arms applied to the lead arm only."""
    return {f"lead_{k}" if k in _SIDED_PARTS else k: v for k, v in spec.items()}


def _other(spec: BoxSpec) -> dict[str, tuple[Span, Span, Span]]:
    return {f"other_{k}" if k in _SIDED_PARTS else k: v for k, v in spec.items()}


_LOOK_DOWN: BoxSpec = {"neck": ((15, 30), (-10, 10), (-4, 4))}

# (weight, arms) of idle arm postures; each gesture amplitude in degrees follows in _IDLE_SWAY.
_IDLE_ARMS: tuple[tuple[float, BoxSpec], ...] = (
    (0.30, _ARM_HANG),
    (0.10, _ARM_ON_HIP),
    (0.10, _merge(_lead(_ARM_ON_HIP), _other(_ARM_HANG))),
    (0.12, _ARM_CLASPED_FRONT),
    (0.07, _ARM_BEHIND_BACK),
    (0.08, _ARM_CROSSED),
    (0.06, _merge(_lead(_ARM_PHONE), _other(_ARM_HANG), _LOOK_DOWN)),
    (0.04, _merge(_lead(_ARM_CALL), _other(_ARM_HANG))),
    (0.13, _ARM_GESTURE),
)
_IDLE_SWAY = np.array([4.0, 2.0, 3.0, 2.0, 2.0, 1.0, 2.0, 2.0, 20.0])  # degrees, per posture


def _thighs_from_world(pose: np.ndarray) -> None:
    """Hip x in a posture box is the thigh's pitch from the vertical in the world; subtract the
    pelvis pitch so that a leaning pelvis does not swing the legs with it."""
    for side in ("left", "right"):
        pose[..., _J[f"{side}_hip"], X] -= pose[..., 0, X]


def _postures(draw: _Draw, specs: Sequence[tuple[float, BoxSpec]]) -> tuple[np.ndarray, np.ndarray]:
    """draw.styles with hip pitch read as the thigh's world pitch (see _thighs_from_world)."""
    poses, choice = draw.styles(specs)
    _thighs_from_world(poses)
    return poses, choice


def _neutral(draw: _Draw) -> np.ndarray:
    """(n, 1, 24, 3) relaxed upright stance, arms hanging: where transitions start from."""
    return _postures(draw, [(1.0, _merge(_TORSO_UPRIGHT, _LEGS_STANDING, _ARM_HANG))])[0]


def _look_around(pose: np.ndarray, draw: _Draw, t: np.ndarray, most: float) -> None:
    """Slow head turns shared between neck and head."""
    yaw = _slow_wave(draw, t, draw.uniform(0.0, most), (0.05, 0.4))
    _add(pose, "neck", Y, 0.4 * yaw)
    _add(pose, "head", Y, 0.6 * yaw)


def _arm_motion(pose: np.ndarray, draw: _Draw, t: np.ndarray, amplitude: np.ndarray) -> None:
    """Talking-style arm movement: slow independent swings of shoulders and elbows."""
    for key, axis, gain in (("shoulder", X, 0.6), ("shoulder", Z, 0.4), ("elbow", Y, 1.0)):
        for side in ("lead", "other"):
            _add(pose, f"{side}_{key}", axis, gain * _slow_wave(draw, t, amplitude, (0.3, 1.2)))


# ---------------------------------------------------------------------------------------------
# Activities
# ---------------------------------------------------------------------------------------------


def _stand(draw: _Draw, t: np.ndarray) -> np.ndarray:
    """Standing: idle sway and weight shifts, looking around, one of several arm postures
    (hanging, hands on hips, clasped, behind the back, crossed, phone, gesturing)."""
    base = _merge(_TORSO_UPRIGHT, _LEGS_STANDING)
    pose, style = _postures(draw, [(w, _merge(base, arms)) for w, arms in _IDLE_ARMS])
    pose = np.repeat(pose, len(t), axis=1)
    shift = _slow_wave(draw, t, draw.uniform(0.0, 4.0), (0.05, 0.3))
    pose[..., 0, Z] += shift
    pose[..., _J["left_hip"], Z] -= shift  # legs stay vertical while the pelvis rolls
    pose[..., _J["right_hip"], Z] -= shift
    pose[..., _J["left_knee"], X] += 2.0 * np.maximum(-shift, 0.0)  # unloaded knee softens
    pose[..., _J["right_knee"], X] += 2.0 * np.maximum(shift, 0.0)
    _add(pose, "root", X, _slow_wave(draw, t, draw.uniform(0.0, 2.0), (0.05, 0.3)))
    _look_around(pose, draw, t, 35.0)
    _arm_motion(pose, draw, t, _IDLE_SWAY[style][:, None] * draw.uniform(0.3, 1.0))
    _feet_flat(pose)
    return pose


@dataclass(frozen=True)
class _Gait:
    """Parameter ranges of a gait. Phase 0 is the lead heel strike; the other leg runs half a
    cycle behind. Angles in degrees (flexion positive), centres and widths in cycles."""

    stride_hz: tuple[float, float]
    hip_mean: tuple[float, float]
    hip_amp: tuple[float, float]
    hip_peak: float
    knee_base: tuple[float, float]
    knee_stance: tuple[float, float]
    stance_at: tuple[float, float]  # centre, width
    knee_swing: tuple[float, float]
    swing_at: tuple[float, float]
    ankle_dorsi: tuple[float, float]
    dorsi_at: tuple[float, float]
    ankle_push: tuple[float, float]
    push_at: tuple[float, float]
    lean: tuple[float, float]
    pelvis_yaw: tuple[float, float]
    pelvis_roll: tuple[float, float]
    arm_swing: tuple[float, float]
    elbow: tuple[float, float]
    arms: BoxSpec
    arm_style_weights: tuple[float, ...]  # over _GAIT_ARMS


_WALK = _Gait(
    stride_hz=(0.75, 1.1), hip_mean=(5, 12), hip_amp=(14, 24), hip_peak=0.9,
    knee_base=(2, 6), knee_stance=(5, 18), stance_at=(0.13, 0.12),
    knee_swing=(45, 62), swing_at=(0.72, 0.22),
    ankle_dorsi=(5, 12), dorsi_at=(0.42, 0.3), ankle_push=(10, 22), push_at=(0.62, 0.2),
    lean=(0, 6), pelvis_yaw=(2, 7), pelvis_roll=(1, 4), arm_swing=(8, 28), elbow=(8, 30),
    arms={"shoulder": ((-5, 5), (-5, 15), (-82, -72)), "wrist": ((-20, 20), 0, (-15, 10))},
    arm_style_weights=(0.72, 0.13, 0.08, 0.07),
)  # fmt: skip
_RUN = _Gait(
    stride_hz=(1.25, 1.6), hip_mean=(15, 25), hip_amp=(28, 38), hip_peak=0.88,
    knee_base=(8, 14), knee_stance=(20, 35), stance_at=(0.15, 0.18),
    knee_swing=(75, 110), swing_at=(0.68, 0.3),
    ankle_dorsi=(10, 20), dorsi_at=(0.2, 0.25), ankle_push=(15, 25), push_at=(0.42, 0.22),
    lean=(5, 15), pelvis_yaw=(4, 10), pelvis_roll=(2, 5), arm_swing=(20, 40), elbow=(70, 100),
    arms={"shoulder": ((-10, 0), (-25, -5), (-80, -65)), "wrist": ((-20, 20), 0, (-20, 5))},
    arm_style_weights=(0.92, 0.08, 0.0, 0.0),
)  # fmt: skip

# (name, arm posture, swing factor of the lead arm, of the other arm)
_GAIT_ARMS: tuple[tuple[str, BoxSpec, float, float], ...] = (
    ("swing", {}, 1.0, 1.0),
    ("carry", _lead({"shoulder": ((-25, -5), (-20, 0), (-82, -72)), "elbow": (0, (-100, -70), 0)}),
     0.1, 1.0),
    ("phone", _merge(_lead(_ARM_PHONE), _LOOK_DOWN), 0.05, 1.0),
    ("hands_behind", _ARM_BEHIND_BACK, 0.0, 0.0),
)  # fmt: skip


def _gait(draw: _Draw, t: np.ndarray, g: _Gait) -> np.ndarray:
    """A walking or running cycle: hip, knee, ankle and toe curves of normal gait, pelvis
    rotation and obliquity, counter-rotating trunk, arms swinging against the legs."""
    base = _merge(_TORSO_UPRIGHT, {"knee": (0, 0, 0)}, _ARM_HANG, g.arms)
    specs = [
        (w, _merge(base, arms))
        for w, (_, arms, _, _) in zip(g.arm_style_weights, _GAIT_ARMS, strict=True)
    ]
    pose, style = _postures(draw, specs)
    pose = np.repeat(pose, len(t), axis=1)
    phase = draw.uniform(*g.stride_hz) * t + draw.phase()
    lean = draw.uniform(*g.lean)
    hip_mean, hip_amp = draw.uniform(*g.hip_mean), draw.uniform(*g.hip_amp)
    knee = [draw.uniform(*r) for r in (g.knee_base, g.knee_stance, g.knee_swing)]
    ankle = [draw.uniform(*r) for r in (g.ankle_dorsi, g.ankle_push)]
    for side, offset in (("lead", 0.0), ("other", 0.5)):
        p = phase + offset
        flex = hip_mean + hip_amp * np.cos(2.0 * np.pi * (p - g.hip_peak))
        _add(pose, f"{side}_hip", X, -flex - lean)  # thigh angle measured from the vertical
        bend = knee[0] + knee[1] * _bump(p, *g.stance_at) + knee[2] * _bump(p, *g.swing_at)
        _add(pose, f"{side}_knee", X, bend)
        push = ankle[1] * _bump(p, *g.push_at)
        _add(pose, f"{side}_ankle", X, push - ankle[0] * _bump(p, *g.dorsi_at))
        _add(pose, f"{side}_foot", X, -0.8 * push)
    cycle = 2.0 * np.pi * (phase - g.hip_peak)
    yaw = -draw.uniform(*g.pelvis_yaw) * np.cos(cycle)  # lead hip forward with the lead leg
    roll = draw.uniform(*g.pelvis_roll) * np.sin(cycle + 0.5 * np.pi)
    pose[..., 0, X] += lean
    pose[..., 0, Y] += yaw
    pose[..., 0, Z] += roll
    for side in ("left", "right"):  # legs keep pointing forward and down
        pose[..., _J[f"{side}_hip"], Y] -= yaw
        pose[..., _J[f"{side}_hip"], Z] -= roll
        pose[..., _J[f"{side}_ankle"], Z] -= 0.5 * roll
    for spine, share in (("spine2", 0.3), ("spine3", 0.4)):
        _add(pose, spine, Y, -share * yaw)
    swing = draw.uniform(*g.arm_swing) * np.cos(cycle)  # lead arm back as the lead leg swings
    elbow = draw.uniform(*g.elbow)
    factors = np.array([(lead, other) for _, _, lead, other in _GAIT_ARMS])[style]
    lead_f, other_f = factors[:, :1], factors[:, 1:]
    _add(pose, "lead_shoulder", X, lead_f * swing)
    _add(pose, "other_shoulder", X, -other_f * swing)
    _add(pose, "lead_elbow", Y, -lead_f * (elbow + 0.25 * np.maximum(-swing, 0.0)))
    _add(pose, "other_elbow", Y, -other_f * (elbow + 0.25 * np.maximum(swing, 0.0)))
    _look_around(pose, draw, t, 20.0)
    return pose


def _walk(draw: _Draw, t: np.ndarray) -> np.ndarray:
    """Walking at 0.75-1.1 strides per second; some walkers carry something or use a phone."""
    return _gait(draw, t, _WALK)


def _run(draw: _Draw, t: np.ndarray) -> np.ndarray:
    """Running from jog to fast run: bigger hip and knee swings, forward lean, bent elbows."""
    return _gait(draw, t, _RUN)


_SIT_LEGS: BoxSpec = {
    "root": ((-12, 6), 0, (-3, 3)),
    "hip": ((-100, -78), (0, 20), (2, 18)),
    "knee": ((70, 110), (-5, 5), 0),
    "lead_knee": ((35, 115), (-5, 5), 0),
    "foot": ((-5, 5), 0, 0),
}
_ARM_ON_LAP: BoxSpec = {
    "shoulder": ((-20, -5), (-10, 5), (-86, -78)),
    "elbow": (0, (-45, -25), 0),
    "wrist": ((-20, 20), 0, (-20, 10)),
}
_ARM_FOREARMS_FORWARD: BoxSpec = {
    "shoulder": ((-30, -5), (-15, 5), (-75, -60)),
    "elbow": (0, (-100, -75), 0),
    "wrist": ((-20, 20), 0, (-20, 20)),
}
_ELBOWS_ON_KNEES: BoxSpec = {
    "root": ((12, 25), 0, (-3, 3)),
    "spine1": ((8, 15), (-4, 4), (-3, 3)),
    "spine2": ((5, 12), (-4, 4), (-3, 3)),
    "spine3": ((5, 12), (-4, 4), (-3, 3)),
    "neck": ((-25, -5), (-10, 10), (-4, 4)),
    "shoulder": ((-70, -45), (-20, 0), (-80, -70)),
    "elbow": (0, (-110, -85), 0),
}
_SIT_ARMS: tuple[tuple[float, BoxSpec], ...] = (
    (0.35, _ARM_ON_LAP),
    (0.20, _ARM_FOREARMS_FORWARD),
    (0.12, _ELBOWS_ON_KNEES),
    (0.10, _merge(_lead(_ARM_PHONE), _other(_ARM_ON_LAP), _LOOK_DOWN)),
    (0.08, _ARM_CROSSED),
    (0.15, _merge(_lead(_ARM_GESTURE), _other(_ARM_ON_LAP))),
)


def _sit(draw: _Draw, t: np.ndarray) -> np.ndarray:
    """Sitting on a chair: thighs near horizontal, shins near vertical, feet on the floor, the
    trunk upright, leaning back or forward; hands on the lap, forward, on the knees, phone...
    A third of the sequences sit down or stand up, leaning forward on the way."""
    specs = [(w, _merge(_TORSO_UPRIGHT, _SIT_LEGS, arms)) for w, arms in _SIT_ARMS]
    target, _ = _postures(draw, specs)
    amount = _envelope(draw, t, (0.65, 0.15, 0.15, 0.05, 0.0))
    pose = _blend(_neutral(draw), target, amount)
    lean = draw.uniform(15.0, 30.0) * 4.0 * amount * (1.0 - amount)  # over the feet to rise
    pose[..., 0, X] += lean
    _add(pose, "hip", X, -lean)
    _look_around(pose, draw, t, 30.0)
    _arm_motion(pose, draw, t, draw.uniform(0.0, 6.0))
    _feet_flat(pose)
    return pose


_CROUCH_ARMS: tuple[tuple[float, BoxSpec], ...] = (
    (0.30, {"shoulder": ((-95, -65), (-15, 5), (-85, -70)), "elbow": (0, (-25, 0), 0)}),
    (0.25, {"shoulder": ((-55, -30), (-20, 0), (-80, -65)), "elbow": (0, (-35, -10), 0)}),
    (0.25, {"shoulder": ((-50, -30), (-40, -20), (-80, -70)), "elbow": (0, (-110, -80), 0)}),
    (0.20, {"shoulder": ((-40, -15), (-10, 10), (-82, -70)), "elbow": (0, (-20, -5), 0)}),
)
_CROUCH_BODY: BoxSpec = {
    "hip": (0, (0, 15), (8, 25)),
    "foot": ((-5, 5), 0, 0),
    "spine1": ((-5, 15), (-5, 5), (-3, 3)),
    "spine2": ((-5, 12), (-5, 5), (-3, 3)),
    "spine3": ((-5, 10), (-5, 5), (-3, 3)),
    "neck": ((-30, -5), (-10, 10), (-4, 4)),
}


def _crouch(draw: _Draw, t: np.ndarray) -> np.ndarray:
    """Crouching and squatting: thighs 65-105 degrees forward of vertical, shins leaning
    forward, heels down, knees apart, the trunk leaning over the feet for balance; arms out
    front, on the knees, clasped or hanging. Some sequences squat repeatedly or get down."""
    specs = [(w, _merge(_TORSO_UPRIGHT, _CROUCH_BODY, arms)) for w, arms in _CROUCH_ARMS]
    target, _ = _postures(draw, specs)
    thigh, shin = draw.uniform(65.0, 105.0), draw.uniform(15.0, 38.0)
    # deeper squats lean further to keep the weight over the feet; hip flexion stays <= 125
    pelvis = np.clip(draw.uniform(5.0, 40.0), 0.35 * thigh - 10.0, 125.0 - thigh)
    target[..., 0, X] += pelvis
    for side in ("lead", "other"):
        _add(target, f"{side}_hip", X, -(thigh + pelvis + draw.uniform(-5.0, 5.0)))
        _add(target, f"{side}_knee", X, thigh + shin)
    amount = _envelope(draw, t, (0.5, 0.12, 0.1, 0.03, 0.25), floor=(0.0, 0.4))
    pose = _blend(_neutral(draw), target, amount)
    _look_around(pose, draw, t, 25.0)
    _feet_flat(pose)
    return pose


# A knee on the ground with the toes tucked needs the shin tilted up behind it (shin pitch
# 100-115 degrees, so knee flexion exceeds 90) for the foot to fit under the ankle; with the
# instep flat, the ankle is fully plantarflexed instead.
_TUCKED_TOES: BoxSpec = {
    "knee": ((100, 120), 0, 0),
    "ankle": ((10, 30), 0, 0),
    "foot": ((-50, -35), 0, 0),
}
_KNEEL_LEGS: tuple[tuple[float, BoxSpec], ...] = (
    (0.40, _merge({  # on the other knee, lead foot planted in front
        "root": ((-5, 10), 0, (-3, 3)),
        "lead_hip": ((-95, -75), (0, 10), (0, 12)), "lead_knee": ((80, 105), 0, 0),
        "other_hip": ((-10, 10), (-5, 10), (0, 8)),
    }, _other(_TUCKED_TOES))),
    (0.20, _merge({  # upright on both knees
        "root": ((-5, 10), 0, (-2, 2)), "hip": ((-15, 5), (0, 10), (0, 8)),
    }, _TUCKED_TOES)),
    (0.15, {  # upright on both knees, insteps flat on the floor
        "root": ((-5, 10), 0, (-2, 2)), "hip": ((-15, 5), (0, 10), (0, 8)),
        "knee": ((88, 100), 0, 0), "ankle": ((50, 60), 0, 0), "foot": ((0, 10), 0, 0),
    }),
    (0.25, _merge({  # sitting back on the heels
        "root": ((5, 25), 0, (-2, 2)), "hip": ((-50, -35), (0, 10), (2, 10)),
    }, _TUCKED_TOES, {"knee": ((140, 150), 0, 0)})),
)  # fmt: skip
_KNEEL_ARMS: tuple[tuple[float, BoxSpec], ...] = (
    (0.30, _ARM_HANG),
    (0.30, {"shoulder": ((-40, -20), (-15, 5), (-80, -68)), "elbow": (0, (-50, -20), 0)}),
    (0.15, _ARM_CLASPED_FRONT),
    (0.25, {"shoulder": ((-70, -40), (-25, 0), (-80, -65)), "elbow": (0, (-90, -50), 0)}),
)


def _kneel(draw: _Draw, t: np.ndarray) -> np.ndarray:
    """Kneeling on one knee (other foot planted in front), upright on both knees, or sitting
    back on the heels; a quarter of the sequences get down or up."""
    specs = [
        (wl * wa, _merge(_TORSO_UPRIGHT, legs, arms))
        for wl, legs in _KNEEL_LEGS
        for wa, arms in _KNEEL_ARMS
    ]
    target, style = _postures(draw, specs)
    amount = _envelope(draw, t, (0.75, 0.15, 0.1, 0.0, 0.0))
    pose = _blend(_neutral(draw), target, amount)
    _look_around(pose, draw, t, 30.0)
    _arm_motion(pose, draw, t, draw.uniform(0.0, 8.0))
    # Feet on the floor stay flat: both while standing, the front one of a single-knee kneel;
    # a kneeling leg's foot keeps its own angles, blended in as the body gets down.
    one_knee = (style // len(_KNEEL_ARMS)) == 0  # the first leg posture
    standing = pose.copy()
    _feet_flat(standing)
    kneeling = pose.copy()
    _feet_flat(kneeling, ("left",))
    kneeling = np.where(one_knee[:, None, None, None], kneeling, pose)
    return _blend(kneeling, standing, 1.0 - amount)


_BEND_ARMS: tuple[tuple[float, BoxSpec, float, float], ...] = (
    # (weight, arms, share of the trunk's pitch the lead / other shoulder undoes to hang)
    (0.40, _ARM_HANG, 1.0, 1.0),
    (0.20, {"shoulder": ((-40, -15), (-10, 10), (-80, -70)), "elbow": (0, (-15, 0), 0)},
     1.0, 1.0),
    (0.20, {"shoulder": (0, (-20, 0), (-80, -68)), "elbow": (0, (-35, -10), 0)}, 0.45, 0.45),
    (0.20, _merge(_lead({"shoulder": ((-40, -15), (-10, 10), (-80, -70))}),
                  _other({"shoulder": (0, (-20, 0), (-80, -68)), "elbow": (0, (-35, -10), 0)})),
     1.0, 0.45),
)  # fmt: skip


def _bend(draw: _Draw, t: np.ndarray) -> np.ndarray:
    """Bending forward at the hips and spine (30-100 degrees of trunk pitch), legs straight or
    half-squatting; arms hang, reach for the floor or rest on the knees; many sequences go
    down and come back up as if picking something up."""
    base = _merge(_TORSO_UPRIGHT, _LEGS_STANDING, {"neck": ((-35, 5), (-10, 10), (-4, 4))})
    specs = [(w, _merge(base, arms)) for w, arms, _, _ in _BEND_ARMS]
    target, style = _postures(draw, specs)
    flex = draw.uniform(30.0, 100.0)
    pelvis = np.minimum(draw.uniform(0.6, 0.8) * flex, 85.0)  # most of a bend is at the hips
    spine = flex - pelvis
    thigh = np.where(draw.chance(0.35), draw.uniform(15.0, 45.0), draw.uniform(0.0, 8.0))
    target[..., 0, X] += pelvis
    for joint, share in (("spine1", 0.4), ("spine2", 0.35), ("spine3", 0.25)):
        _add(target, joint, X, share * spine)
    _add(target, "hip", X, -(thigh + pelvis))
    _add(target, "knee", X, 1.6 * thigh)
    shares = np.array([(lead, other) for _, _, lead, other in _BEND_ARMS])[style]
    _add(target, "lead_shoulder", X, -(shares[:, :1] * flex))
    _add(target, "other_shoulder", X, -(shares[:, 1:] * flex))
    amount = _envelope(draw, t, (0.35, 0.1, 0.1, 0.3, 0.15), floor=(0.0, 0.5))
    pose = _blend(_neutral(draw), target, amount)
    _look_around(pose, draw, t, 20.0)
    _feet_flat(pose)
    return pose


# Lead-arm targets of a reach and the trunk's lean towards them.
_REACH_DIRECTIONS: tuple[tuple[float, BoxSpec], ...] = (
    (0.25, {"shoulder": ((-100, -70), (-25, 10), (-88, -72)),
            "spine1": ((0, 8), (-10, 0), (-3, 3)), "spine2": ((0, 8), (-8, 0), (-3, 3))}),
    (0.15, {"shoulder": ((-150, -115), (-20, 10), (-88, -70)),
            "spine1": ((-5, 3), (-8, 0), (-3, 3))}),
    (0.10, {"shoulder": ((-175, -150), (-15, 15), (-80, -55)),
            "spine1": ((-8, 0), (-5, 5), (-6, 0)), "collar": (0, 0, (5, 20))}),
    (0.15, {"shoulder": ((-20, 15), (-10, 25), (-25, 10)),
            "spine1": ((-3, 3), (-5, 5), (-12, 0)), "spine2": ((-3, 3), (-5, 5), (-8, 0))}),
    (0.10, {"shoulder": ((-95, -65), (-30, 0), (-115, -95)),
            "spine1": ((0, 8), (-20, -8), (-3, 3)), "spine2": ((0, 8), (-15, -5), (-3, 3))}),
    (0.15, {"shoulder": ((-75, -50), (-15, 10), (-85, -70)), "root": ((10, 30), 0, (-2, 2)),
            "spine1": ((5, 15), (-8, 0), (-3, 3)), "spine2": ((5, 15), (-5, 5), (-3, 3))}),
    (0.10, {"shoulder": ((45, 65), (-20, 10), (-80, -62)),
            "spine1": ((-5, 5), (5, 15), (-3, 3))}),
)  # fmt: skip
_REACH_ARM: BoxSpec = {"elbow": (0, (-20, 0), 0), "wrist": ((-20, 20), (-10, 10), (-10, 30))}


def _reach(draw: _Draw, t: np.ndarray) -> np.ndarray:
    """Reaching with nearly straight arm(s) forward, forward-up, up, sideways, across the
    body, down in front or behind, the trunk leaning and turning with it; the other arm hangs,
    rests on the hip or reaches the mirrored way. Most sequences reach out and come back."""
    base = _merge(_TORSO_UPRIGHT, _LEGS_STANDING, _ARM_HANG)
    others = ((0.5, _other(_ARM_HANG)), (0.15, _other(_ARM_ON_HIP)), (0.35, None))
    specs = []
    for wd, direction in _REACH_DIRECTIONS:
        arm = _merge(_REACH_ARM, {k: v for k, v in direction.items() if k in _SIDED_PARTS})
        torso = {k: v for k, v in direction.items() if k not in _SIDED_PARTS}
        for wo, other in others:
            arms = arm if other is None else _merge(_lead(arm), other)
            specs.append((wd * wo, _merge(base, torso, arms)))
    target, _ = _postures(draw, specs)
    amount = _envelope(draw, t, (0.25, 0.1, 0.0, 0.45, 0.2), cycle_hz=(0.5, 0.9))
    pose = _blend(_neutral(draw), target, amount)
    _add(pose, "lead_elbow", Y, -draw.uniform(10.0, 40.0) * 4.0 * amount * (1.0 - amount))
    _look_around(pose, draw, t, 15.0)
    _feet_flat(pose)
    return pose


_WAVE_LEAD: tuple[tuple[float, BoxSpec], ...] = (
    # forearm up from a raised, externally rotated upper arm: the elbow sways it side to side
    (0.6, {"shoulder": ((-100, -80), (-40, 5), (-15, 20)), "elbow": (0, (-110, -75), 0),
           "wrist": ((-20, 20), (-10, 10), (-10, 20)), "collar": (0, 0, (0, 10))}),
    # whole arm raised overhead, swinging from the shoulder
    (0.4, {"shoulder": ((-170, -140), (-10, 10), (-75, -55)), "elbow": (0, (-30, -5), 0),
           "collar": (0, 0, (5, 15))}),
)  # fmt: skip


def _wave(draw: _Draw, t: np.ndarray) -> np.ndarray:
    """Waving: one arm (sometimes both) raised, the forearm or the whole arm swinging side to
    side at 1-2.5 Hz; the other arm hangs or rests on the hip."""
    base = _merge(_TORSO_UPRIGHT, _LEGS_STANDING)
    others = ((0.6, _other(_ARM_HANG)), (0.25, _other(_ARM_ON_HIP)), (0.15, None))
    specs, kinds = [], []
    for kind, (wl, lead) in enumerate(_WAVE_LEAD):
        for wo, other in others:
            arms = lead if other is None else _merge(_lead(lead), other)
            specs.append((wl * wo, _merge(base, arms)))
            kinds.append((kind, other is None))
    pose, style = _postures(draw, specs)
    pose = np.repeat(pose, len(t), axis=1)
    kind, both = (np.array(kinds)[style, i][:, None] for i in (0, 1))
    hz = draw.uniform(1.0, 2.5)
    swing = draw.uniform(12.0, 28.0) * np.sin(2.0 * np.pi * (hz * t + draw.phase()))
    forearm, whole_arm = swing * (kind == 0), 0.6 * swing * (kind == 1)
    for side, gain in (("lead", 1.0), ("other", both.astype(float))):
        _add(pose, f"{side}_elbow", Y, gain * forearm)
        _add(pose, f"{side}_shoulder", Z, gain * whole_arm)
        _add(pose, f"{side}_wrist", Z, gain * 0.3 * swing)
    _look_around(pose, draw, t, 20.0)
    _feet_flat(pose)
    return pose


_RAISED_ARMS: tuple[tuple[float, BoxSpec], ...] = (
    (0.35, {"shoulder": ((-175, -150), (-10, 10), (-85, -65)), "elbow": (0, (-15, 0), 0),
            "spine2": ((-8, 2), (-4, 4), (-3, 3))}),  # straight up
    (0.25, {"shoulder": ((-170, -135), (-10, 15), (-55, -30)), "elbow": (0, (-15, 0), 0)}),  # V
    (0.20, {"shoulder": ((-165, -130), (-10, 10), (-75, -55)), "elbow": (0, (-70, -30), 0)}),
    (0.20, {"shoulder": ((-100, -80), (-35, -5), (-10, 20)), "elbow": (0, (-105, -80), 0)}),
)  # fmt: skip


def _arms_raised(draw: _Draw, t: np.ndarray) -> np.ndarray:
    """Both arms up: straight overhead, in a V, cheering with bent elbows, or hands-up with
    forearms vertical; some stretch sideways, some raise the arms early in the sequence."""
    base = _merge(_TORSO_UPRIGHT, _LEGS_STANDING, {"collar": (0, 0, (5, 20))})
    target, _ = _postures(draw, [(w, _merge(base, arms)) for w, arms in _RAISED_ARMS])
    amount = _envelope(
        draw, t, (0.6, 0.25, 0.0, 0.0, 0.15), start=(0.0, 0.1), length=(0.2, 0.35),
        floor=(0.65, 0.85),
    )  # fmt: skip
    pose = _blend(_neutral(draw), target, amount)
    stretch = _slow_wave(draw, t, draw.uniform(0.0, 8.0) * draw.chance(0.4), (0.1, 0.4))
    for spine in ("spine1", "spine2", "spine3"):
        _add(pose, spine, Z, stretch)
    _look_around(pose, draw, t, 20.0)
    _feet_flat(pose)
    return pose


ActivityGenerator = Callable[[_Draw, np.ndarray], np.ndarray]
_GENERATORS: dict[str, ActivityGenerator] = {
    "stand": _stand,
    "walk": _walk,
    "run": _run,
    "sit": _sit,
    "crouch": _crouch,
    "kneel": _kneel,
    "bend": _bend,
    "reach": _reach,
    "wave": _wave,
    "arms_raised": _arms_raised,
}
ACTIVITIES: tuple[str, ...] = tuple(_GENERATORS)
ACTIVITY_DESCRIPTIONS: dict[str, str] = {
    "stand": "standing: sway, weight shifts, looking around, varied arm postures",
    "walk": "walking cycle, 0.75-1.1 strides/s, arms swinging, carrying or on a phone",
    "run": "running cycle, 1.25-1.6 strides/s, forward lean, bent elbows",
    "sit": "sitting on a chair, sometimes sitting down or standing up",
    "crouch": "crouching and squatting, held, repeated, or getting down",
    "kneel": "kneeling on one knee, on both, or back on the heels",
    "bend": "bending forward at hips and spine, e.g. to pick something up",
    "reach": "reaching out with one or both arms in one of seven directions and back",
    "wave": "waving one or both raised arms from the elbow or the shoulder",
    "arms_raised": "both arms raised: overhead, V, cheering, hands up",
}

# ---------------------------------------------------------------------------------------------
# Noise, shape, assembly
# ---------------------------------------------------------------------------------------------

# Standard deviation (degrees) of the smooth noise on each angle.
_NOISE_STD: BoxSpec = {
    "root": (1.2, 1.5, 1.0),
    "hip": (2.5, 2.0, 1.5), "knee": (2.5, 0.5, 0.5), "ankle": (2.0, 1.5, 1.5),
    "foot": (2.0, 0.5, 0.5),
    "spine1": (1.5, 1.5, 1.0), "spine2": (1.5, 1.5, 1.0), "spine3": (1.5, 1.5, 1.0),
    "neck": (3.0, 3.0, 2.0), "head": (3.0, 4.0, 2.0), "collar": (1.5, 1.5, 1.5),
    "shoulder": (4.0, 4.0, 4.0), "elbow": (1.0, 4.0, 1.0), "wrist": (6.0, 4.0, 6.0),
    "hand": (3.0, 3.0, 4.0),
}  # fmt: skip
_NOISE_HZ = (0.08, 0.9)
_NOISE_COMPONENTS = 3


def _smooth_noise(draw: _Draw, t: np.ndarray) -> np.ndarray:
    """(n, T, 24, 3) noise on every angle: a sum of a few random sinusoids below 1 Hz, so it
    wobbles like a person does instead of jittering from frame to frame."""
    std = np.abs(_compile_box(_NOISE_STD)[1])
    shape = (draw.n, 1, NUM_SMPL_JOINTS, 3)
    amp = std * math.sqrt(2.0 / _NOISE_COMPONENTS)  # each sinusoid has variance amp^2 / 2
    tt = t[None, :, None, None]
    out = np.zeros((draw.n, len(t), NUM_SMPL_JOINTS, 3))
    for _ in range(_NOISE_COMPONENTS):
        freq = draw.rng.uniform(*_NOISE_HZ, shape)
        phase = draw.rng.uniform(0.0, 2.0 * np.pi, shape)
        out += amp * draw.rng.standard_normal(shape) * np.sin(2.0 * np.pi * freq * tt + phase)
    return out


_MIRROR_JOINTS = np.array(
    [_J[n.replace("left_", "right_")] if n.startswith("left_") else
     _J[n.replace("right_", "left_")] if n.startswith("right_") else _J[n]
     for n in SMPL_JOINT_NAMES]
)  # fmt: skip


def mirror_euler(euler: np.ndarray) -> np.ndarray:
    """Left-right mirror image of (..., 24, 3) Euler poses: sides swapped, y and z negated."""
    return np.asarray(euler)[..., _MIRROR_JOINTS, :] * _MIRROR_SIGNS


def _finish(draw: _Draw, t: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """Noise, a random side (half the sequences lead with the right) and the limits."""
    pose = pose + draw.uniform(0.5, 1.5)[..., None, None] * _smooth_noise(draw, t)
    flip = draw.chance(0.5)[:, 0]
    pose[flip] = mirror_euler(pose[flip])
    return clamp_to_limits(pose)


def sample_betas(
    rng: np.random.Generator, count: int, sigma: float = 1.0, clip: float = 3.0
) -> np.ndarray:
    """(count, 10) float32 shapes ~ N(0, sigma) clipped to +-clip: bodies SMPL's shape space
    actually describes, never the absurd tails."""
    return np.clip(rng.normal(0.0, sigma, (count, 10)), -clip, clip).astype(np.float32)


def _activity_weights(
    activities: Sequence[str] | Mapping[str, float] | None,
) -> np.ndarray:
    """Probability of each of ACTIVITIES from None (all equal), names, or name -> weight."""
    if activities is None:
        return np.full(len(ACTIVITIES), 1.0 / len(ACTIVITIES))
    if isinstance(activities, str):
        activities = [activities]
    if isinstance(activities, Mapping):
        weights = dict(activities)
    else:
        weights = dict.fromkeys(activities, 1.0)
    unknown = sorted(set(weights) - set(ACTIVITIES))
    if unknown:
        raise ValueError(f"unknown activities {unknown}; known: {', '.join(ACTIVITIES)}")
    p = np.array([float(weights.get(name, 0.0)) for name in ACTIVITIES])
    if np.any(p < 0) or p.sum() <= 0:
        raise ValueError(f"activity weights must be >= 0 with a positive sum, got {weights}")
    return p / p.sum()


def _generate(
    num_sequences: int,
    frames_per_sequence: int,
    activities: Sequence[str] | Mapping[str, float] | None,
    fps: float,
    seed: Seed,
    extreme: bool,
) -> tuple[np.ndarray, np.ndarray, np.random.Generator]:
    """Euler poses, activity indices, and the generator, for shapes to continue its stream."""
    if num_sequences < 0 or frames_per_sequence < 1 or fps <= 0:
        raise ValueError("need num_sequences >= 0, frames_per_sequence >= 1 and fps > 0")
    p = _activity_weights(activities)
    rng = np.random.default_rng(seed)
    activity = rng.choice(len(ACTIVITIES), size=num_sequences, p=p).astype(np.int16)
    t = np.arange(frames_per_sequence) / fps
    euler = np.zeros((num_sequences, frames_per_sequence, NUM_SMPL_JOINTS, 3))
    for k, name in enumerate(ACTIVITIES):
        chosen = np.flatnonzero(activity == k)
        if len(chosen):
            draw = _Draw(rng, len(chosen), extreme)
            euler[chosen] = _finish(draw, t, _GENERATORS[name](draw, t))
    return euler, activity, rng


def synthesize_euler(
    num_sequences: int,
    frames_per_sequence: int,
    activities: Sequence[str] | Mapping[str, float] | None = None,
    fps: float = 30.0,
    seed: Seed = 0,
    extreme: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """The poses synthesize_motion would make, as Euler angles (S, T, 24, 3) in degrees, root
    first, with each sequence's index into ACTIVITIES (S,): for inspecting joint angles."""
    euler, activity, _ = _generate(
        num_sequences, frames_per_sequence, activities, fps, seed, extreme
    )
    return euler, activity


def synthesize_motion(
    num_sequences: int,
    frames_per_sequence: int,
    activities: Sequence[str] | Mapping[str, float] | None = None,
    fps: float = 30.0,
    seed: Seed = 0,
    beta_sigma: float = 1.0,
    extreme: bool = False,
) -> MotionBank:
    """A bank of num_sequences x frames_per_sequence frames of synthetic motion.

    activities: None (all, equally often), names (equally often) or {name: weight}.
    seed: an int or a sequence of ints (numpy SeedSequence entropy); same seed, same bank.
    extreme: sample every parameter range from a U-shaped distribution (the held-out set).
    Each sequence has one activity, one body shape (betas ~ N(0, beta_sigma), clipped to
    +-3) and the neutral gender.
    """
    euler, activity, rng = _generate(
        num_sequences, frames_per_sequence, activities, fps, seed, extreme
    )
    frames = num_sequences * frames_per_sequence
    betas = sample_betas(rng, num_sequences, beta_sigma)
    return MotionBank(
        poses=euler_to_axis_angle(euler).reshape(frames, 72).astype(np.float32),
        betas=np.repeat(betas, frames_per_sequence, axis=0),
        activity=np.repeat(activity, frames_per_sequence),
        sequence=np.repeat(np.arange(num_sequences, dtype=np.int32), frames_per_sequence),
        gender=np.zeros(frames, np.int8),
        activity_names=ACTIVITIES,
        fps=float(fps),
    )


# ---------------------------------------------------------------------------------------------
# Fixed splits
# ---------------------------------------------------------------------------------------------

TRAINING_WEIGHTS: dict[str, float] = {
    "stand": 0.15, "walk": 0.15, "run": 0.08, "sit": 0.1, "crouch": 0.08, "kneel": 0.08,
    "bend": 0.1, "reach": 0.12, "wave": 0.06, "arms_raised": 0.08,
}  # fmt: skip
# The test mix leans on the harder, rarer activities; its parameters are drawn `extreme`.
HELD_OUT_WEIGHTS: dict[str, float] = {
    "stand": 0.06, "walk": 0.08, "run": 0.12, "sit": 0.1, "crouch": 0.14, "kneel": 0.12,
    "bend": 0.1, "reach": 0.14, "wave": 0.06, "arms_raised": 0.08,
}  # fmt: skip
# Seeds are (stream, index) pairs: training uses stream 0, the test stream 1, so no training
# seed can ever reproduce the test set.
TRAINING_SEED_STREAM = 0
HELD_OUT_SEED: tuple[int, int] = (1, 0)
HELD_OUT_SEQUENCES = 80
HELD_OUT_FRAMES_PER_SEQUENCE = 64  # 80 x 64 = 5120 test frames at 30 fps
HELD_OUT_BETA_SIGMA = 1.25


def training_seed(seed: int) -> tuple[int, int]:
    """The generator seed training_motion(seed=seed) uses."""
    return (TRAINING_SEED_STREAM, int(seed))


def training_motion(num_frames: int, seed: int = 0, frames_per_sequence: int = 60) -> MotionBank:
    """Exactly num_frames training frames (the last sequence cut short if need be), drawn with
    TRAINING_WEIGHTS from the training seed stream."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    count = math.ceil(num_frames / frames_per_sequence)
    bank = synthesize_motion(count, frames_per_sequence, TRAINING_WEIGHTS, seed=training_seed(seed))
    return bank if len(bank) == num_frames else bank.select(np.arange(num_frames))


def held_out_test_motion() -> MotionBank:
    """The fixed synthetic test set: 80 sequences x 64 frames (5120 frames), HELD_OUT_WEIGHTS,
    parameters pushed to their extremes, shapes with sigma 1.25; every call is identical."""
    return synthesize_motion(
        HELD_OUT_SEQUENCES,
        HELD_OUT_FRAMES_PER_SEQUENCE,
        HELD_OUT_WEIGHTS,
        seed=HELD_OUT_SEED,
        beta_sigma=HELD_OUT_BETA_SIGMA,
        extreme=True,
    )
