"""Deployment formats: Key2Mesh's inference graph as self-describing, parity-checked ONNX."""

from k2m_core.export.onnx_export import ExportedFile, ExportError, ExportResult, export_onnx

__all__ = ["ExportError", "ExportResult", "ExportedFile", "export_onnx"]
