"""BlazePose (MediaPipe Pose) as ONNX models: 33 keypoints per person, no mediapipe needed."""

from k2m_core.pose.blazepose.pipeline import BlazePoseEstimator, default_model_dir

__all__ = ["BlazePoseEstimator", "default_model_dir"]
