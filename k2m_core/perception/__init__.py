"""Images to SMPL bodies: a 2D pose estimator followed by Key2Mesh, as the ROS nodes run it."""
