"""How the Zendesk connector reaches Zendesk: the API below `/api/v2`, and its credentials.

API tokens use Basic auth with the username `{email}/token` (api-facts 1.1); an OAuth access token
goes into a Bearer header. Password auth is deliberately unsupported: Zendesk blocks it for
2FA/SSO users and is phasing it out. Writes pass `json=`, which sets `Content-Type:
application/json` as Zendesk requires for POST/PUT; uploads set the file's own Content-Type.
"""

from __future__ import annotations

from collections.abc import Mapping

from bridge.errors import PermanentError
from connectors.access import Api, Credentials
from connectors.zendesk.config import ZendeskAuth


def credentials(auth: Mapping[str, str]) -> Credentials:
    if ZendeskAuth.way_in(auth) == ("oauth_token",):
        return Credentials(headers={"Authorization": f"Bearer {auth['oauth_token']}"})
    return Credentials(basic=(f"{auth['email']}/token", auth["token"]))


REST = Api("/api/v2", ZendeskAuth, credentials)


def ticket_path(ticket_id: str) -> str:
    """Ticket ids are numbers; refusing anything else keeps odd ids out of the URL path."""
    text = str(ticket_id).strip()
    if not text.isdigit() or not text.isascii():
        raise PermanentError(f"zendesk ticket id {ticket_id!r} is not a number")
    return f"tickets/{int(text)}"
