"""2D pose estimation: images -> people's keypoints, for Key2Mesh to lift to bodies."""
