"""The Key2Mesh network."""
