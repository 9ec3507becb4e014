"""A procedurally generated SMPL-format body: the embedded default when real SMPL is absent."""
