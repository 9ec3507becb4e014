"""Inference: Key2Mesh as a deployable graph (normalise -> network -> SMPL), one engine API
over the torch, ONNX Runtime and TensorRT backends, and the camera fit that places each body in
the camera frame."""
