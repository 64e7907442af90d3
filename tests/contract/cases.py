"""Per-connector adapters for the shared contract suite.

Each adapter knows one vendor's documented JSON shapes and URLs (shared/reference/api-facts.md)
and registers them on a `responses` mock; the suite in test_connector_contract.py asks every
adapter the same questions. To add a connector, write one `ContractCase` subclass and list it
in `CASES`: nothing in the suite itself changes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import responses

from bridge.models import TicketDraft
from bridge.protocol import SystemSettings
from connectors.transport import ForeignHost

# (id, moment) pairs: comments by creation time, tickets by last update.
Item = tuple[int, datetime]
Callback = Callable[[requests.PreparedRequest], tuple[int, dict[str, str], str]]


def _json(body: Any, status: int = 200) -> tuple[int, dict[str, str], str]:
    return status, {"Content-Type": "application/json"}, json.dumps(body)


MAX_CALLS = 50


def bounded(answer: Callback) -> Callback:
    """Fail loudly instead of hanging when a connector never stops asking for more."""
    calls = 0

    def wrapped(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        nonlocal calls
        calls += 1
        if calls > MAX_CALLS:
            raise AssertionError(f"more than {MAX_CALLS} requests: the connector does not stop")
        return answer(request)

    return wrapped


def _query(request: requests.PreparedRequest) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(str(request.url)).query).items()}


class ContractCase(ABC):
    """What the suite needs from one connector. Connectors are built without inline retries."""

    name: str
    secret = "contract-secret"

    # What a download does with a file URL on another host: a CDN is fetched without
    # credentials, a system that serves its own files refuses (the token never goes along).
    foreign_files = ForeignHost.REFUSE

    @abstractmethod
    def connector(self, monotonic: Callable[[], float] = time.monotonic) -> Any:
        """A connector for this case's fake account (attempts=1, no waiting); `monotonic` is the
        clock of its calls' deadlines."""

    @abstractmethod
    def file_url(self) -> str:
        """Where an attachment of this system is downloaded from (on the configured host)."""

    @abstractmethod
    def first_read(self, ticket_id: str) -> tuple[str, str]:
        """(method, URL) of the first request `get_ticket` sends (where faults are injected)."""

    @abstractmethod
    def mock_ticket(self, rsps: responses.RequestsMock, ticket_id: str, status: str) -> None:
        """Everything `get_ticket`/`update_ticket` read, for a ticket in vendor `status`."""

    @property
    @abstractmethod
    def status(self) -> str:
        """A vendor status name the mocked ticket can have."""

    @abstractmethod
    def create_call(self) -> tuple[str, str]:
        """(method, URL) of the request that creates a ticket (a POST)."""

    def mock_before_create(self, rsps: responses.RequestsMock) -> None:
        """Lookups `create_ticket` makes before its POST (none by default)."""
        return None

    def draft(self) -> TicketDraft:
        return TicketDraft(subject="Export crashes", description="Open invoice 0", priority="high")

    @abstractmethod
    def error_body(self, status: int) -> Any:
        """The vendor's documented error body for `status` (None: reason phrase only)."""

    @abstractmethod
    def mock_comments(
        self,
        rsps: responses.RequestsMock,
        ticket_id: str,
        pages: Sequence[Sequence[Item]],
        repeat_last: bool,
    ) -> None:
        """Serve comments in `pages` as the vendor paginates them; with `repeat_last`, the
        server keeps offering "more" and answers with its last page again."""

    @abstractmethod
    def mock_changes(
        self, rsps: responses.RequestsMock, items: Sequence[Item], repeat: bool
    ) -> None:
        """Serve updated tickets for `changes_since` as the vendor's poll endpoint does; with
        `repeat`, the server never says it is done and keeps sending the same page."""

    def signed_webhook(self, secret: str) -> tuple[dict[str, str], bytes]:
        """Headers and body of a webhook signed with `secret` (connectors with WEBHOOKS)."""
        raise NotImplementedError(f"{self.name} receives no webhooks")

    signature_header = ""


# ---------------------------------------------------------------------------------- Zendesk


class ZendeskCase(ContractCase):
    name = "zendesk"
    url = "https://acme.zendesk.com"
    api = f"{url}/api/v2"
    status = "open"

    foreign_files = ForeignHost.ANONYMOUS  # content_url redirects to *.zdusercontent.com

    def connector(self, monotonic: Callable[[], float] = time.monotonic) -> Any:
        from connectors.zendesk import ZendeskConnector
        from connectors.zendesk.client import REST

        settings = SystemSettings(
            name="helpdesk",
            type="zendesk",
            url=self.url,
            auth={"email": "bridge@acme.test", "token": "t0k"},
            webhook_secret=self.secret,
            bridge_user="900",
        )
        http = REST.client(settings, attempts=1, wait_max=0, monotonic=monotonic)
        return ZendeskConnector(settings, http=http)

    def file_url(self) -> str:
        return f"{self.url}/attachments/token/tok3n/?name=trace.log"

    def first_read(self, ticket_id: str) -> tuple[str, str]:
        return "GET", f"{self.api}/tickets/{ticket_id}"

    def mock_ticket(self, rsps: responses.RequestsMock, ticket_id: str, status: str) -> None:
        ticket = {
            "id": int(ticket_id),
            "subject": "Printer on fire",
            "description": "Help",
            "status": status,
            "priority": "high",
            "requester_id": 20978392,
            "tags": [],
            "custom_fields": [],
            "created_at": "2009-07-20T22:55:29Z",
            "updated_at": "2011-05-05T10:38:52Z",
        }
        user = {"id": 20978392, "name": "Jane", "email": "jane@example.com"}
        rsps.get(f"{self.api}/tickets/{ticket_id}", json={"ticket": ticket, "users": [user]})

    def create_call(self) -> tuple[str, str]:
        return "POST", f"{self.api}/tickets"

    def error_body(self, status: int) -> Any:
        if status == 422:
            return {
                "error": "RecordInvalid",
                "description": "Record validation errors",
                "details": {"status": [{"description": "Status: invalid", "error": "Invalid"}]},
            }
        if status == 404:
            return {"error": "RecordNotFound", "description": "Not found"}
        return {"error": "Error", "description": f"HTTP {status}"}

    def mock_comments(
        self,
        rsps: responses.RequestsMock,
        ticket_id: str,
        pages: Sequence[Sequence[Item]],
        repeat_last: bool,
    ) -> None:
        path = f"{self.api}/tickets/{ticket_id}/comments"

        def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
            query = _query(request)
            index = int(query.get("page[after]", "0"))
            index = min(index, len(pages) - 1)
            more = index + 1 < len(pages) or repeat_last
            following = index + 1 if index + 1 < len(pages) else index
            # Newest first on request, the sort carried on in the next link, as Zendesk does.
            newest_first = query.get("sort") == "-created_at"
            served = [list(reversed(p)) for p in reversed(pages)] if newest_first else pages
            comments = [
                {
                    "id": comment_id,
                    "type": "Comment",
                    "author_id": 5,
                    "plain_body": f"comment {comment_id}",
                    "public": True,
                    "attachments": [],
                    "created_at": created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
                for comment_id, created in served[index]
            ]
            sort = "&sort=-created_at" if newest_first else ""
            next_url = f"{path}.json?page[size]=100{sort}&page[after]={following}" if more else None
            return _json(
                {"comments": comments, "meta": {"has_more": more}, "links": {"next": next_url}}
            )

        rsps.add_callback(
            "GET", re.compile(re.escape(path) + r"(\.json)?(\?.*)?$"), bounded(answer)
        )

    def mock_changes(
        self, rsps: responses.RequestsMock, items: Sequence[Item], repeat: bool
    ) -> None:
        """The export runs oldest first, two tickets a page, cursor = page number."""
        ordered = sorted(items, key=lambda item: item[1])
        pages = [ordered[i : i + 2] for i in range(0, len(ordered), 2)] or [[]]

        def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
            query = _query(request)
            index = 0 if "start_time" in query else int(query["cursor"])
            index = min(index, len(pages) - 1)
            last = index == len(pages) - 1
            after = str(index if repeat and last else index + 1)
            tickets = [
                {
                    "id": ticket_id,
                    "status": "open",
                    "updated_at": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "generated_timestamp": int(moment.timestamp()),
                }
                for ticket_id, moment in pages[index]
            ]
            return _json(
                {
                    "tickets": tickets,
                    "after_cursor": after,
                    "after_url": f"{self.api}/incremental/tickets/cursor.json?cursor={after}",
                    "before_cursor": None,
                    "before_url": None,
                    "end_of_stream": last and not repeat,
                }
            )

        url = re.compile(re.escape(f"{self.api}/incremental/tickets/cursor") + r".*")
        rsps.add_callback("GET", url, bounded(answer))

    signature_header = "X-Zendesk-Webhook-Signature"

    def signed_webhook(self, secret: str) -> tuple[dict[str, str], bytes]:
        body = json.dumps({"ticket_id": "42", "current_user_id": "7"}).encode()
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        mac = hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()
        headers = {
            "X-Zendesk-Webhook-Signature": base64.b64encode(mac).decode(),
            "X-Zendesk-Webhook-Signature-Timestamp": stamp,
            "X-Zendesk-Webhook-Invocation-Id": "8350205",
        }
        return headers, body


# ----------------------------------------------------------------------------------- Mantis

MANTIS_TZ = timezone(timedelta(hours=1))  # Mantis stamps times with the server's offset


def _mantis_time(moment: datetime) -> str:
    return moment.astimezone(MANTIS_TZ).isoformat(timespec="seconds")


class MantisCase(ContractCase):
    name = "mantis"
    url = "https://bugs.vendor.example/mantis"
    api = f"{url}/api/rest"
    status = "assigned"
    page_size = 2

    def connector(self, monotonic: Callable[[], float] = time.monotonic) -> Any:
        from connectors.mantis import MantisConnector
        from connectors.mantis.client import REST
        from connectors.mantis.enums import stock_enums

        settings = SystemSettings(
            name="vendor",
            type="mantis",
            url=self.url,
            auth={"token": "mantis-token"},
            bridge_user="7",
            options={"project": "Billing", "category": "General", "poll_page_size": 2},
        )
        http = REST.client(settings, attempts=1, wait_max=0, monotonic=monotonic)
        return MantisConnector(settings, http, enums=stock_enums())

    def file_url(self) -> str:
        return f"{self.api}/issues/17/files/31"

    def first_read(self, ticket_id: str) -> tuple[str, str]:
        return "GET", f"{self.api}/issues/{ticket_id}"

    def mock_ticket(self, rsps: responses.RequestsMock, ticket_id: str, status: str) -> None:
        codes = {"new": 10, "feedback": 20, "assigned": 50, "resolved": 80, "closed": 90}
        issue = {
            "id": int(ticket_id),
            "summary": "Export crashes",
            "description": "Steps",
            "project": {"id": 3, "name": "Billing"},
            "category": {"id": 1, "name": "General"},
            "reporter": {"id": 7, "name": "bridge"},
            "status": {"id": codes[status], "name": status, "label": status.upper()},
            "priority": {"id": 40, "name": "high", "label": "hoch"},
            "created_at": "2025-03-04T10:15:00+01:00",
            "updated_at": "2025-03-05T08:00:30+01:00",
        }
        rsps.get(f"{self.api}/issues/{ticket_id}", json={"issues": [issue]})

    def create_call(self) -> tuple[str, str]:
        return "POST", f"{self.api}/issues"

    def error_body(self, status: int) -> Any:
        if status == 404:
            return None  # many Mantis handlers answer with the reason phrase only
        return {"message": f"HTTP {status}", "code": 29, "localized": f"HTTP {status}"}

    def mock_comments(
        self,
        rsps: responses.RequestsMock,
        ticket_id: str,
        pages: Sequence[Sequence[Item]],
        repeat_last: bool,
    ) -> None:
        """Mantis has no notes endpoint: one issue read carries all notes (no pages)."""
        notes = [
            {
                "id": note_id,
                "reporter": {"id": 9, "name": "dev"},
                "text": f"note {note_id}",
                "view_state": {"id": 10, "name": "public", "label": "public"},
                "attachments": [],
                "type": "note",
                "created_at": _mantis_time(created),
                "updated_at": _mantis_time(created),
            }
            for page in pages
            for note_id, created in page
        ]
        issue = {"id": int(ticket_id), "notes": notes}
        rsps.get(f"{self.api}/issues/{ticket_id}", json={"issues": [issue]})

    def mock_changes(
        self, rsps: responses.RequestsMock, items: Sequence[Item], repeat: bool
    ) -> None:
        """Newest update first, `page_size` a page; with `repeat`, `page` is ignored."""
        ordered = sorted(items, key=lambda item: item[1], reverse=True)

        def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
            page = 1 if repeat else int(_query(request).get("page", "1"))
            chunk = ordered[(page - 1) * self.page_size : page * self.page_size]
            issues = [
                {"id": issue_id, "updated_at": _mantis_time(moment)} for issue_id, moment in chunk
            ]
            return _json({"issues": issues})

        rsps.add_callback(
            "GET", re.compile(re.escape(f"{self.api}/issues") + r"(\?.*)?$"), bounded(answer)
        )


# ----------------------------------------------------------------------------------- Zammad


def _zammad_time(moment: datetime) -> str:
    """Zammad sends UTC with milliseconds and `Z` (api-facts 2.1)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class ZammadCase(ContractCase):
    name = "zammad"
    url = "https://zammad.vendor.example"
    api = f"{url}/api/v1"
    status = "open"

    def connector(self, monotonic: Callable[[], float] = time.monotonic) -> Any:
        from connectors.zammad import ZammadConnector
        from connectors.zammad.client import REST

        settings = SystemSettings(
            name="vendor",
            type="zammad",
            url=self.url,
            auth={"token": "zammad-token"},
            webhook_secret=self.secret,
            bridge_user="3",
            options={"customer": "jane@example.com"},
        )
        http = REST.client(settings, attempts=1, wait_max=0, monotonic=monotonic)
        return ZammadConnector(settings, http=http)

    def file_url(self) -> str:
        return f"{self.api}/ticket_attachment/17/70/31"

    def first_read(self, ticket_id: str) -> tuple[str, str]:
        return "GET", f"{self.api}/tickets/{ticket_id}"

    def mock_ticket(self, rsps: responses.RequestsMock, ticket_id: str, status: str) -> None:
        ticket = {
            "id": int(ticket_id),
            "number": "31001",
            "title": "VPN drops",
            "group": "Users",
            "state": status,
            "state_id": 2,
            "priority": "2 normal",
            "priority_id": 2,
            "customer_id": 5,
            "updated_by_id": 5,
            "created_at": "2025-03-04T09:15:00.123Z",
            "updated_at": "2025-03-05T07:00:30.456Z",
            "article_ids": [70],  # expand=true lists them (api-facts 2.2)
        }
        article = {
            "id": 70,
            "ticket_id": int(ticket_id),
            "body": "Every hour",
            "internal": False,
            "created_by_id": 5,
            "created_at": "2025-03-04T09:15:00.123Z",
            "attachments": [],
        }
        user = {"id": 5, "email": "jane@example.com", "firstname": "Jane", "lastname": "Doe"}
        rsps.get(f"{self.api}/tickets/{ticket_id}", json=ticket)
        rsps.get(f"{self.api}/ticket_articles/70", json=article)  # the description
        rsps.get(f"{self.api}/users/5", json=user)
        rsps.get(f"{self.api}/tags", json={"tags": []})

    def create_call(self) -> tuple[str, str]:
        return "POST", f"{self.api}/tickets"

    def mock_before_create(self, rsps: responses.RequestsMock) -> None:
        states = [{"id": 1, "name": "new", "active": True}, {"id": 2, "name": "open"}]
        priorities = [{"id": 3, "name": "3 high", "active": True}]
        rsps.get(f"{self.api}/ticket_states", json=states)
        rsps.get(f"{self.api}/ticket_priorities", json=priorities)

    def draft(self) -> TicketDraft:
        return TicketDraft(subject="Export crashes", description="Open invoice 0")

    def error_body(self, status: int) -> Any:
        return {"error": f"HTTP {status}", "error_human": f"HTTP {status}"}

    def mock_comments(
        self,
        rsps: responses.RequestsMock,
        ticket_id: str,
        pages: Sequence[Sequence[Item]],
        repeat_last: bool,
    ) -> None:
        """`GET /ticket_articles/by_ticket/{id}` has no paging: one list of all articles."""
        articles = [
            {
                "id": article_id,
                "ticket_id": int(ticket_id),
                "body": f"article {article_id}",
                "internal": False,
                "created_by_id": 5,
                "created_at": _zammad_time(created),
                "attachments": [],
            }
            for page in pages
            for article_id, created in page
        ]
        rsps.get(f"{self.api}/ticket_articles/by_ticket/{ticket_id}", json=articles)

    def mock_changes(
        self, rsps: responses.RequestsMock, items: Sequence[Item], repeat: bool
    ) -> None:
        """`tickets/search?expand=true`, newest update first; with `repeat`, `page` is
        ignored (the suite's lists are shorter than Zammad's page size, so one short page)."""
        ordered = sorted(items, key=lambda item: item[1], reverse=True)

        def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
            page = 1 if repeat else int(_query(request).get("page", "1"))
            size = int(_query(request).get("per_page", "50"))
            chunk = ordered[(page - 1) * size : page * size]
            tickets = [
                {"id": ticket_id, "state": "open", "updated_at": _zammad_time(moment)}
                for ticket_id, moment in chunk
            ]
            return _json(tickets)

        url = re.compile(re.escape(f"{self.api}/tickets/search") + r".*")
        rsps.add_callback("GET", url, bounded(answer))

    signature_header = "X-Hub-Signature"

    def signed_webhook(self, secret: str) -> tuple[dict[str, str], bytes]:
        body = json.dumps({"ticket": {"id": 42, "state": "open"}, "article": {}}).encode()
        mac = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
        headers = {"X-Hub-Signature": f"sha1={mac}", "X-Zammad-Delivery": "a1b2c3"}
        return headers, body


# ---------------------------------------------------------------------------------- Redmine


def _redmine_time(moment: datetime) -> str:
    """Redmine sends UTC to the second with `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RedmineCase(ContractCase):
    name = "redmine"
    url = "https://redmine.vendor.example"
    status = "in progress"
    page_size = 2

    def connector(self, monotonic: Callable[[], float] = time.monotonic) -> Any:
        from connectors.redmine import RedmineConnector
        from connectors.redmine.client import REST

        settings = SystemSettings(
            name="vendor",
            type="redmine",
            url=self.url,
            auth={"api_key": "redmine-key"},
            bridge_user="5",
            options={"project": "Support", "tracker": "Bug", "poll_page_size": self.page_size},
        )
        http = REST.client(settings, attempts=1, wait_max=0, monotonic=monotonic)
        return RedmineConnector(settings, http)

    def file_url(self) -> str:
        return f"{self.url}/attachments/download/31/trace.log"

    def first_read(self, ticket_id: str) -> tuple[str, str]:
        return "GET", f"{self.url}/issues/{ticket_id}.json"

    def issue(self, ticket_id: str, status: str = "in progress") -> dict[str, Any]:
        return {
            "id": int(ticket_id),
            "project": {"id": 1, "name": "Support"},
            "tracker": {"id": 1, "name": "Bug"},
            "status": {"id": 2, "name": status.title(), "is_closed": False},
            "priority": {"id": 3, "name": "High"},
            "author": {"id": 5, "name": "Ticket Bridge"},
            "subject": "Export crashes",
            "description": "Steps",
            "custom_fields": [{"id": 1, "name": "Kundennummer", "value": "40711"}],
            "created_on": "2025-03-04T09:15:00Z",
            "updated_on": "2025-03-05T07:00:30Z",
            "attachments": [],
            "journals": [],
        }

    def mock_ticket(self, rsps: responses.RequestsMock, ticket_id: str, status: str) -> None:
        rsps.get(
            f"{self.url}/issues/{ticket_id}.json", json={"issue": self.issue(ticket_id, status)}
        )

    def create_call(self) -> tuple[str, str]:
        return "POST", f"{self.url}/issues.json"

    def mock_before_create(self, rsps: responses.RequestsMock) -> None:
        project = {"id": 1, "name": "Support", "identifier": "support"}
        rsps.get(f"{self.url}/projects.json", json={"projects": [project], "total_count": 1})
        trackers = [{"id": 1, "name": "Bug"}]
        rsps.get(f"{self.url}/projects/1.json", json={"project": {**project, "trackers": trackers}})
        priorities = [{"id": 3, "name": "High", "is_default": False, "active": True}]
        rsps.get(
            f"{self.url}/enumerations/issue_priorities.json", json={"issue_priorities": priorities}
        )

    def error_body(self, status: int) -> Any:
        if status == 422:
            return {"errors": ["Subject cannot be blank"]}
        return None  # 401, 403 and 404 come with an empty body, 5xx with an HTML page

    def mock_comments(
        self,
        rsps: responses.RequestsMock,
        ticket_id: str,
        pages: Sequence[Sequence[Item]],
        repeat_last: bool,
    ) -> None:
        """Redmine does not page journals: one issue read with `include=journals` has them."""
        issue = self.issue(ticket_id)
        issue["journals"] = [
            {
                "id": journal_id,
                "user": {"id": 9, "name": "Dana Developer"},
                "notes": f"note {journal_id}",
                "created_on": _redmine_time(created),
                "private_notes": False,
                "details": [],
            }
            for page in pages
            for journal_id, created in page
        ]
        rsps.get(f"{self.url}/issues/{ticket_id}.json", json={"issue": issue})

    def mock_changes(
        self, rsps: responses.RequestsMock, items: Sequence[Item], repeat: bool
    ) -> None:
        """`GET /issues.json`, newest update first, `offset`/`limit` pages with `total_count`;
        with `repeat`, `offset` is ignored and the count never reached."""
        ordered = sorted(items, key=lambda item: item[1], reverse=True)

        def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
            query = _query(request)
            assert query["status_id"] == "*" and query["updated_on"].startswith(">=")
            offset = 0 if repeat else int(query.get("offset", "0"))
            limit = int(query.get("limit", "25"))
            chunk = ordered[offset : offset + limit]
            issues = [
                {"id": issue_id, "status": {"id": 2, "name": "In Progress"},
                 "updated_on": _redmine_time(moment)}
                for issue_id, moment in chunk
            ]  # fmt: skip
            total = 10_000 if repeat else len(ordered)
            return _json({"issues": issues, "total_count": total, "offset": offset,
                          "limit": limit})  # fmt: skip

        url = re.compile(re.escape(f"{self.url}/issues.json") + r"(\?.*)?$")
        rsps.add_callback("GET", url, bounded(answer))


# ------------------------------------------------------------------------------------ cases

# A new connector: one ContractCase subclass above, one entry here.
CASES: list[ContractCase] = [ZendeskCase(), MantisCase(), ZammadCase(), RedmineCase()]
