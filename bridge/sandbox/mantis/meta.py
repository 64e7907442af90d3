"""The MantisBT sandbox's read-only meta routes: who am I, the site's settings, projects.

`GET /config` answers like 2.28's ConfigsGetCommand: only options that exist and are public,
enum strings expanded to lists of `{id, name, label}`. `users/me` lists the projects by
reference only; the bridge user's access level *per project* is in `GET /projects[/{id}]`
(mci_project_get with detail), as on the real server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g, request

from bridge.sandbox.mantis.constants import (
    ACCESS,
    ENUMS,
    ERROR_PROJECT_NOT_FOUND,
    ApiFault,
    Project,
    User,
)
from bridge.sandbox.mantis.rules import access_name
from bridge.sandbox.mantis.store import MantisStore

# The enum strings a client may read, as `$g_<kind>_enum_string`.
ENUM_OPTIONS = {f"{kind}_enum_string": kind for kind in ENUMS if kind != "view_state"}


def level(name: str) -> dict[str, Any]:
    return {"id": ACCESS[name], "name": name, "label": name}


def register_meta(
    app: Flask,
    store: MantisStore,
    base: str,
    json_response: Callable[[Any], Response],
) -> None:
    """Add `users/me`, `config` and `projects` to the sandbox app."""

    def config_value(option: str) -> tuple[bool, Any]:
        if option in ENUM_OPTIONS:
            table = ENUMS[ENUM_OPTIONS[option]]
            return True, [{"id": v, "name": k, "label": k} for k, v in table.items()]
        settings: dict[str, Any] = {
            "max_file_size": store.max_file_size,
            "reassign_on_feedback": 1 if store.reassign_on_feedback else 0,
            "bug_readonly_status_threshold": 80,
            "update_readonly_bug_threshold": ACCESS["manager"],
        }
        if option in settings:
            return True, settings[option]
        return False, None  # unknown or private options are left out, not an error

    def project_json(project: Project, user: User) -> dict[str, Any]:
        return {
            "id": project.id,
            "name": project.name,
            "status": {"id": 10, "name": "development", "label": "development"},
            "description": "",
            "enabled": True,
            "view_state": {"id": 10, "name": "public", "label": "public"},
            "access_level": level(access_name(user, project.id)),
            "custom_fields": [
                {"id": field_id, "name": name, "type": 0}
                for name, field_id in project.custom_fields.items()
            ],
            "versions": [],
            "categories": [
                {"id": cat_id, "name": name, "project": {"id": project.id, "name": project.name}}
                for name, cat_id in project.categories.items()
            ],
        }

    @app.get(f"{base}/users/me")
    def users_me() -> Response:
        user: User = g.user
        with store._lock:
            out = store._user_ref(user)
            out["language"] = "english"
            out["timezone"] = "Europe/Berlin"
            out["access_level"] = level(user.access)  # the global level
            out["projects"] = [{"id": p.id, "name": p.name} for p in store._projects.values()]
        return json_response(out)

    @app.get(f"{base}/config")
    def get_config() -> Response:
        options = request.args.getlist("option[]") or request.args.getlist("option")
        project_id = request.args.get("project_id", "0")
        with store._lock:
            if project_id not in ("", "0") and (
                not project_id.isdigit() or int(project_id) not in store._projects
            ):
                raise ApiFault(404, f"Project '{project_id}' not found", ERROR_PROJECT_NOT_FOUND)
            configs = []
            for option in options:
                known, value = config_value(option)
                if known:
                    configs.append({"option": option, "value": value})
        return json_response({"configs": configs})

    @app.get(f"{base}/projects")
    def list_projects() -> Response:
        with store._lock:
            projects = [project_json(p, g.user) for p in store._projects.values()]
        return json_response({"projects": projects})

    @app.get(f"{base}/projects/<int:project_id>")
    def get_project(project_id: int) -> Response:
        with store._lock:
            project = store._projects.get(project_id)
            if project is None:
                raise ApiFault(404, f"Project '{project_id}' not found", ERROR_PROJECT_NOT_FOUND)
            return json_response({"projects": [project_json(project, g.user)]})
