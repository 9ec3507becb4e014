"""Time to build one person's per-frame ROS messages from a real engine run, with each message
library the builders serve: rosbags (replay, bags) and, in a ROS 2 environment, rclpy (the
nodes) plus rclpy's serialisation (what publish() costs on top).

    python bench/ros_messages.py [--repeats 50] [--target-faces 1500]
    bash scripts/isolated.sh bash -c 'source scripts/ros_env.sh; python bench/ros_messages.py'

No DDS participant is created (serialisation only), but the second line is how the rclpy part
runs. The node's own publish stage is measured under rclpy by bench/ros_latency.py.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

IMAGE = (640, 480)


def _time_ms(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(median, min) in ms; the min shows what a quiet machine does."""
    for _ in range(max(2, repeats // 10)):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return 1e3 * statistics.median(samples), 1e3 * min(samples)


def _kits() -> list[Any]:
    from k2m_ros.message_kit import rclpy_kit, rosbags_kit

    kits = [rosbags_kit()]
    try:
        kit = rclpy_kit()
        kit.SmplBodyArray  # noqa: B018 - the built k2m.msg must be importable too
        kits.append(kit)
    except ImportError:
        print("rclpy or k2m.msg not importable: rosbags only (source scripts/ros_env.sh)")
    return kits


def run(repeats: int, target_faces: int) -> list[tuple[str, float, float]]:
    from k2m_core.export.onnx_export import parity_keypoints
    from k2m_core.infer.engine import create_engine
    from k2m_core.pose.passthrough import person_from_keypoints
    from k2m_ros import builders
    from k2m_ros.mesh_decimation import decimated_body_faces

    engine = create_engine("onnxruntime")
    keypoints = parity_keypoints(18, 1, seed=3, image_size=IMAGE)
    bodies = engine.predict(keypoints, IMAGE)
    people = [person_from_keypoints(keypoints[0], "coco18")]
    ids = np.array([1], np.uint32)
    small = decimated_body_faces(target_faces=target_faces)
    timings = []
    for kit in _kits():
        header = builders.make_header(kit, 1_700_000_000_000_000_000, "camera_optical_frame")
        rows: dict[str, Callable[[], Any]] = {
            "SmplBodyArray": lambda k=kit, h=header: builders.smpl_body_array(
                k, bodies, ids, h, "m", "b"
            ),
            "PersonKeypointsArray": lambda k=kit, h=header: builders.person_keypoints_array(
                k, people, ids, h, IMAGE
            ),
            "TFMessage (root + head)": lambda k=kit, h=header: builders.tf_message(
                k, builders.body_transforms(k, bodies, ids, h)
            ),
            f"MarkerArray ({len(small)} tris)": lambda k=kit, h=header: builders.body_markers(
                k, bodies, ids, h, small
            ),
            f"MarkerArray (full, {len(engine.faces)} tris)": lambda k=kit, h=header: (
                builders.body_markers(k, bodies, ids, h, engine.faces)
            ),
            "PointCloud2 (6890 vertices)": lambda k=kit, h=header: builders.vertex_cloud(
                k, bodies, h
            ),
        }
        for name, build in rows.items():
            slow = "full" in name
            timings.append(
                (f"{kit.name:8} build {name}", *_time_ms(build, repeats // (5 if slow else 1)))
            )
            if kit.name == "rclpy":
                from rclpy.serialization import serialize_message

                msg = build()
                timings.append(
                    (
                        f"{kit.name:8}   + serialise",
                        *_time_ms(lambda m=msg: serialize_message(m), repeats),
                    )
                )
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--target-faces", type=int, default=1500)
    args = parser.parse_args()
    timings = run(args.repeats, args.target_faces)
    width = max(len(name) for name, *_ in timings)
    print(f"{'message (1 person)':<{width}}  median ms  min ms")
    for name, median, fastest in timings:
        print(f"{name:<{width}}  {median:9.2f}  {fastest:6.2f}")


if __name__ == "__main__":
    main()
