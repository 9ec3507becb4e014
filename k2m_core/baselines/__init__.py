"""Optimisation baselines Key2Mesh is compared with: SMPLify and its Gaussian-mixture pose prior,
fitted on k2m's own training motion."""

from k2m_core.baselines.pose_prior import GaussianMixturePrior, fit_on_training_motion
from k2m_core.baselines.smplify import (
    DEFAULT_STAGES,
    SmplifyConfig,
    SmplifyResult,
    SmplifyStage,
    ViewFrameFit,
    evaluate_on_target,
    fit_smplify,
    smplify_to_view_frame,
)

__all__ = [
    "DEFAULT_STAGES",
    "GaussianMixturePrior",
    "SmplifyConfig",
    "SmplifyResult",
    "SmplifyStage",
    "ViewFrameFit",
    "evaluate_on_target",
    "fit_on_training_motion",
    "fit_smplify",
    "smplify_to_view_frame",
]
