"""numpy-or-torch helpers that do not import torch: the inference path (ONNX Runtime,
TensorRT) runs without it, and functions that take either kind of array must not pull it in."""

from __future__ import annotations

import sys
from typing import Any


def is_tensor(value: Any) -> bool:
    """Whether ``value`` is a torch tensor (if torch was never imported, nothing is)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)
