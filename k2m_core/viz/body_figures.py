"""Figures of a body model: poses with every keypoint format drawn, and its shape space."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from k2m_core.body.example_poses import example_body_pose
from k2m_core.body.smpl import SmplModel, SmplOutput
from k2m_core.keypoints.convert import keypoints_from_smpl
from k2m_core.keypoints.formats import get_format
from k2m_core.viz.mesh_render import draw_body_view, draw_skeleton, look_rotation

# (pose, keypoint formats drawn on it, view yaw in degrees)
POSE_PANELS: tuple[tuple[str, tuple[str, ...], float], ...] = (
    ("rest", ("smpl24",), 0.0),
    ("walk", ("coco18",), 30.0),
    ("arms_up", ("body25",), -20.0),
    ("sit", ("blazepose33",), 40.0),
    ("reach", ("h36m17", "lsp14"), 35.0),
    ("wave", ("coco17",), -15.0),
)
_FORMAT_COLOURS = ("tab:red", "tab:orange", "tab:green", "tab:purple", "tab:red", "tab:blue")


def pose_body(model: SmplModel, pose_name: str, betas: np.ndarray | None = None) -> SmplOutput:
    """One body in an example pose, root unrotated."""
    pose = torch.as_tensor(example_body_pose(pose_name), dtype=torch.float32)[None]
    betas_t = torch.zeros(1, model.num_betas)
    if betas is not None:
        betas_t[0, : len(betas)] = torch.as_tensor(betas, dtype=torch.float32)
    with torch.no_grad():
        return model(betas_t, torch.zeros(1, 3), pose)


def pose_gallery(model: SmplModel, path: Path) -> Path:
    """Body in rest pose and several poses, the keypoints of each format drawn on it."""
    fig = Figure(figsize=(3.3 * len(POSE_PANELS), 5.2))
    axes = fig.subplots(1, len(POSE_PANELS))
    faces = model.faces.numpy()
    for ax, (pose_name, formats, yaw), colour in zip(
        axes, POSE_PANELS, _FORMAT_COLOURS, strict=True
    ):
        out = pose_body(model, pose_name)
        rotation = draw_body_view(ax, out.vertices[0].numpy(), faces, look_rotation(yaw, 8.0))
        labels = []
        for k, fmt_name in enumerate(formats):
            fmt = get_format(fmt_name)
            kps, available = keypoints_from_smpl(out.joints, fmt, out.h36m_joints)
            pts = kps[0].numpy() @ rotation.T
            c = colour if k == 0 else "tab:cyan"
            draw_skeleton(ax, pts[:, :2], fmt.edges, available.numpy(), colour=c)
            labels.append(f"{fmt.name} ({int(available.sum())}/{fmt.num_keypoints})")
        ax.set_title(f"{pose_name}\n" + " + ".join(labels), fontsize=9)
        ax.autoscale_view()
    fig.suptitle(
        f"{model.source}: {model.num_vertices} vertices, keypoints of each format", fontsize=11
    )
    fig.tight_layout()
    return _save(fig, path)


def shape_gallery(
    model: SmplModel, path: Path, names: tuple[str, ...] | None = None, amount: float = 2.5
) -> Path:
    """Each shape direction at -amount and +amount standard deviations, arms lowered."""
    count = model.num_betas
    fig = Figure(figsize=(1.5 * count, 7.0))
    axes = fig.subplots(2, count)
    faces = model.faces.numpy()
    for i in range(count):
        for row, sign in enumerate((-1.0, 1.0)):
            betas = np.zeros(count)
            betas[i] = sign * amount
            out = pose_body(model, "a_pose", betas)
            ax = axes[row, i]
            draw_body_view(ax, out.vertices[0].numpy(), faces, look_rotation(20.0, 5.0))
            ax.autoscale_view()
            label = names[i] if names and i < len(names) else f"beta {i}"
            ax.set_title(f"{label}\n{sign * amount:+.1f}", fontsize=8)
    # the same limits in every panel, so that differences in size show
    x_lo = min(ax.get_xlim()[0] for ax in axes.flat)
    x_hi = max(ax.get_xlim()[1] for ax in axes.flat)
    y_lo = min(ax.get_ylim()[0] for ax in axes.flat)
    y_hi = max(ax.get_ylim()[1] for ax in axes.flat)
    for ax in axes.flat:
        ax.set_xlim(x_lo, x_hi)
        ax.set_ylim(y_lo, y_hi)
    fig.suptitle(f"{model.source}: shape directions at ±{amount} (same scale)", fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: Figure, path: Path) -> Path:
    """Figures are built without pyplot, so nothing global to close and no display needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
