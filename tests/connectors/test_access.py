"""The one way a connector builds its HTTP client (connectors.access): every registered type's
auth rule is stated once, in its schema, and the client accepts exactly what the config check
accepts."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from marshmallow import ValidationError, fields

from bridge import registry
from bridge.errors import ConfigError
from bridge.option_fields import AuthSchema
from bridge.protocol import SystemSettings
from bridge.system_options import check_auth
from connectors.access import Api, Credentials

KINDS = registry.kinds()


def settings(kind: str, auth: dict[str, str]) -> SystemSettings:
    return SystemSettings(name="sys", type=kind, url=f"https://{kind}.example/", auth=auth)


@pytest.mark.parametrize("kind", KINDS)
def test_each_way_in_passes_the_config_check_and_builds_a_client(kind: str) -> None:
    schema = registry.connector_class(kind).auth_schema
    assert issubclass(schema, AuthSchema) and schema.ways_in
    for way in schema.ways_in:
        assert set(way) <= set(schema().fields)
        auth = {key: f"{key}-value" for key in way}
        check_auth(kind, auth)
        connector = registry.build_connector(settings(kind, auth))
        assert connector.settings.auth == auth


@pytest.mark.parametrize("kind", KINDS)
def test_a_block_the_config_check_refuses_is_a_config_error_naming_the_ways_in(kind: str) -> None:
    schema = registry.connector_class(kind).auth_schema
    incomplete = {key: "x" for key in schema.ways_in[-1][:-1]}  # one key short of the last way
    with pytest.raises(ValidationError):
        check_auth(kind, incomplete)
    with pytest.raises(ConfigError) as err:
        registry.build_connector(settings(kind, incomplete))
    assert f"system 'sys' ({kind}): auth needs {schema.summary()}" in str(err.value)
    assert schema.needs in str(err.value)


def test_the_client_carries_the_credentials_of_the_first_complete_way_on_the_api_path() -> None:
    class Auth(AuthSchema):
        key = fields.String()
        user = fields.String()
        secret = fields.String()
        ways_in = (("key",), ("user", "secret"))
        needs = "two needs auth.key, or auth.user + auth.secret"

    def credentials(auth: Mapping[str, str]) -> Credentials:
        if Auth.way_in(auth) == ("key",):
            return Credentials(headers={"X-Key": auth["key"]})
        return Credentials(basic=(auth["user"], auth["secret"]))

    api = Api("/api/v9", Auth, credentials)
    both = api.client(settings("two", {"key": "k", "user": "u", "secret": "s"}))
    basic = api.client(settings("two", {"user": "u", "secret": "s", "stray": "ignored"}))
    assert (both.base_url, both.session.headers["X-Key"], both.session.auth) == (
        "https://two.example/api/v9", "k", None
    )  # fmt: skip
    assert ("X-Key" not in basic.session.headers, basic.session.auth) == (True, ("u", "s"))
    assert Auth.summary() == "`key` or `user` + `secret`"
