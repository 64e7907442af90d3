"""How the Zammad connector reaches Zammad: the API below `/api/v1`, and its credentials.

A personal access token goes into `Token token=<token>` (api-facts 2.1); an OAuth2 access token
into `Bearer`. Basic auth with a password is deliberately unsupported: admins can turn it off
(`api_password_access`) and a token can be scoped to what the bridge needs.
"""

from __future__ import annotations

from collections.abc import Mapping

from connectors.access import Api, Credentials
from connectors.zammad.config import ZammadAuth


def credentials(auth: Mapping[str, str]) -> Credentials:
    if ZammadAuth.way_in(auth) == ("token",):
        return Credentials(headers={"Authorization": f"Token token={auth['token']}"})
    return Credentials(headers={"Authorization": f"Bearer {auth['oauth_token']}"})


REST = Api("/api/v1", ZammadAuth, credentials)
