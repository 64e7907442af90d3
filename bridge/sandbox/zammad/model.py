"""The Zammad sandbox's state and the rules Zammad applies when it changes.

Plain dicts behind the sandbox's lock (callers hold it). Validation answers like Zammad's
controllers do (api-facts.md section 2.2/2.5): 422 `{"error", "error_human"}` for missing
articles, unknown lookup names, bad base64 or a pending state without `pending_time`; 404 for
unknown records. Unknown ticket keys are dropped silently, as `Ticket.param_cleanup` keeps only
real attributes.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

DEFAULT_STATES = (
    # id, name, state_type_id, active, default_create, default_follow_up (db/seeds)
    (1, "new", 1, True, True, False),
    (2, "open", 2, True, False, True),
    (3, "pending reminder", 3, True, False, False),
    (4, "closed", 5, True, False, False),
    (5, "merged", 6, True, False, False),
    (6, "removed", 7, False, False, False),
    (7, "pending close", 4, True, False, False),
)
DEFAULT_PRIORITIES = ((1, "1 low", False), (2, "2 normal", True), (3, "3 high", False))
ARTICLE_TYPES = {"email": 1, "sms": 2, "chat": 3, "fax": 4, "phone": 5, "note": 10, "web": 11}
SENDERS = {"Agent": 1, "Customer": 2, "System": 3}
ROLES = {"Admin": 1, "Agent": 2, "Customer": 3}
PENDING_STATE_TYPES = frozenset({3, 4})
SYSTEM_USER = 1


class ApiError(Exception):
    """An error answer with Zammad's JSON shape."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def iso(moment: datetime) -> str:
    """Zammad's format: UTC, milliseconds, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def not_found(kind: str, ident: Any) -> ApiError:
    return ApiError(404, f"Couldn't find {kind} with 'id'={ident}")


def no_lookup(field: str, value: Any) -> ApiError:
    return ApiError(422, f"No lookup value found for '{field}': \"{value}\"")


class ZammadModel:
    """Users, groups, states, priorities, tickets, articles, files and tags."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.users: dict[int, dict[str, Any]] = {}
        self.tokens: dict[str, int] = {}
        self.groups: dict[str, int] = {"Users": 1}
        self.states = [
            {
                "id": i,
                "name": n,
                "state_type_id": t,
                "next_state_id": 4 if i == 7 else None,
                "ignore_escalation": t in (3, 4, 5, 6, 7),
                "default_create": dc,
                "default_follow_up": df,
                "note": None,
                "active": a,
            }
            for i, n, t, a, dc, df in DEFAULT_STATES
        ]
        self.priorities = [
            {"id": i, "name": n, "default_create": d, "ui_icon": None, "ui_color": None}
            | {"note": None, "active": True}
            for i, n, d in DEFAULT_PRIORITIES
        ]
        self.attributes: list[str] = []
        self.tickets: dict[int, dict[str, Any]] = {}
        self.articles: dict[int, list[dict[str, Any]]] = {}
        self.files: dict[int, bytes] = {}
        self.tags: dict[int, list[str]] = {}
        self._ids = {"user": 1, "ticket": 0, "article": 0, "file": 0, "group": 1}
        self._add_user_row("-", "", "", "Admin", None, login="-", user_id=SYSTEM_USER)

    def take(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    # ------------------------------------------------------------------ users

    def _add_user_row(
        self,
        firstname: str,
        lastname: str,
        email: str,
        role: str,
        token: str | None,
        login: str | None = None,
        user_id: int | None = None,
    ) -> int:
        if role not in ROLES:
            raise ValueError(f"role must be one of {sorted(ROLES)}, not {role!r}")
        user_id = user_id if user_id is not None else self.take("user")
        now = self.clock()
        self.users[user_id] = {
            "id": user_id,
            "login": (login or email).lower(),
            "firstname": firstname,
            "lastname": lastname,
            "email": email,
            "organization_id": None,
            "active": user_id != SYSTEM_USER,
            "vip": False,
            "verified": False,
            "note": "",
            "last_login": None,
            "login_failed": 0,
            "preferences": {},
            "role": role,
            "role_ids": [ROLES[role]],
            "group_ids": {"1": ["full"]} if role != "Customer" else {},
            "created_by_id": SYSTEM_USER,
            "updated_by_id": SYSTEM_USER,
            "created_at": now,
            "updated_at": now,
        }
        if token:
            self.tokens[token] = user_id
        return user_id

    def add_user(
        self, firstname: str, lastname: str, email: str, role: str, token: str | None
    ) -> int:
        return self._add_user_row(firstname, lastname, email, role, token)

    def is_agent(self, user_id: int) -> bool:
        return self.users[user_id]["role"] in ("Agent", "Admin")

    def user_by_ref(self, value: Any, field: str) -> int:
        """An id, login or e-mail, as `association_name_to_id_convert` looks users up."""
        if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
            if int(value) in self.users:
                return int(value)
            raise no_lookup(field, value)
        text = str(value).strip().lower()
        for user in self.users.values():
            if text and text in (user["login"], str(user["email"]).lower()):
                return int(user["id"])
        raise no_lookup(field, value)

    def display_name(self, user_id: int) -> str:
        user = self.users[user_id]
        return f"{user['firstname']} {user['lastname']}".strip() or str(user["login"])

    # --------------------------------------------------------------- lookups

    def _resolve(self, table: list[dict[str, Any]], field: str, params: Mapping[str, Any]) -> Any:
        """`<field>_id` wins over `<field>` (a name); None when neither is given."""
        if params.get(f"{field}_id") not in (None, ""):
            wanted = params[f"{field}_id"]
            for row in table:
                if str(row["id"]) == str(wanted):
                    return row
            raise no_lookup(f"{field}_id", wanted)
        if params.get(field) not in (None, ""):
            for row in table:
                if row["name"] == params[field]:
                    return row
            raise no_lookup(field, params[field])
        return None

    def state(self, state_id: int) -> dict[str, Any]:
        return next(s for s in self.states if s["id"] == state_id)

    def priority(self, priority_id: int) -> dict[str, Any]:
        return next(p for p in self.priorities if p["id"] == priority_id)

    def group_name(self, group_id: int) -> str:
        return next(name for name, gid in self.groups.items() if gid == group_id)

    # --------------------------------------------------------------- tickets

    def get_ticket(self, ticket_id: int, user_id: int) -> dict[str, Any]:
        ticket = self.tickets.get(int(ticket_id))
        if ticket is None:
            raise not_found("Ticket", ticket_id)
        if not self.is_agent(user_id) and ticket["customer_id"] != user_id:
            raise ApiError(403, "Not authorized")
        return ticket

    def create_ticket(self, actor: int, params: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
        """`POST /tickets`: validate everything first, so a 422 leaves no half-made ticket."""
        article = params.get("article")
        if not isinstance(article, Mapping):
            raise ApiError(422, "article hash is missing")
        if not article.get("body"):
            raise ApiError(422, 'Need at least article: { body: "some text" }')
        self._check_attachments(article.get("attachments"))
        title = str(params.get("title") or "").strip()
        if not title:
            raise ApiError(422, "Missing required value for field 'title'!")
        group_rows = [{"id": gid, "name": name} for name, gid in self.groups.items()]
        group = self._resolve(group_rows, "group", params)
        if group is None:
            raise ApiError(422, "Missing required value for field 'group_id'!")
        customer_id = self._customer_of(actor, params)
        state = self._resolve(self.states, "state", params) or next(
            s for s in self.states if s["default_create"]
        )
        priority = self._resolve(self.priorities, "priority", params) or next(
            p for p in self.priorities if p["default_create"]
        )
        pending = params.get("pending_time")
        if state["state_type_id"] in PENDING_STATE_TYPES and not pending:
            raise ApiError(422, "Missing required value for field 'pending_time'!")
        now = self.clock()
        ticket_id = self.take("ticket")
        ticket: dict[str, Any] = {
            "id": ticket_id,
            "number": str(31000 + ticket_id),
            "title": title,
            "group_id": group["id"],
            "state_id": state["id"],
            "priority_id": priority["id"],
            "owner_id": SYSTEM_USER,
            "customer_id": customer_id,
            "organization_id": None,
            "note": None,
            "type": params.get("type"),
            "pending_time": pending,
            "article_count": 0,
            "create_article_type_id": None,
            "create_article_sender_id": None,
            "last_contact_at": None,
            "escalation_at": None,
            "time_unit": None,
            "preferences": {},
            "created_by_id": actor,
            "updated_by_id": actor,
            "created_at": now,
            "updated_at": now,
        }
        for name in self.attributes:
            ticket[name] = params.get(name)
        self.tickets[ticket_id] = ticket
        self.articles[ticket_id] = []
        self.tags[ticket_id] = [t.strip() for t in str(params.get("tags") or "").split(",")]
        self.tags[ticket_id] = [t for t in self.tags[ticket_id] if t]
        created = self.add_article(actor, ticket, article, touch_time=now)
        ticket["create_article_type_id"] = created["type_id"]
        ticket["create_article_sender_id"] = created["sender_id"]
        return ticket, created

    def _customer_of(self, actor: int, params: Mapping[str, Any]) -> int:
        if not self.is_agent(actor):
            return actor  # customers always create for themselves
        value = params.get("customer_id")
        if isinstance(value, str) and value.startswith("guess:"):
            email = value[len("guess:") :].strip()
            if "@" not in email:
                raise ApiError(422, f"Invalid email '{email}' of customer")
            try:
                return self.user_by_ref(email, "customer")
            except ApiError:
                return self.add_user("", "", email, "Customer", None)
        if value not in (None, ""):
            return self.user_by_ref(value, "customer_id")
        if params.get("customer") not in (None, ""):
            return self.user_by_ref(params["customer"], "customer")
        raise ApiError(422, "Missing required value for field 'customer_id'!")

    def update_ticket(
        self, actor: int, ticket_id: int, params: Mapping[str, Any]
    ) -> tuple[dict[str, Any], Any, bool]:
        """`PUT /tickets/{id}`: returns (ticket, new article or None, anything changed)."""
        ticket = self.get_ticket(ticket_id, actor)
        changes: dict[str, Any] = {}
        state = self._resolve(self.states, "state", params)
        if state is not None:
            changes["state_id"] = state["id"]
        priority = self._resolve(self.priorities, "priority", params)
        if priority is not None:
            changes["priority_id"] = priority["id"]
        group_rows = [{"id": gid, "name": name} for name, gid in self.groups.items()]
        group = self._resolve(group_rows, "group", params)
        if group is not None:
            changes["group_id"] = group["id"]
        for key in ("title", "pending_time", "type", *self.attributes):
            if key in params:
                changes[key] = params[key]
        final_state = self.state(changes.get("state_id", ticket["state_id"]))
        pending = changes.get("pending_time", ticket["pending_time"])
        if final_state["state_type_id"] in PENDING_STATE_TYPES and not pending:
            raise ApiError(422, "Missing required value for field 'pending_time'!")
        article = params.get("article")
        if isinstance(article, Mapping) and article:
            if not article.get("body"):
                raise ApiError(422, 'Need at least article: { body: "some text" }')
            self._check_attachments(article.get("attachments"))
        changed = {k: v for k, v in changes.items() if ticket.get(k) != v}
        ticket.update(changed)
        if changed:
            ticket["updated_at"] = self.clock()
            ticket["updated_by_id"] = actor
        created = None
        if isinstance(article, Mapping) and article:
            created = self.add_article(actor, ticket, article)
        return ticket, created, bool(changed) or created is not None

    # -------------------------------------------------------------- articles

    def _check_attachments(self, attachments: Any) -> list[tuple[str, str, bytes]]:
        """Checks of `CreatesTicketArticles#article_create`, with its messages."""
        decoded: list[tuple[str, str, bytes]] = []
        for index, item in enumerate(attachments or ()):
            for key in ("mime-type", "filename", "data"):
                if not isinstance(item, Mapping) or not item.get(key):
                    raise ApiError(
                        422, f"Attachment needs '{key}' param for attachment with index '{index}'"
                    )
            try:
                data = base64.b64decode(
                    str(item["data"]).replace("\n", "").replace("\r", ""), validate=True
                )
            except (binascii.Error, ValueError) as exc:
                raise ApiError(422, f"Invalid base64 for attachment with index '{index}'") from exc
            decoded.append((str(item["filename"]), str(item["mime-type"]), data))
        return decoded

    def add_article(
        self,
        actor: int,
        ticket: dict[str, Any],
        params: Mapping[str, Any],
        touch_time: datetime | None = None,
    ) -> dict[str, Any]:
        """Store an article and touch the ticket, as an article's after-create callbacks do."""
        if not params.get("body"):
            raise ApiError(422, 'Need at least article: { body: "some text" }')
        files = self._check_attachments(params.get("attachments"))
        agent = self.is_agent(actor)
        type_name = str(params.get("type") or "note")
        if type_name not in ARTICLE_TYPES:
            raise no_lookup("type", type_name)
        if not agent and type_name not in ("note", "web"):
            type_name = "note"
        sender = str(params.get("sender") or ("Agent" if agent else "Customer"))
        if not agent:
            sender = "Customer"
        if sender not in SENDERS:
            raise no_lookup("sender", sender)
        origin = params.get("origin_by_id") if agent else None
        if origin not in (None, "") and int(origin) not in self.users:
            raise no_lookup("origin_by_id", origin)
        now = touch_time or self.clock()
        article_id = self.take("article")
        stored_files = []
        for filename, mime, data in files:
            file_id = self.take("file")
            self.files[file_id] = data
            stored_files.append(
                {"id": file_id, "filename": filename, "size": str(len(data))}
                | {"preferences": {"Mime-Type": mime}}
            )
        author = int(origin) if origin not in (None, "") else actor
        article = {
            "id": article_id,
            "ticket_id": ticket["id"],
            "type_id": ARTICLE_TYPES[type_name],
            "sender_id": SENDERS[sender],
            "from": self.display_name(author),
            "to": params.get("to") or "",
            "cc": params.get("cc") or "",
            "subject": params.get("subject") or "",
            "reply_to": None,
            "message_id": None,
            "in_reply_to": None,
            "content_type": params.get("content_type") or "text/plain",
            "body": str(params["body"]),
            "internal": bool(params.get("internal", False)) if agent else False,
            "preferences": {},
            "origin_by_id": int(origin) if origin not in (None, "") else None,
            "created_by_id": actor,
            "updated_by_id": actor,
            "created_at": now,
            "updated_at": now,
            "attachments": stored_files,
        }
        self.articles[ticket["id"]].append(article)
        ticket["article_count"] = len(self.articles[ticket["id"]])
        ticket["updated_at"] = now
        ticket["updated_by_id"] = actor
        if not article["internal"]:
            ticket["last_contact_at"] = now
        return article

    def visible_articles(self, ticket_id: int, user_id: int) -> list[dict[str, Any]]:
        """Customers never see internal notes (Ticket::ArticlePolicy)."""
        ticket = self.get_ticket(ticket_id, user_id)
        return [
            a for a in self.articles[ticket["id"]] if self.is_agent(user_id) or not a["internal"]
        ]
