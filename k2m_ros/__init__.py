"""k2m_ros: ROS 2 glue for k2m. Nodes stay thin; all logic lives in ROS-free modules here."""
