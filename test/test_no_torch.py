"""The onnxruntime inference path runs without torch: a robot needs neither its second of
start-up nor its hundreds of MB. Each check runs in a fresh interpreter and fails if anything
on the path imported torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run_without_torch(code: str, tmp_path: Path) -> str:
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(code)
        + "\nimport sys\nassert 'torch' not in sys.modules, 'torch was imported'\nprint('ok')\n"
    )
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)  # fmt: skip
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stdout + run.stderr
    return run.stdout


def test_k2m_mesh_on_onnxruntime_imports_no_torch(tmp_path: Path) -> None:
    out = _run_without_torch(
        f"""
        from k2m_core.cli.main import main
        assert main(["mesh", "--example", "astronaut", "--out", {str(tmp_path)!r}]) == 0
        """,
        tmp_path,
    )
    assert "1 people" in out


def test_the_int8_graph_runs_without_torch(tmp_path: Path) -> None:
    out = _run_without_torch(
        f"""
        from k2m_core.cli.main import main
        assert main(["mesh", "--example", "astronaut", "--precision", "int8",
                     "--out", {str(tmp_path)!r}]) == 0
        """,
        tmp_path,
    )
    assert "1 people" in out


def test_the_perception_nodes_work_imports_no_torch(tmp_path: Path) -> None:
    """What perception_node does per frame with its defaults (BlazePose, onnxruntime, tracking,
    One Euro smoothing, messages with markers and TF), minus rclpy."""
    _run_without_torch(
        """
        import skimage.data
        from k2m_core.perception.pipeline import HumanMeshPipeline
        from k2m_ros import builders, components
        from k2m_ros.message_kit import rosbags_kit
        from k2m_ros.parameters import PARAMETERS
        from k2m_ros.perception import RosPerception
        from k2m_ros.tracking import Tracker

        values = {name: default for name, (default, _) in PARAMETERS.items()}
        engine = components.create_engine(values)
        pipeline = HumanMeshPipeline(components.create_estimator(values), engine)
        perception = RosPerception(pipeline, Tracker(), components.create_smoother(values, engine))
        for frame in range(3):
            out = perception.process(skimage.data.astronaut(), None, frame * 33_000_000)
        assert len(out.bodies) == 1
        kit = rosbags_kit()
        header = builders.make_header(kit, 1, "camera")
        faces, _ = components.marker_faces(values, engine.faces)
        joints = components.marker_face_joints(values, faces)
        builders.body_markers(kit, out.bodies, out.body_ids, header, faces, face_joints=joints)
        builders.smpl_body_array(kit, out.bodies, out.body_ids, header, "m", "b")
        builders.tf_message(kit, builders.body_transforms(kit, out.bodies, out.body_ids, header))
        """,
        tmp_path,
    )


def test_help_and_argument_errors_load_nothing_heavy(tmp_path: Path) -> None:
    """`k2m --help` and a mistyped command answer at once: building the parser imports none of
    torch, numba, scipy, OpenCV or ONNX Runtime (1.7 s with torch, 0.4 s with numba)."""
    _run_without_torch(
        """
        import contextlib, io, sys
        from k2m_core.cli.main import main
        quiet = io.StringIO()
        for argv in (["--help"], ["mesh", "--help"], ["train"], ["no-such-command"]):
            with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
                try:
                    main(argv)
                except SystemExit:
                    pass
        heavy = [m for m in ("numba", "scipy", "cv2", "onnxruntime") if m in sys.modules]
        assert not heavy, heavy
        """,
        tmp_path,
    )
