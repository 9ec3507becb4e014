"""A pipeline result as plain JSON: what `k2m mesh` and `k2m demo` write beside each picture.

SMPL parameters in the camera's optical frame (metres, axis-angle radians), per body which
SMPL joints a keypoint showed and which the network guessed, and the people who got no body
with the reason.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from k2m_core.body.skeleton import SMPL_JOINT_NAMES


def compact_json(value: Any) -> str:
    """Indented JSON with each innermost list of numbers on one line, so a 72-number pose
    reads as one row instead of 72."""
    text = json.dumps(value, indent=1)
    return re.sub(r"\[[^\[\]{}\"]*\]", lambda m: f"[{' '.join(m.group(0)[1:-1].split())}]", text)


def _rounded(values: Any) -> Any:
    return np.round(np.asarray(values, np.float64), 6).tolist()


def body_record(result: Any, row: int) -> dict[str, Any]:
    """Body ``row`` of a FrameResult, with the person it came from."""
    b = result.bodies
    person = result.people[int(result.body_index()[row])]
    observed = np.ones(24, bool) if b.observed is None else np.asarray(b.observed[row], bool)
    guessed = [name for name, seen in zip(SMPL_JOINT_NAMES, observed, strict=True) if not seen]
    return {
        "person": int(result.body_index()[row]),
        "keypoint_format": person.keypoint_format,
        "score": round(float(person.score), 4),
        "keypoints": _rounded(person.keypoints),
        "confidence": round(float(b.confidence[row]), 4),
        "betas": _rounded(b.betas[row]),
        "global_orient": _rounded(b.global_orient[row]),
        "body_pose": _rounded(b.body_pose[row].reshape(-1)),
        "translation": _rounded(b.translation[row]),
        "joints": _rounded(b.joints[row]),
        "joints_guessed": guessed,
        "reprojection_px": round(float(b.reprojection_px[row]), 3),
        "placed": bool(b.placed[row]),
    }


def frame_record(
    name: str,
    image_size: tuple[int, int],
    intrinsics: Any,
    result: Any,
    model: str | None = None,
    body_model: str | None = None,
) -> dict[str, Any]:
    """One image's result; ``model`` / ``body_model`` default to the shipped files' names."""
    from k2m_core.paths import default_body_model_path, default_model_path

    return {
        "image": name,
        "image_size": list(image_size),
        "intrinsics": {k: float(getattr(intrinsics, k)) for k in ("fx", "fy", "cx", "cy")},
        "frame": "camera optical (x right, y down, z forward; metres; axis-angle radians)",
        "model": model or default_model_path().stem,
        "body_model": body_model or default_body_model_path().stem,
        "bodies": [body_record(result, row) for row in range(len(result.bodies))],
        "people_without_body": [
            {"person": i, "why": why, "keypoints": _rounded(result.people[i].keypoints)}
            for i, why in sorted(result.no_body.items())
        ],
    }
