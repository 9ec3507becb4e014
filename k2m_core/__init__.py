"""k2m_core: the Key2Mesh method without ROS (body model, geometry, keypoints, model, training)."""

__version__ = "0.1.0"
