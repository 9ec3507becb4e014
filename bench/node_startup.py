"""perception_node start-up: process start to its first published /k2m/bodies, and its memory.

    bash scripts/isolated.sh bash -c 'source scripts/ros_env.sh; python bench/node_startup.py'
    ... python bench/node_startup.py --runs 3 --source /tmp/k2m_before   # another checkout

A camera in this process publishes the 640x480 one-person scene of bench/ros_latency.py every
50 ms from the moment the node process is started, until bodies come back. Reported per run:
seconds to the first bodies, the node's resident memory then (VmRSS) and at its peak (VmHWM),
and whether torch's library was mapped into the node (/proc/PID/maps), which is what the
onnxruntime path must avoid. ``--source`` runs the node from another k2m checkout (PYTHONPATH),
for before/after figures in one session.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ros_latency import scene

FRAME_PERIOD_S = 0.05
TIMEOUT_S = 120.0


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _maps_torch(pid: int) -> bool:
    return "libtorch" in Path(f"/proc/{pid}/maps").read_text()


def one_run(log_dir: Path) -> dict:
    from k2m_ros.harness import Harness, NodeProcess, image_msg, stamps
    from k2m_ros.message_kit import rclpy_kit

    kit = rclpy_kit()
    harness = Harness.open("k2m_startup_camera")
    bodies = harness.record(kit.SmplBodyArray, "/k2m/bodies")
    rgb = scene(1)
    started = time.perf_counter()
    node = NodeProcess.start("perception_node", {}, log_dir)
    camera = harness.publisher(kit.Image, "/camera/image_raw", matched=False)
    try:
        stamp = 0
        while not stamps(bodies):
            if time.perf_counter() - started > TIMEOUT_S or node.process.poll() is not None:
                raise SystemExit(f"no bodies from perception_node: {node.output()[-800:]}")
            stamp += 1
            camera.publish(image_msg(kit, rgb, "camera_optical_frame", stamp))
            harness.spin(FRAME_PERIOD_S)
        seconds = bodies[0].at_s - started
        pid = node.process.pid
        row = {
            "first_bodies_s": seconds,
            "rss_mb": _status_kb(pid, "VmRSS") / 1024,
            "peak_rss_mb": _status_kb(pid, "VmHWM") / 1024,
            "torch_loaded": _maps_torch(pid),
        }
    finally:
        node.interrupt()
        harness.close()
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--source", type=Path, help="run the node from this k2m checkout")
    parser.add_argument("--json", type=Path, help="also write the runs here")
    args = parser.parse_args()
    from k2m_ros.harness import network_is_private

    if not network_is_private():
        print("bench/node_startup.py starts DDS participants: run it inside "
              "scripts/isolated.sh", file=sys.stderr)  # fmt: skip
        return 2
    if args.source is not None:  # the node process inherits it (k2m_ros.harness.ros_env)
        os.environ["PYTHONPATH"] = f"{args.source}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    runs = []
    with tempfile.TemporaryDirectory() as logs:
        for index in range(args.runs):
            runs.append(one_run(Path(logs)))
            r = runs[-1]
            print(f"run {index + 1}: first bodies after {r['first_bodies_s']:.2f} s, RSS "
                  f"{r['rss_mb']:.0f} MB (peak {r['peak_rss_mb']:.0f} MB), torch loaded: "
                  f"{r['torch_loaded']}", flush=True)  # fmt: skip
    where = args.source or "this checkout"
    print(f"perception_node from {where}, defaults (BlazePose video mode, onnxruntime): median "
          f"{statistics.median(r['first_bodies_s'] for r in runs):.2f} s to the first bodies, "
          f"RSS {statistics.median(r['rss_mb'] for r in runs):.0f} MB, peak "
          f"{statistics.median(r['peak_rss_mb'] for r in runs):.0f} MB")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
