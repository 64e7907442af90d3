"""The Zammad sandbox object: seed and inspect helpers around the model, app and webhooks."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from bridge.sandbox.zammad import render
from bridge.sandbox.zammad.app import build_app
from bridge.sandbox.zammad.model import ApiError, ZammadModel
from bridge.sandbox.zammad.webhooks import Hook, WebhookSender


@contextmanager
def _helper_errors() -> Iterator[None]:
    """Seed helpers raise ValueError (not HTTP answers) for unknown ids or invalid data."""
    try:
        yield
    except ApiError as exc:
        raise ValueError(exc.message) from exc


class ZammadSandbox:
    """In-process Zammad: seed with `add_user`/`add_attribute`, serve `.app`, inspect state.

    `clock` may be injected for deterministic timestamps; `url` is the public base URL used in
    webhook attachment links (Zammad's `http_type://fqdn`), by default the host the API was last
    called on. `retry_wait` scales the pauses between webhook attempts.
    """

    def __init__(
        self,
        clock: Callable[[], datetime] | None = None,
        url: str | None = None,
        retry_wait: float = 0.02,
    ) -> None:
        self.lock = threading.RLock()
        self.model = ZammadModel(clock or (lambda: datetime.now(UTC)))
        self.url = url
        self._seen_url: str | None = None
        self._log: list[dict[str, Any]] = []
        self._faults: list[tuple[int, float | None]] = []
        self._webhooks = WebhookSender(self.lock, self._payload, retry_wait)
        self.app = build_app(self)

    # ------------------------------------------------------------- seed / act

    def add_user(
        self,
        firstname: str,
        lastname: str,
        email: str,
        role: str = "Customer",
        token: str | None = None,
    ) -> int:
        """A user ("Customer", "Agent" or "Admin"); `token` authenticates as `Token token=`."""
        with self.lock:
            return self.model.add_user(firstname, lastname, email, role, token)

    def add_group(self, name: str) -> int:
        with self.lock:
            group_id = self.model.take("group")
            self.model.groups[name] = group_id
            return group_id

    def add_attribute(self, name: str) -> None:
        """A custom ticket attribute (object manager field); existing tickets get None."""
        with self.lock:
            if name not in self.model.attributes:
                self.model.attributes.append(name)
                for ticket in self.model.tickets.values():
                    ticket.setdefault(name, None)

    def create_ticket_as(
        self,
        user_id: int,
        title: str,
        body: str,
        *,
        group: str = "Users",
        customer_id: int | None = None,
        priority: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        tags: Iterable[str] = (),
        internal: bool = False,
    ) -> dict[str, Any]:
        """Create a ticket with its first article as `user_id`; fires the webhook like the API."""
        params: dict[str, Any] = {
            "title": title,
            "group": group,
            "customer_id": customer_id if customer_id is not None else user_id,
            "article": {"subject": title, "body": body, "type": "note", "internal": internal},
            **dict(attributes or {}),
        }
        if priority is not None:
            params["priority"] = priority
        if tags:
            params["tags"] = ",".join(tags)
        with self.lock, _helper_errors():
            ticket, article = self.model.create_ticket(user_id, params)
            self.notify(user_id, ticket["id"], article["id"])
            return render.ticket(self.model, ticket, expand=True)

    def update_ticket_as(
        self,
        user_id: int,
        ticket_id: int,
        *,
        state: str | None = None,
        priority: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        article: str | None = None,
        internal: bool = False,
        pending_time: str | None = None,
    ) -> dict[str, Any]:
        """Change a ticket as `user_id` (an agent closing it, a customer replying...)."""
        params: dict[str, Any] = dict(attributes or {})
        if state is not None:
            params["state"] = state
        if priority is not None:
            params["priority"] = priority
        if pending_time is not None:
            params["pending_time"] = pending_time
        if article is not None:
            params["article"] = {"body": article, "type": "note", "internal": internal}
        with self.lock, _helper_errors():
            ticket, created, changed = self.model.update_ticket(user_id, int(ticket_id), params)
            if changed:
                self.notify(user_id, ticket["id"], created["id"] if created else None)
            return render.ticket(self.model, ticket, expand=True)

    def ticket(self, ticket_id: int | str) -> dict[str, Any]:
        """The ticket as `GET /tickets/{id}?expand=true` renders it (a copy)."""
        with self.lock, _helper_errors():
            row = self.model.tickets.get(int(ticket_id))
            if row is None:
                raise ValueError(f"no ticket {ticket_id}")
            return render.ticket(self.model, row, expand=True)

    def articles(self, ticket_id: int | str) -> list[dict[str, Any]]:
        """All articles (internal ones included), as `by_ticket` renders them for an agent."""
        with self.lock:
            if int(ticket_id) not in self.model.articles:
                raise ValueError(f"no ticket {ticket_id}")
            return [render.article(self.model, a) for a in self.model.articles[int(ticket_id)]]

    def tags(self, ticket_id: int | str) -> list[str]:
        with self.lock:
            return list(self.model.tags[int(ticket_id)])

    def file_content(self, attachment_id: int | str) -> bytes:
        """The stored bytes of an article attachment, to check a file arrived intact."""
        with self.lock:
            return self.model.files[int(attachment_id)]

    def fail_next(self, n: int = 1, status: int = 503, retry_after: float | None = None) -> None:
        """The next `n` API requests fail with `status` (and `Retry-After` when given)."""
        with self.lock:
            self._faults.extend([(status, retry_after)] * n)

    @property
    def request_log(self) -> list[dict[str, Any]]:
        """Every API request: method, path, query, headers, json, user_id, status."""
        with self.lock:
            return copy.deepcopy(self._log)

    # -------------------------------------------------------------- webhooks

    def configure_webhook(
        self,
        url: str,
        secret: str | None,
        exclude_user_id: int | None = None,
        trigger_name: str = "ticket bridge",
    ) -> None:
        """Deliver the default trigger payload to `url` after each change.

        Models a Webhook (signature token `secret`) plus an always-on Trigger with the condition
        "Updated by is not <exclude_user_id>" (the recommended echo guard).
        """
        self._webhooks.configure(Hook(url, secret, exclude_user_id, trigger_name))

    @property
    def deliveries(self) -> list[dict[str, Any]]:
        """Every webhook attempt: delivery_id, attempt, headers, body, status_code, error."""
        with self.lock:
            return copy.deepcopy(self._webhooks.deliveries)

    def wait_for_deliveries(self, timeout: float = 5.0) -> bool:
        """Block until no webhook is queued or in flight; False if `timeout` ran out first."""
        return self._webhooks.wait(timeout)

    def close(self) -> None:
        """Stop the delivery thread (queued deliveries are dropped)."""
        self._webhooks.close()

    # ------------------------------------------------- used by the app module

    def notify(self, actor: int, ticket_id: int, article_id: int | None) -> None:
        self._webhooks.notify(actor, ticket_id, article_id)

    def log_request(self, entry: dict[str, Any], host_url: str) -> None:
        self._seen_url = host_url
        self._log.append(entry)

    def take_fault(self) -> tuple[int, float | None] | None:
        return self._faults.pop(0) if self._faults else None

    def _payload(self, ticket_id: int, article_id: int | None) -> dict[str, Any] | None:
        base = (self.url or self._seen_url or "http://localhost").rstrip("/")
        return render.webhook_payload(self.model, ticket_id, article_id, base)
