"""The latest CameraInfo, cached (never synchronised with images) and checked against them."""

from __future__ import annotations

from typing import Any

from k2m_core.geometry.camera import PinholeIntrinsics
from k2m_ros.image_conversion import intrinsics_from_camera_info


class CameraCache:
    """Intrinsics from the newest CameraInfo; the status says when the focal length is a guess."""

    def __init__(self, topic: str = "camera_info") -> None:
        self.topic = topic
        self.intrinsics: PinholeIntrinsics | None = None
        self.size: tuple[int, int] | None = None  # (width, height) CameraInfo was made for
        self.problem = f"no CameraInfo received on {topic}"
        self._image_size: tuple[int, int] | None = None

    def update(self, msg: Any) -> None:
        try:
            self.intrinsics = intrinsics_from_camera_info(msg)
        except ValueError as err:
            self.intrinsics, self.problem = None, str(err)
            return
        self.size = (int(msg.width), int(msg.height))
        self.problem = ""

    def for_image(self, width: int, height: int) -> PinholeIntrinsics | None:
        """Intrinsics for a (width, height) image; None (guess) when there is no CameraInfo
        or it is for another size, which would put every body at the wrong distance."""
        self._image_size = (width, height)
        if self.intrinsics is None:
            return None
        if self.size not in (None, (0, 0), (width, height)):
            self.problem = (
                f"CameraInfo is for {self.size[0]}x{self.size[1]} but images are "
                f"{width}x{height}: check camera_info_topic"
            )
            return None
        self.problem = ""
        return self.intrinsics

    def status(self) -> dict[str, str]:
        """The diagnostics key-values: the focal length used, and whether it is a guess."""
        if not self.problem and self.intrinsics is not None:
            k = self.intrinsics
            return {"camera info": "ok", "focal length (px)": f"{k.fx:.1f}, {k.fy:.1f}"}
        if self._image_size is None:
            return {"camera info": self.problem}
        from k2m_core.infer.camera_fit import default_intrinsics

        width, height = self._image_size
        guess = default_intrinsics(width, height).fx
        return {
            "camera info": f"{self.problem}: focal length guessed from the image size",
            "focal length (px)": f"{guess:.1f} (guessed: max(width, height) of {width}x{height})",
        }
