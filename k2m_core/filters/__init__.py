"""Temporal filters for keypoints and body parameters."""
