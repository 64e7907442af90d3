"""`bridge run`: worker and cron as child processes beside the web server, kept alive.

A child that exits on its own (a crash, a Redis outage it could not ride out) is started
again after a pause, and so is the embedded Redis: a one-machine install has nobody else
to restart them.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from bridge.redis_runtime import EmbeddedRedis

log = logging.getLogger("bridge.run")

CHECK_EVERY = 2.0  # seconds between looks at the children
STOP_GRACE = 15.0  # seconds a child gets to finish its job on stop


class Children:
    """The worker and cron processes (and the embedded Redis, if any) of `bridge run`."""

    def __init__(
        self,
        config_path: Path,
        env: Mapping[str, str],
        embedded: EmbeddedRedis | None = None,
        roles: tuple[str, ...] = ("worker", "cron"),
        spawn: Callable[[list[str], Mapping[str, str]], subprocess.Popen[bytes]] | None = None,
    ) -> None:
        self.config_path = config_path
        self.env = dict(env)
        self.embedded = embedded
        self.roles = roles
        self.spawn = spawn or (lambda argv, env: subprocess.Popen(argv, env=dict(env)))
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.restarts: dict[str, int] = {}
        self._stopping = threading.Event()
        self._watch: threading.Thread | None = None

    def start(self) -> None:
        for role in self.roles:
            self._start(role)
        self._watch = threading.Thread(target=self._watch_loop, name="run-watch", daemon=True)
        self._watch.start()

    def _start(self, role: str) -> None:
        argv = [sys.executable, "-m", "bridge.cli", role, "--config", str(self.config_path)]
        self.processes[role] = self.spawn(argv, self.env)

    def check(self) -> list[str]:
        """Restart whatever exited on its own; returns what was restarted."""
        restarted: list[str] = []
        if self._stopping.is_set():
            return restarted
        if self.embedded is not None and not self.embedded.running:
            log.error("embedded Redis exited; starting it again on the same address and data")
            self.embedded.start()
            restarted.append("redis")
        for role, process in list(self.processes.items()):
            code = process.poll()
            if code is not None and not self._stopping.is_set():
                log.error("%s exited with %s; starting it again", role, code)
                self.restarts[role] = self.restarts.get(role, 0) + 1
                self._start(role)
                restarted.append(role)
        return restarted

    def _watch_loop(self) -> None:
        while not self._stopping.wait(CHECK_EVERY):
            try:
                self.check()
            except Exception:  # keep watching; the next look tries again
                log.exception("run: could not restart a child")

    def stop(self) -> None:
        self._stopping.set()
        if self._watch is not None:
            self._watch.join(timeout=CHECK_EVERY * 2)
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                process.kill()
        if self.embedded is not None:
            self.embedded.stop()
