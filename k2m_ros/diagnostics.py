"""What the nodes report on /diagnostics, without ROS: rates, per-stage latency, problems.

A node counts frames in and out and times its stages; once a period (1 s) it turns the counts
into one status (level, message, key-values, as diagnostic_msgs/DiagnosticStatus holds them)
and starts a fresh period.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

OK, WARN, ERROR = 0, 1, 2  # diagnostic_msgs/DiagnosticStatus levels
PERIOD_S = 1.0


@dataclass
class Report:
    """One diagnostics status: level (OK/WARN/ERROR), message, key-values."""

    level: int
    message: str
    values: list[tuple[str, str]]


@dataclass
class StageStats:
    """Input and output rates and per-stage latency over one diagnostics period."""

    input_topic: str
    started_s: float = field(default_factory=time.monotonic)
    received: int = 0
    published: int = 0
    errors: int = 0
    last_error: str = ""
    people: int = 0
    without_body: int = 0  # people seen in this period who got no body
    no_body_reason: str = ""
    stages: dict[str, list[float]] = field(default_factory=dict)

    def frame_in(self) -> None:
        self.received += 1

    def frame_out(
        self, seconds: Mapping[str, float], people: int, no_body: Mapping[int, str] = ()
    ) -> None:
        """A frame went out with ``people``; ``no_body``: person -> why it got no body."""
        self.published += 1
        self.people = people
        reasons = dict(no_body)
        if reasons:
            self.without_body += len(reasons)
            self.no_body_reason = next(iter(reasons.values()))
        for stage, value in seconds.items():
            self.stages.setdefault(stage, []).append(float(value))

    def failed(self, error: str) -> None:
        self.errors += 1
        self.last_error = error

    def report(self, now_s: float | None = None, extra: Mapping[str, str] = ()) -> Report:
        """The status for the period since the last report, then a fresh period.

        Dropped frames (bad input) make it WARN while others still go out, ERROR when none
        did; no input at all is a WARN naming the usual causes."""
        now_s = time.monotonic() if now_s is None else now_s
        span = max(now_s - self.started_s, 1e-9)
        values = [
            ("input topic", self.input_topic),
            ("input rate (Hz)", f"{self.received / span:.1f}"),
            ("output rate (Hz)", f"{self.published / span:.1f}"),
            ("frames dropped", str(self.errors)),
            ("people", str(self.people)),
            ("people without a body", str(self.without_body)),
        ]
        if self.without_body:
            values.append(("why no body (last)", self.no_body_reason))
        for stage, seconds in self.stages.items():
            values.append((f"{stage} latency mean (ms)", f"{1e3 * np.mean(seconds):.2f}"))
            values.append((f"{stage} latency max (ms)", f"{1e3 * np.max(seconds):.2f}"))
        values.extend((str(k), str(v)) for k, v in dict(extra).items())
        rates = f"{self.received / span:.1f} Hz in, {self.published / span:.1f} Hz out"
        if self.errors:
            level = WARN if self.published else ERROR
            message = f"{rates}, {self.errors} frames dropped: {self.last_error}"
        elif not self.received:
            level = WARN
            message = f"no input on {self.input_topic}: check the topic name and QoS reliability"
        else:
            level, message = OK, rates
        self.started_s, self.received, self.published, self.errors = now_s, 0, 0, 0
        self.without_body, self.no_body_reason = 0, ""
        self.stages = {}
        return Report(level, message, values)


def inactive_report(input_topic: str) -> Report:
    """What a configured but inactive lifecycle node reports."""
    return Report(
        OK, "inactive: models loaded, waiting for activate", [("input topic", input_topic)]
    )
