"""Shared fixtures. Everything here uses the generated SMPL-format body that ships in models/;
numbers measured with it say nothing about real SMPL or the paper's tables."""

from __future__ import annotations

import pytest

from k2m_core.body.model_file import SmplData, load_body_model_file
from k2m_core.body.smpl import SmplModel
from k2m_core.paths import default_body_model_path


@pytest.fixture(scope="session")
def body_data() -> SmplData:
    return load_body_model_file(default_body_model_path())


@pytest.fixture(scope="session")
def smpl_model(body_data: SmplData) -> SmplModel:
    return SmplModel(body_data).eval()
