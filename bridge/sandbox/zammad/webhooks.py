"""Trigger webhook delivery for the Zammad sandbox, modelled on `TriggerWebhookJob`.

One background thread posts each queued change. Like the real job it rebuilds the payload when it
runs (so a retry may carry a newer ticket), keeps one `X-Zammad-Delivery` id across its attempts,
retries any non-2xx or connection error up to five attempts in all, and signs the body with
`X-Hub-Signature: sha1=<hex HMAC-SHA1>`. The signature is computed here, independently of the
connector, so a connector bug cannot hide behind shared code. Waits are milliseconds, not the
real 10 s * attempt.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

ATTEMPTS = 5


@dataclass(frozen=True)
class Hook:
    url: str
    secret: str | None
    exclude_user_id: int | None
    trigger_name: str


class WebhookSender:
    """Queue + worker thread; `build` renders the payload (or None when the ticket is gone)."""

    def __init__(
        self,
        lock: threading.RLock,
        build: Callable[[int, int | None], dict[str, Any] | None],
        retry_wait: float = 0.02,
    ) -> None:
        self._lock = lock
        self._idle = threading.Condition(lock)
        self._build = build
        self._retry_wait = retry_wait
        self._hook: Hook | None = None
        self._queue: queue.Queue[tuple[Hook, int, int | None] | None] = queue.Queue()
        self._pending = 0
        self._worker: threading.Thread | None = None
        self.deliveries: list[dict[str, Any]] = []

    def configure(self, hook: Hook) -> None:
        with self._lock:
            self._hook = hook
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._loop, name="zammad-sandbox-webhooks", daemon=True
                )
                self._worker.start()

    def notify(self, actor: int, ticket_id: int, article_id: int | None) -> None:
        """Queue a delivery unless no webhook is set or the change is the excluded user's
        (the trigger condition "Updated by is not <bridge user>"). Caller holds the lock."""
        hook = self._hook
        if hook is None or (hook.exclude_user_id is not None and actor == hook.exclude_user_id):
            return
        self._pending += 1
        self._queue.put((hook, ticket_id, article_id))

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
            return True

    def close(self) -> None:
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            self._queue.put(None)
            worker.join(timeout=5)

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._deliver(*item)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _deliver(self, hook: Hook, ticket_id: int, article_id: int | None) -> None:
        delivery = str(uuid.uuid4())
        for attempt in range(1, ATTEMPTS + 1):
            with self._lock:
                payload = self._build(ticket_id, article_id)
            if payload is None:
                return  # ticket deleted meanwhile: the job is discarded
            raw = json.dumps(payload, separators=(",", ":")).encode()
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Zammad User Agent",
                "X-Zammad-Trigger": hook.trigger_name,
                "X-Zammad-Delivery": delivery,
            }
            if hook.secret and raw:
                digest = hmac.new(hook.secret.encode(), raw, hashlib.sha1).hexdigest()
                headers["X-Hub-Signature"] = f"sha1={digest}"
            record: dict[str, Any] = {
                "delivery_id": delivery,
                "trigger": hook.trigger_name,
                "ticket_id": ticket_id,
                "article_id": article_id,
                "attempt": attempt,
                "headers": dict(headers),
                "body": copy.deepcopy(payload),
                "status_code": None,
                "error": None,
            }
            try:
                answer = requests.post(hook.url, data=raw, headers=headers, timeout=10)
                record["status_code"] = answer.status_code
                ok = 200 <= answer.status_code < 300
            except requests.RequestException as exc:
                record["error"] = f"{type(exc).__name__}: {exc}"
                ok = False
            with self._lock:
                self.deliveries.append(record)
            if ok:
                return
            if attempt < ATTEMPTS:
                time.sleep(self._retry_wait * attempt)
