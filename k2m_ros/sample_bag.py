"""`k2m make-bag`: a sample ROS 2 bag of synthetic people seen by the synthetic robot camera.

The embedded default input for `k2m replay` and the demo: no robot, camera or recording
needed, and the bag carries the truth, so a replay can be scored. Each person is one
synthetic motion sequence (the test seed stream, never trained on) placed once in front of
the camera of :class:`~k2m_core.data.target_domain.TargetDomainConfig` (defaults): distance,
height, heading and side of the image are held for the whole clip, so it plays as a video;
detector noise, misses and left/right swaps change from frame to frame as a real detector's
do. People are placed independently, each with the camera pitched to centre them.

Topics (stamps at 30 Hz, frame id ``camera_optical_frame``):

- ``/camera/camera_info`` sensor_msgs/CameraInfo: K of the target camera, no distortion;
- ``/k2m/keypoints`` k2m/PersonKeypointsArray: the synthetic detector's COCO-18 keypoints,
  ids as a tracking detector gives them (person index + 1); people it misses entirely left out;
- ``/k2m/ground_truth`` k2m/SmplBodyArray: the true bodies in the optical frame, same ids;
- with ``images``: ``/camera/image_raw`` sensor_msgs/Image rgb8, the true meshes shaded on a
  plain grey background (no texture, no scene): enough for an image-path replay to run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from k2m_core.body.smpl import SmplModel
from k2m_core.data import target_domain
from k2m_core.data.motion_bank import MotionBank
from k2m_core.data.target_domain import SyntheticTarget, TargetDomainConfig
from k2m_core.geometry.camera import OPTICAL_FROM_SMPL, PinholeIntrinsics
from k2m_core.geometry.rotations import matrix_to_axis_angle
from k2m_core.infer.engine import Bodies
from k2m_ros.replay import (
    DEFAULT_CAMERA_INFO_TOPIC,
    DEFAULT_IMAGE_TOPIC,
    DEFAULT_KEYPOINTS_TOPIC,
    GROUND_TRUTH_TOPIC,
    bag_writer,
)

CAMERA_FRAME = "camera_optical_frame"
FPS = 30.0
START_NS = 1_700_000_000 * 10**9  # a fixed start: the same arguments give the same bag
KEYPOINT_FORMAT = "coco18"
GROUND_TRUTH_MODEL = "ground_truth"
# Motion seeds (1, 1 + seed): the held-out stream, never trained on (training draws from
# stream 0), and never index 0, which is the fixed test set itself.
MOTION_SEED_STREAM = 1
BACKGROUND = 200  # grey of the rendered images


@dataclass(frozen=True)
class SampleScene:
    """``frames`` x ``people`` synthetic detections and truth, person-major rows (p * T + t)."""

    target: SyntheticTarget
    truth: Bodies  # optical frame
    frames: int
    people: int

    @property
    def intrinsics(self) -> PinholeIntrinsics:
        return self.target.intrinsics

    @property
    def image_size(self) -> tuple[int, int]:
        width, height = self.target.config.image_size
        return int(width), int(height)

    def rows(self, frame: int) -> np.ndarray:
        """Row of each person in ``frame``."""
        return np.arange(self.people) * self.frames + frame


def _held_placement(people: int, frames: int, seed: int) -> dict[str, torch.Tensor]:
    """Per-person placement draws (target_domain's _Draws fields), repeated over the frames.

    People get their own slot across the image (side by side, not on top of each other);
    one person stands within the middle half.
    """
    gen = torch.Generator().manual_seed(10_000 + seed)

    def u() -> torch.Tensor:
        return torch.rand(people, generator=gen, dtype=torch.float64)

    def g() -> torch.Tensor:
        return torch.randn(people, generator=gen, dtype=torch.float64)

    distance, height, lateral, yaw, elevation, roll = u(), u(), u(), u(), g(), g()
    slot = (torch.arange(people, dtype=torch.float64) + 0.2 + 0.6 * lateral) / people
    lateral = 0.25 + 0.5 * lateral if people == 1 else slot
    held = {"distance": distance, "height": height, "lateral": lateral, "yaw": yaw,
            "elevation": elevation, "roll": roll}  # fmt: skip
    return {name: value.repeat_interleave(frames) for name, value in held.items()}


def video_target(
    bank: MotionBank, body: SmplModel, people: int, frames: int, seed: int = 0
) -> SyntheticTarget:
    """make_target_domain with each person's placement held over their sequence.

    make_target_domain draws a new camera placement for every frame (right for training
    pairs, wrong for a video); here each person's placement repeats over their frames.
    """
    placement = target_domain.Placement(**_held_placement(people, frames, seed))
    return target_domain.make_target_domain(
        bank, body, TargetDomainConfig(), KEYPOINT_FORMAT, seed, placement=placement
    )


def truth_in_optical(target: SyntheticTarget, body: SmplModel, with_vertices: bool) -> Bodies:
    """The synthetic truth as Bodies in the camera's optical frame.

    The truth lives in the view frame V: ``body(betas, R_V, pose) + t_V``. ``camera_from_view``
    (R_SV) turns V into the camera's SMPL-style frame S and OPTICAL_FROM_SMPL (F) S into the
    optical frame O. SMPL rotates the root about the rest pelvis J0, so with root
    ``F R_SV R_V`` the SMPL translation is ``t_O = F R_SV (J0 + t_V) - J0``.
    """
    optical_from_view = OPTICAL_FROM_SMPL @ target.camera_from_view.astype(np.float64)
    root = OPTICAL_FROM_SMPL @ target.root_in_camera().astype(np.float64)
    pose = target.truth_rot_mats[:, 1:].astype(np.float64)
    with torch.no_grad():
        out = body(
            torch.as_tensor(target.truth_betas, dtype=torch.float32),
            torch.as_tensor(root, dtype=torch.float32),
            torch.as_tensor(pose, dtype=torch.float32),
            None,
            with_vertices,
            False,
        )
    joints = out.joints.double().numpy()
    rest_pelvis = joints[:, 0]  # the root turns about it, so posing leaves it in place
    origin = rest_pelvis + target.truth_transl.astype(np.float64)
    transl = np.einsum("nij,nj->ni", optical_from_view, origin) - rest_pelvis
    keypoints = np.einsum("ij,nkj->nki", OPTICAL_FROM_SMPL, target.joints_in_camera())
    vertices = None if out.vertices is None else out.vertices.double().numpy() + transl[:, None]
    n = len(target)

    def f32(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a, dtype=np.float32)

    return Bodies(
        betas=f32(target.truth_betas),
        global_orient=f32(_axis_angle(root)),
        global_orient_matrix=f32(root),
        body_pose=f32(_axis_angle(pose)),
        body_pose_matrices=f32(pose),
        translation=f32(transl),
        joints=f32(joints[:, :24] + transl[:, None]),
        keypoints_3d=f32(keypoints),
        vertices=None if vertices is None else f32(vertices),
        confidence=np.ones(n, np.float32),
        reprojection_px=np.zeros(n, np.float32),
        placed=np.ones(n, bool),
    )


def _axis_angle(matrices: np.ndarray) -> np.ndarray:
    return matrix_to_axis_angle(torch.as_tensor(matrices, dtype=torch.float64)).numpy()


def sample_scene(
    frames: int = 120, people: int = 1, seed: int = 0, with_vertices: bool = False
) -> SampleScene:
    """The synthetic clip: motion, robot-camera detections and the truth in the optical frame."""
    from k2m_core.data.synthetic_motion import synthesize_motion
    from k2m_core.paths import default_body_model_path

    if frames < 1 or people < 1:
        raise ValueError(f"need --frames >= 1 and --people >= 1, got {frames} and {people}")
    bank = synthesize_motion(people, frames, fps=FPS, seed=(MOTION_SEED_STREAM, 1 + seed))
    body = SmplModel.from_file(default_body_model_path()).eval()
    target = video_target(bank, body, people, frames, seed)
    return SampleScene(target, truth_in_optical(target, body, with_vertices), frames, people)


# --- messages -----------------------------------------------------------------------------------


def camera_info_msg(intrinsics: PinholeIntrinsics, image_size: tuple[int, int], header: Any) -> Any:
    """sensor_msgs/CameraInfo of an undistorted pinhole (K, R = I, P = [K | 0])."""
    from k2m_ros.message_kit import rosbags_kit

    kit = rosbags_kit()
    fx, fy, cx, cy = intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy
    k = np.array([fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0])
    p = np.array([fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0])
    roi = kit.RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    width, height = image_size
    return kit.CameraInfo(
        header=header, height=height, width=width, distortion_model="plumb_bob",
        d=kit.numbers(np.zeros(5), np.float64), k=kit.fixed(k, np.float64),
        r=kit.fixed(np.eye(3), np.float64), p=kit.fixed(p, np.float64),
        binning_x=0, binning_y=0, roi=roi,
    )  # fmt: skip


def render_truth(
    vertices: np.ndarray, faces: np.ndarray, intrinsics: PinholeIntrinsics, size: tuple[int, int]
) -> np.ndarray:
    """(H, W, 3) uint8: the true meshes, shaded, on a plain grey background."""
    from k2m_core.viz.mesh_overlay import overlay_meshes

    width, height = size
    background = np.full((height, width, 3), BACKGROUND, np.uint8)
    return overlay_meshes(background, vertices, faces, intrinsics, alpha=1.0)


@dataclass(frozen=True)
class FrameMessages:
    stamp_ns: int
    messages: dict[str, Any]  # topic -> message


def _detections_msg(scene: SampleScene, frame: int, header: Any) -> Any:
    """PersonKeypointsArray of one frame; people the detector missed entirely left out."""
    from k2m_core.pose.passthrough import person_from_keypoints
    from k2m_ros.builders import person_keypoints_array
    from k2m_ros.message_kit import rosbags_kit

    people, ids = [], []
    for track_id, row in enumerate(scene.rows(frame), start=1):
        person = person_from_keypoints(scene.target.detections.keypoints[row], KEYPOINT_FORMAT)
        if person is not None:
            people.append(person)
            ids.append(track_id)
    ids = np.array(ids, np.uint32)
    return person_keypoints_array(rosbags_kit(), people, ids, header, scene.image_size)


def frame_messages(
    scene: SampleScene, images: bool, faces: np.ndarray | None
) -> Iterator[FrameMessages]:
    """Every frame's messages, in the order a driver publishes them (CameraInfo first)."""
    from k2m_core.paths import default_body_model_path
    from k2m_ros.builders import image_message, make_header, smpl_body_array
    from k2m_ros.message_kit import rosbags_kit

    kit = rosbags_kit()
    body_model = default_body_model_path().stem
    ids = np.arange(1, scene.people + 1, dtype=np.uint32)
    for t in range(scene.frames):
        stamp = START_NS + round(t * 1e9 / FPS)
        header = make_header(kit, stamp, CAMERA_FRAME)
        truth = scene.truth.select(scene.rows(t))
        messages = {
            DEFAULT_CAMERA_INFO_TOPIC: camera_info_msg(scene.intrinsics, scene.image_size, header),
            DEFAULT_KEYPOINTS_TOPIC: _detections_msg(scene, t, header),
            GROUND_TRUTH_TOPIC: smpl_body_array(
                kit, truth, ids, header, GROUND_TRUTH_MODEL, body_model
            ),
        }
        if images:
            assert truth.vertices is not None and faces is not None
            rgb = render_truth(truth.vertices, faces, scene.intrinsics, scene.image_size)
            messages[DEFAULT_IMAGE_TOPIC] = image_message(kit, rgb, header)
        yield FrameMessages(stamp, messages)


@dataclass(frozen=True)
class SampleBag:
    path: Path
    frames: int
    people: int
    counts: dict[str, int]  # topic -> messages


def write_sample_bag(
    out: str | Path,
    frames: int = 120,
    people: int = 1,
    storage: str = "mcap",
    images: bool = False,
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = True,
) -> SampleBag:
    """Write the sample bag to the folder ``out``; see the module docstring for its topics."""
    from k2m_ros.msg_types import typestore

    store = typestore()
    counts: dict[str, int] = {}
    path = Path(out)
    with bag_writer(path, storage, overwrite) as writer:  # first: refuses an existing OUT
        scene = sample_scene(frames, people, seed, with_vertices=images)
        faces = _faces() if images else None
        connections: dict[str, Any] = {}
        stream = frame_messages(scene, images, faces)
        for frame in tqdm(stream, total=frames, desc="k2m make-bag", disable=not progress):
            for topic, msg in frame.messages.items():
                if topic not in connections:
                    connections[topic] = writer.add_connection(topic, msg.__msgtype__,
                                                               typestore=store)  # fmt: skip
                data = store.serialize_cdr(msg, msg.__msgtype__)
                writer.write(connections[topic], frame.stamp_ns, data)
                counts[topic] = counts.get(topic, 0) + 1
    return SampleBag(path, frames, people, counts)


def _faces() -> np.ndarray:
    from k2m_core.body.model_file import load_body_model_file
    from k2m_core.paths import default_body_model_path

    return np.asarray(load_body_model_file(default_body_model_path()).faces, np.int64)
