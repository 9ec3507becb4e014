"""The Key2Mesh network's shape contract, for every supported input format."""

from __future__ import annotations

import pytest
import torch

from k2m_core.model.key2mesh import Key2Mesh, ModelConfig, count_parameters


@pytest.mark.parametrize(("fmt", "num_keypoints"), [("coco18", 18), ("coco17", 17),
                                                    ("body25", 25)])  # fmt: skip
def test_outputs_for_each_input_format(fmt: str, num_keypoints: int) -> None:
    model = Key2Mesh(ModelConfig(keypoint_format=fmt, width=64)).eval()
    out = model(torch.rand(5, 2 * num_keypoints))
    assert out.betas.shape == (5, 10)
    assert out.rot_mats.shape == (5, 24, 3, 3)
    assert out.features.shape == (5, 64)
    eye = torch.eye(3).expand(5, 24, 3, 3)
    torch.testing.assert_close(out.rot_mats @ out.rot_mats.transpose(-1, -2), eye, atol=1e-5,
                               rtol=0)  # fmt: skip
    torch.testing.assert_close(torch.linalg.det(out.rot_mats), torch.ones(5, 24), atol=1e-5,
                               rtol=0)  # fmt: skip


def test_default_size_follows_the_paper() -> None:
    model = Key2Mesh()
    # 5 layers of width 1024 in the extractor, 2 + output in the head: 6.5 M parameters
    linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linear] == [1024] * 7 + [10 + 24 * 6]
    assert 6.4e6 < count_parameters(model) < 6.6e6
    assert sum(isinstance(m, torch.nn.Dropout) and m.p == 0.2 for m in model.modules()) == 7


def test_an_untrained_head_starts_near_the_rest_pose() -> None:
    torch.manual_seed(0)
    model = Key2Mesh(ModelConfig(width=64)).eval()
    with torch.no_grad():
        model.head.out.weight.zero_()
        model.head.out.bias.zero_()
    out = model(torch.rand(3, 36))
    torch.testing.assert_close(out.rot_mats, torch.eye(3).expand(3, 24, 3, 3))
    assert (out.betas == 0).all()


def test_wrong_input_width_fails_loudly() -> None:
    with pytest.raises(RuntimeError):
        Key2Mesh(ModelConfig(width=32)).eval()(torch.rand(2, 34))
