"""Pre-training and domain adaptation of Key2Mesh."""
