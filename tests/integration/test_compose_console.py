"""The console as the compose deployment configures it: docker/.env's login, bridge.yaml's
documented `ops:` block, loaded with the web container's environment, logs in on a real Redis."""

from __future__ import annotations

from pathlib import Path

from redis import Redis

from bridge.web import create_app
from tests.integration.ops_helpers import csrf_of
from tests.unit.test_compose_ops_login import FILLED_IN, bridge_yaml, load_as


def test_the_compose_login_opens_the_console(tmp_path: Path, redis: Redis) -> None:
    config = load_as("web", bridge_yaml(tmp_path, with_token=False))
    client = create_app(config, redis).test_client()
    assert client.get("/ops/", headers={"Accept": "text/html"}).status_code == 303  # to login
    token = csrf_of(client, "/ops/login")
    user, password = FILLED_IN["BRIDGE_OPS_USERNAME"], FILLED_IN["BRIDGE_OPS_PASSWORD"]
    done = client.post("/ops/login", data={"csrf_token": token, "username": user,
                                           "password": password})  # fmt: skip
    assert done.status_code == 303 and done.headers["Location"].endswith("/ops/")
    page = client.get("/ops/")
    assert page.status_code == 200 and "Queue <code>bridge</code>" in page.get_data(as_text=True)
