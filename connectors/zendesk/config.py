"""What a Zendesk system block may say: its `auth` and its `options` (checked at config load)."""

from __future__ import annotations

from bridge.option_fields import AuthSchema, CommonOptions, secret_field


class ZendeskAuth(AuthSchema):
    """An API token (Basic `{email}/token`) or an OAuth access token (client.credentials)."""

    email = secret_field()
    token = secret_field()
    oauth_token = secret_field()

    # OAuth first: a block with both authenticates with the OAuth token.
    ways_in = (("oauth_token",), ("email", "token"))
    needs = "zendesk needs auth.email + auth.token, or auth.oauth_token"


class ZendeskOptions(CommonOptions):
    """Zendesk reads no options of its own."""
