"""At most N events a second, for the markers and clouds (bodies are never rate limited)."""

from __future__ import annotations


class RateLimiter:
    """At most ``hz`` events a second (0: no limit), without aliasing a 30 Hz stream down to
    7.5 Hz when asked for 10: a slot is taken up to a twentieth of a period early."""

    def __init__(self, hz: float) -> None:
        self.period_ns = int(1e9 / hz) if hz > 0 else 0
        self._next_ns: int | None = None

    def ready(self, now_ns: int) -> bool:
        if not self.period_ns:
            return True
        if self._next_ns is not None:
            early = self._next_ns - now_ns
            if self.period_ns // 20 < early <= self.period_ns:
                return False  # too soon (more than a period early: the clock went back)
            if -self.period_ns < early <= self.period_ns // 20:  # on time: keep the beat
                self._next_ns += self.period_ns
                return True
        self._next_ns = now_ns + self.period_ns
        return True
