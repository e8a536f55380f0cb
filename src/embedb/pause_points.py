"""Named points where a test can hold one thread: how a race is made to happen on purpose.

``PausePoints.reach("promote.checked")`` costs one dict lookup and does nothing
unless a test armed that point (``arm(name, action)``), typically with a
barrier that holds the thread until another one has done its part. A
``Database`` owns one instance and hands it to the parts whose races matter
(the lifecycle transitions, the write path, the search path); nothing else in
EmbeDB arms a point.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class PausePoints:
    """Actions to run when a thread reaches a named point; no-ops unless armed."""

    def __init__(self) -> None:
        self._armed: dict[str, Callable[[], None]] = {}

    def reach(self, name: str) -> None:
        """Run the action armed at ``name``, if any (in the thread that reached it)."""
        action = self._armed.get(name)
        if action is not None:
            action()

    def arm(self, name: str, action: Callable[[], None]) -> None:
        """Run ``action`` whenever a thread reaches ``name`` until ``disarm``."""
        self._armed = {**self._armed, name: action}

    def disarm(self, name: str) -> None:
        self._armed = {key: value for key, value in self._armed.items() if key != name}

    def hold(self, name: str, *, timeout: float = 30.0) -> PointHold:
        """Arm ``name`` to stop the first thread that reaches it until ``release()``; see ``PointHold``."""
        hold = PointHold(self, name, timeout)
        self.arm(name, hold.wait_here)
        return hold


class PointHold:
    """One thread held at a point: ``reached.wait()`` until it arrives, then ``release()`` it."""

    def __init__(self, points: PausePoints, name: str, timeout: float) -> None:
        self._points = points
        self._name = name
        self._timeout = timeout
        self.reached = threading.Event()
        self._released = threading.Event()
        self._taken = threading.Lock()

    def wait_here(self) -> None:
        if not self._taken.acquire(blocking=False):
            return  # only the first thread is held; later ones pass
        self.reached.set()
        self._released.wait(self._timeout)

    def release(self) -> None:
        self._points.disarm(self._name)
        self._released.set()
