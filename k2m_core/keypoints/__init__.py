"""Keypoint formats (COCO, OpenPose, BODY_25, BlazePose, H36M, LSP, SMPL) in one registry."""
