"""Pictures: mesh rendering and keypoint drawing for PNGs people look at."""
