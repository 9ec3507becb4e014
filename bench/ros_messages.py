"""Time to build one person's per-frame ROS messages from a real engine run (rosbags classes).

    python bench/ros_messages.py [--repeats 50] [--target-faces 1500]

The node's budget for messages is 10 ms a frame for SmplBodyArray + the default decimated
mesh MarkerArray + the vertex PointCloud2. The full-resolution mesh marker (13776 triangles,
41 k Points) is timed separately, next to the naive way of building it (one Point per corner
from numpy rows, what the DESIGN measured at 97-187 ms). Building only: serialising is the
middleware's job (rclpy does it in C).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

TARGET_MS = 10.0
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


def _naive_mesh_points(vertices: np.ndarray, faces: np.ndarray) -> list:
    from k2m_ros.msg_types import message_class

    point = message_class("geometry_msgs/msg/Point")
    return [point(x=float(v[0]), y=float(v[1]), z=float(v[2])) for v in vertices[faces.ravel()]]


def run(repeats: int, target_faces: int) -> list[tuple[str, float, float]]:
    from k2m_core.export.onnx_export import parity_keypoints
    from k2m_core.infer.engine import create_engine
    from k2m_ros import builders
    from k2m_ros.mesh_decimation import decimated_body_faces

    engine = create_engine("torch", device="cpu")
    bodies = engine.predict(parity_keypoints(18, 1, seed=3, image_size=IMAGE), IMAGE)
    ids = np.array([1], np.uint32)
    header = builders.make_header(1_700_000_000_000_000_000, "camera_optical_frame")
    small = decimated_body_faces(target_faces=target_faces)
    full = engine.faces

    rows = [
        ("SmplBodyArray", lambda: builders.smpl_body_array(bodies, ids, header, "m", "b")),
        (
            f"MarkerArray, decimated mesh ({len(small)} tris)",
            lambda: builders.body_markers(bodies, ids, header, small),
        ),
        ("PointCloud2 (6890 vertices)", lambda: builders.vertex_cloud(bodies, header)),
    ]
    timings = [(name, *_time_ms(fn, repeats)) for name, fn in rows]
    total = ("= budgeted total (sum of the three)", *np.sum([t[1:] for t in timings], axis=0))
    timings.append(total)
    slow = max(5, repeats // 5)
    extra = [
        ("TF: root + head TransformStamped", lambda: builders.body_transforms(bodies, ids, header)),
        (
            f"MarkerArray, full mesh ({len(full)} tris)",
            lambda: builders.body_markers(bodies, ids, header, full),
        ),
        (
            "  naive full mesh Points (per row)",
            lambda: _naive_mesh_points(bodies.vertices[0], full),
        ),
    ]
    timings += [(name, *_time_ms(fn, slow)) for name, fn in extra]
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
    total = next(median for name, median, _ in timings if name.startswith("= budgeted"))
    verdict = "met" if total <= TARGET_MS else "NOT met"
    print(f"target <= {TARGET_MS:.0f} ms for SmplBody + decimated markers + cloud: {verdict}")


if __name__ == "__main__":
    main()
