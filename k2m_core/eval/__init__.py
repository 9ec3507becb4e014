"""Evaluation metrics (MPJPE, PA-MPJPE, PVE) and their per-joint and per-group summaries."""
