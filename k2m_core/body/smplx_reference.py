"""smplx.SMPL built from the same arrays as our SmplModel: the reference our forward is checked
and benchmarked against."""

from __future__ import annotations

import smplx

from k2m_core.body.model_file import SmplData, body_model_arrays
from k2m_core.body.skeleton import VERTEX_KEYPOINT_NAMES


def smplx_reference(data: SmplData) -> smplx.SMPL:
    """smplx.SMPL over `data` (in memory, so edited arrays are honoured), with the body's own
    landmark vertices so its 45 joints line up with ours."""
    ids = {name: data.vertex_ids[name] for name in VERTEX_KEYPOINT_NAMES}
    struct = smplx.utils.Struct(**body_model_arrays(data))
    return smplx.SMPL(model_path=data.source, data_struct=struct, vertex_ids=ids)
