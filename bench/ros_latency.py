"""Camera to bodies through real ROS 2: image publish -> /k2m/bodies arrival, per frame,
beside perception_node's own stage times (from its /diagnostics).

    bash scripts/setup_ros.sh
    bash scripts/isolated.sh bash -c 'source scripts/ros_env.sh; python bench/ros_latency.py'
    ... python bench/ros_latency.py --people 1 --outputs default --inputs raw --frames 100

A 640x480 camera in this process publishes one frame, waits for its bodies, then the next
(latency without queueing); perception_node runs in its own process with its defaults (video
mode, One Euro smoothing, markers at 10 Hz), or with every output on (markers every frame,
vertex cloud, debug image). Scenes: the astronaut photo once, or four times in a 2x2 grid.
DDS participants are made here, so it runs only inside a private network namespace
(scripts/isolated.sh); the shipped Fast DDS large-image profile is used by both processes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

WIDTH, HEIGHT = 640, 480
WARMUP_FRAMES = 5
STAGES = ("decode", "pose", "mesh", "tracking", "smoothing", "publish", "markers", "total")
VIEWED = [("MarkerArray", "/k2m/markers"), ("TFMessage", "/tf"),
          ("PersonKeypointsArray", "/k2m/keypoints"), ("PointCloud2", "/k2m/vertices"),
          ("Image", "/k2m/debug_image")]  # fmt: skip
OUTPUTS = {
    "default": {},
    "all": {"marker_rate_hz": 0.0, "publish_point_cloud": True, "publish_debug_image": True},
}


def scene(people: int) -> np.ndarray:
    """640x480 RGB with ``people`` copies of scikit-image's astronaut (1: full height; 4: 2x2)."""
    import cv2
    from skimage import data

    person = data.astronaut()
    canvas = np.full((HEIGHT, WIDTH, 3), 96, np.uint8)
    if people == 1:
        tile = cv2.resize(person, (HEIGHT, HEIGHT), interpolation=cv2.INTER_AREA)
        x0 = (WIDTH - HEIGHT) // 2
        canvas[:, x0 : x0 + HEIGHT] = tile
        return canvas
    side = HEIGHT // 2
    tile = cv2.resize(person, (side, side), interpolation=cv2.INTER_AREA)
    cells = [(r, c) for r in range(2) for c in range(2)][:people]
    for row, col in cells:
        x0 = col * (WIDTH // 2) + (WIDTH // 2 - side) // 2
        canvas[row * side : (row + 1) * side, x0 : x0 + side] = tile
    return canvas


def _frames(kit: Any, rgb: np.ndarray, compressed: bool, count: int) -> list[Any]:
    import cv2

    from k2m_ros.harness import compressed_msg, image_msg

    if not compressed:
        return [image_msg(kit, rgb, "camera_optical_frame", i + 1) for i in range(count)]
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return [
        compressed_msg(kit, jpeg.tobytes(), "camera_optical_frame", i + 1) for i in range(count)
    ]


def measure(
    people: int, outputs: str, compressed: bool, frames: int, log_dir: Path, extra: dict
) -> dict:
    """One scenario: a fresh perception_node (``extra``: more of its parameters), ``frames``
    frames one at a time."""
    from k2m_ros.harness import Harness, NodeProcess, diagnostic_values, stamps
    from k2m_ros.message_kit import rclpy_kit

    kit = rclpy_kit()
    parameters = {"compressed": compressed, **OUTPUTS[outputs], **extra}
    harness = Harness.open("k2m_bench_camera")
    bodies = harness.record(kit.SmplBodyArray, "/k2m/bodies")
    diagnostics = harness.record(kit.DiagnosticArray, "/diagnostics")
    for msg_type, name in VIEWED:  # as RViz and a TF listener would: outputs are built lazily
        harness.record(getattr(kit, msg_type), name)
    node = NodeProcess.start("perception_node", parameters, log_dir)
    topic = "/camera/image_raw" + ("/compressed" if compressed else "")
    try:
        harness.wait_for_subscriber(topic, node)
        camera = harness.publisher(kit.CompressedImage if compressed else kit.Image, topic)
        messages = _frames(kit, scene(people), compressed, frames + WARMUP_FRAMES)
        latencies, found = [], []
        for index, msg in enumerate(messages):
            stamp = index + 1
            sent = time.perf_counter()
            camera.publish(msg)
            try:
                harness.wait_for(lambda s=stamp: s in stamps(bodies), 5.0, "bodies")
            except AssertionError:
                continue  # lost (best effort): counted below
            if index >= WARMUP_FRAMES:
                arrived = bodies[stamps(bodies).index(stamp)]
                latencies.append(1e3 * (arrived.at_s - sent))
                found.append(len(arrived.msg.bodies))
            harness.spin(0.01)
        harness.spin(1.2)  # the last diagnostics period
        reports = [r for r in diagnostic_values(diagnostics, "perception_node")
                   if float(r.get("output rate (Hz)", 0)) > 0]  # fmt: skip
    finally:
        node.interrupt()
        harness.close()
    stages = {}
    for stage in STAGES:
        values = [float(r[f"{stage} latency mean (ms)"]) for r in reports[1:] or reports
                  if f"{stage} latency mean (ms)" in r]  # fmt: skip
        stages[stage] = statistics.fmean(values) if values else float("nan")
    return {
        "people": people,
        "outputs": outputs,
        "input": "compressed" if compressed else "raw",
        "frames": len(latencies),
        "lost": frames - len(latencies),
        "people_found": statistics.median(found) if found else 0,
        "latency_median_ms": statistics.median(latencies) if latencies else float("nan"),
        "latency_p90_ms": float(np.percentile(latencies, 90)) if latencies else float("nan"),
        "stages_mean_ms": stages,
    }


def _table(results: list[dict]) -> str:
    head = ("people outputs input   | found | image->bodies median  p90 | node: "
            + " ".join(f"{s:>7}" for s in STAGES) + " | to bodies  DDS etc.")  # fmt: skip
    lines = [head, "-" * len(head)]
    for r in results:
        s = r["stages_mean_ms"]
        to_bodies = s["total"] - s["markers"]  # markers go out after the bodies
        gap = r["latency_median_ms"] - to_bodies
        lines.append(
            f"{r['people']:>6} {r['outputs']:<7} {r['input']:<10}| {r['people_found']:>5} | "
            f"{r['latency_median_ms']:>20.1f} {r['latency_p90_ms']:>4.1f} |       "
            + " ".join(f"{s[k]:>7.2f}" for k in STAGES)
            + f" | {to_bodies:>9.1f} {gap:>8.1f}"
        )
    lines.append(
        "ms; node stages are means over its 1 s /diagnostics periods; 'to bodies' is the node's "
        "time until /k2m/bodies goes out (total - markers, which follow), 'DDS etc.' the median "
        "latency minus that: transport and the two executors"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, nargs="+", default=[1, 4], choices=[1, 2, 3, 4])
    parser.add_argument("--outputs", nargs="+", default=list(OUTPUTS), choices=list(OUTPUTS))
    parser.add_argument("--inputs", nargs="+", default=["raw", "compressed"],
                        choices=["raw", "compressed"])  # fmt: skip
    parser.add_argument("--frames", type=int, default=40, help="timed frames per scenario")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--plot", type=Path, help="PNG: each scenario's stages beside its latency")
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="more perception_node parameters, e.g. mesh_decimation_faces=1000",
    )
    args = parser.parse_args()

    from k2m_ros.harness import large_images_profile, network_is_private

    if not network_is_private():
        print("bench/ros_latency.py starts DDS participants: run it in a private network "
              "namespace: bash scripts/isolated.sh bash -c 'source scripts/ros_env.sh; "
              "python bench/ros_latency.py'", file=sys.stderr)  # fmt: skip
        return 2
    try:
        import rclpy  # noqa: F401
        from k2m.msg import SmplBodyArray  # noqa: F401
    except ImportError as err:
        print(f"no ROS 2 environment ({err}): bash scripts/setup_ros.sh; "
              "source scripts/ros_env.sh", file=sys.stderr)  # fmt: skip
        return 2
    import os
    import tempfile

    os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(large_images_profile()))
    extra = dict(item.split("=", 1) for item in args.set)
    results = []
    with tempfile.TemporaryDirectory() as logs:
        for people in args.people:
            for outputs in args.outputs:
                for source in args.inputs:
                    result = measure(people, outputs, source == "compressed", args.frames,
                                     Path(logs), extra)  # fmt: skip
                    results.append(result)
                    print(f"  {people} people, {outputs} outputs, {source}: "
                          f"{result['latency_median_ms']:.1f} ms median", flush=True)  # fmt: skip
    print(_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.plot:
        plot_stages(results, args.plot)
        print(f"wrote {args.plot}")
    return 0


def plot_stages(results: list[dict], path: Path) -> None:
    """Stacked bars of the node's mean stage times per scenario, the median image -> bodies
    latency marked on each, and the goals (25 ms one person, 50 ms four) as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = [s for s in STAGES if s != "total"]
    colours = plt.get_cmap("tab10").colors
    labels = [f"{r['people']} pers., {r['outputs']}, {r['input']}" for r in results]
    fig, ax = plt.subplots(figsize=(11.5, 0.55 * len(results) + 1.8))
    for row, result in enumerate(results):
        left = 0.0
        for index, stage in enumerate(stages):
            value = result["stages_mean_ms"].get(stage, 0.0)
            hatch = "//" if stage == "markers" else None  # built after the bodies went out
            ax.barh(row, value, left=left, color=colours[index], hatch=hatch,
                    label=stage if row == 0 else None)  # fmt: skip
            left += value
        ax.plot(result["latency_median_ms"], row, "k|", markersize=22, markeredgewidth=2.5,
                label="image -> bodies, median" if row == 0 else None)  # fmt: skip
    for goal, style in ((25, ":"), (50, "--")):
        ax.axvline(goal, color="grey", linestyle=style, linewidth=1)
        ax.text(goal, len(results) - 0.4, f"{goal} ms goal", ha="center", fontsize=8)
    ax.set_yticks(range(len(results)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("ms per frame (node stages: means over 1 s diagnostics periods)")
    ax.set_title("perception_node on two CPU cores, 640x480 camera (markers hatched: after bodies)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
