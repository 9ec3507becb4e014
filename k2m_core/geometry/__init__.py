"""Rotations and camera projections, batched torch, export-friendly."""
