"""SMPL-format body models: file I/O, a generated stand-in body, and an export-friendly forward."""
