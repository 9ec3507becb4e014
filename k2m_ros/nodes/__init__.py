"""The ROS 2 nodes (rclpy lifecycle nodes): pose_node, mesh_node and perception_node.

Thin on purpose: the lifecycle and parameters live in ``base``, publishing in ``outputs``,
QoS in ``qos``, and all computation in the ROS-free k2m_ros and k2m_core modules.
"""
