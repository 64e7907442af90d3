"""How the MantisBT connector reaches MantisBT: the REST API below the installation path
(`{url}/api/rest`), and its one auth quirk: a *bare* token in `Authorization` (released 2.x
versions reject `Bearer <token>`)."""

from __future__ import annotations

from collections.abc import Mapping

from connectors.access import Api, Credentials
from connectors.mantis.config import MantisAuth


def credentials(auth: Mapping[str, str]) -> Credentials:
    return Credentials(headers={"Authorization": auth["token"]})


REST = Api("/api/rest", MantisAuth, credentials)
