"""The ROS 2 nodes (rclpy): pose_node, mesh_node and perception_node, each with a main().

Thin on purpose: parameters, QoS, diagnostics and publishing live in ``common``, message
conversion in ``convert``, and all computation in the ROS-free k2m_ros and k2m_core modules.
"""
