"""The One Euro filter (Casiez, Roussel, Vogel, CHI 2012): smooth at rest, little lag in
motion. Used for landmarks in video mode (k2m_core.pose) and for body parameters (k2m_ros)."""

from __future__ import annotations

import math

import numpy as np


def _smoothing_factor(cutoff_hz: np.ndarray | float, dt: float) -> np.ndarray | float:
    """Exponential smoothing weight of a first-order low-pass at ``cutoff_hz`` over ``dt``."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff_hz))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """The One Euro filter (Casiez, Roussel, Vogel, CHI 2012) on numpy vectors, per element.

    The cutoff rises from ``min_cutoff`` (Hz) with the filtered speed times ``beta``: low
    jitter at rest, low lag in motion. ``d_cutoff`` (Hz) smooths the speed estimate. Time comes
    from the stamps (ns), so dropped frames and uneven rates are handled. A stamp earlier than
    the last starts over; an equal one returns the last output.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0):
        if not (min_cutoff > 0 and d_cutoff > 0 and beta >= 0):
            raise ValueError(
                "OneEuroFilter needs min_cutoff > 0, d_cutoff > 0 and beta >= 0 (Hz, Hz, s/unit), "
                f"got {min_cutoff}, {d_cutoff}, {beta}"
            )
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.d_cutoff = float(d_cutoff)
        self.reset()

    def reset(self) -> None:
        self._value: np.ndarray | None = None
        self._speed: np.ndarray | None = None
        self._stamp_ns = 0

    def __call__(self, x: np.ndarray, stamp_ns: int, speed_scale: float = 1.0) -> np.ndarray:
        """The filtered ``x`` at ``stamp_ns``. ``speed_scale`` turns the speed into the units
        ``beta`` is meant for (MediaPipe divides by the person's size: sizes per second)."""
        x = np.asarray(x, dtype=np.float64)
        if self._value is not None and self._value.shape != x.shape:
            raise ValueError(f"OneEuroFilter got shape {x.shape} after {self._value.shape}")
        if self._value is None or stamp_ns < self._stamp_ns:
            self._value, self._speed, self._stamp_ns = x.copy(), np.zeros_like(x), int(stamp_ns)
            return x.copy()
        if stamp_ns == self._stamp_ns:
            return self._value.copy()
        dt = (stamp_ns - self._stamp_ns) * 1e-9
        raw_speed = (x - self._value) * (speed_scale / dt)
        a_d = _smoothing_factor(self.d_cutoff, dt)
        self._speed = self._speed + a_d * (raw_speed - self._speed)
        a = _smoothing_factor(self.min_cutoff + self.beta * np.abs(self._speed), dt)
        self._value = self._value + a * (x - self._value)
        self._stamp_ns = int(stamp_ns)
        return self._value.copy()
