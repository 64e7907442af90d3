"""A throw-away Redmine 5 from Debian's packages on loopback, for tests against the real thing.

Debian's `redmine` + `redmine-sqlite` + `thin` (`.ci/install-redmine`) are the application; each
test session builds its own SQLite database in a scratch folder (Rails takes `DATABASE_URL`, so
the packaged instance is never touched), seeds it in one `rails runner` (REST API on, users,
roles, a project with its trackers, custom fields) and serves it with `thin` in a process group
of its own, stopped as a group afterwards. The recipe and the blockers it works around are in
shared/reference/real-peers.md: thin started directly (rails server wants to write into the
read-only app folder), run as www-data (owner of the app's logs), migrate and default data as
two processes (a stale column cache otherwise).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

APP = Path("/usr/share/redmine")
THIN = Path("/usr/bin/thin")
USER = "www-data"
START_TIMEOUT = 120.0  # seconds for thin to answer; a fresh boot takes about 5

# Seeds the fresh database and prints what the tests need as one JSON line. Users are made
# here rather than through the API: their API keys and the custom fields (which the REST API
# cannot create) come out of the same process.
SEED = r"""
require "json"
Setting.rest_api_enabled = "1"
admin = User.find_by_login("admin")
admin.must_change_passwd = false
admin.save!
trackers = Tracker.order(:id).to_a
fields = {}
%w[Kundennummer Domain Helpdesk-Ticket].each do |name|
  f = IssueCustomField.new(name: name, field_format: "string", is_for_all: true,
                           visible: true, is_filter: true)
  f.trackers = trackers
  f.save!
  fields[name] = f.id
end
project = Project.new(name: "Bridge Test", identifier: "bridge-test", is_public: false)
project.trackers = trackers
project.save!
other = Project.new(name: "Other Product", identifier: "other-product", is_public: false)
other.trackers = trackers.first(1)
other.save!
def make_user(login, first, last)
  u = User.new(firstname: first, lastname: last, mail: "#{login}@example.net")
  u.login = login
  u.password = "#{login}-password-1"
  u.must_change_passwd = false
  u.save!
  u
end
roles = Role.where(builtin: 0).index_by(&:name)
users = {}
[["bridge", "Ticket", "Bridge", "Manager"], ["dana", "Dana", "Developer", "Developer"],
 ["rita", "Rita", "Reporter", "Reporter"]].each do |login, first, last, role|
  u = make_user(login, first, last)
  Member.create!(project: project, principal: u, role_ids: [roles[role].id])
  users[login] = {id: u.id, key: u.api_key, role: role}
end
Member.create!(project: other, principal: User.find_by_login("bridge"),
               role_ids: [roles["Manager"].id])
print JSON.generate(admin: admin.api_key, users: users, fields: fields,
                    project: {id: project.id, identifier: project.identifier},
                    other: {id: other.id, identifier: other.identifier},
                    trackers: trackers.map { |t| [t.name, t.id] }.to_h)
"""


def installed() -> str | None:
    """None when a live Redmine can be started here, else why not."""
    if not (APP / "config.ru").is_file() or not THIN.is_file():
        return (
            "Debian's redmine, redmine-sqlite and thin are not installed (bash .ci/install-redmine)"
        )
    if os.geteuid() != 0:
        return "starting Redmine needs root (it runs as www-data through runuser)"
    try:
        pwd.getpwnam(USER)
    except KeyError:
        return f"no {USER} user"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveRedmine:
    """One running instance: its URL, the seeded ids and API keys, and how to stop it."""

    url: str
    base: Path
    seed: dict[str, Any]
    process: subprocess.Popen[bytes]

    def key(self, login: str) -> str:
        return str(self.admin_key if login == "admin" else self.seed["users"][login]["key"])

    def user_id(self, login: str) -> str:
        return str(self.seed["users"][login]["id"])

    @property
    def admin_key(self) -> str:
        return str(self.seed["admin"])

    @property
    def project(self) -> str:
        return str(self.seed["project"]["identifier"])

    def field(self, name: str) -> str:
        return str(self.seed["fields"][name])

    def api(self, login: str, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A request as one of the seeded people (the developer, the admin), not the bridge."""
        headers = {"X-Redmine-API-Key": self.key(login), **kwargs.pop("headers", {})}
        response = requests.request(
            method, f"{self.url}/{path.lstrip('/')}", headers=headers, timeout=30, **kwargs
        )
        response.raise_for_status()
        return response

    def stop(self) -> None:
        """The whole process group (runuser and thin), then the scratch folder."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        shutil.rmtree(self.base, ignore_errors=True)


def _run_as_app(base: Path, args: list[str], log: Path, **extra: str) -> str:
    env = [
        "env",
        "REDMINE_INSTANCE=default",
        "RAILS_ENV=production",
        "REDMINE_LANG=en",
        f"DATABASE_URL=sqlite3:{base}/redmine.sqlite3",
        *(f"{k}={v}" for k, v in extra.items()),
    ]
    with log.open("ab") as out:
        done = subprocess.run(
            ["runuser", "-u", USER, "--", *env, *args],
            cwd=APP,
            stdout=subprocess.PIPE,
            stderr=out,
            timeout=300,
            check=False,
        )
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}); {log}:\n{tail}")
    return done.stdout.decode()


def start() -> LiveRedmine:
    """Build, seed and serve a fresh instance (about 20 s); RuntimeError says what failed."""
    base = Path(tempfile.mkdtemp(prefix="bridge-redmine-"))
    try:
        uid = pwd.getpwnam(USER)
        os.chown(base, uid.pw_uid, uid.pw_gid)
        log = base / "setup.log"
        _run_as_app(base, ["rake", "db:migrate"], log, SCHEMA=str(base / "schema.rb"))
        _run_as_app(base, ["rake", "redmine:load_default_data"], log)
        script = base / "seed.rb"
        script.write_text(SEED)
        out = _run_as_app(
            base, ["ruby", "bin/rails", "runner", "-e", "production", str(script)], log
        )
        seed = json.loads(out.strip().splitlines()[-1])
        port = free_port()
        env = ["env", "REDMINE_INSTANCE=default", "RAILS_ENV=production",
               f"DATABASE_URL=sqlite3:{base}/redmine.sqlite3"]  # fmt: skip
        serve = [str(THIN), "start", "-c", str(APP), "-R", "config.ru", "-a", "127.0.0.1",
                 "-p", str(port), "-e", "production"]  # fmt: skip
        with (base / "thin.log").open("ab") as out_log:
            process = subprocess.Popen(
                ["runuser", "-u", USER, "--", *env, *serve],
                cwd=APP,
                stdin=subprocess.DEVNULL,
                stdout=out_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as one
            )
        live = LiveRedmine(f"http://127.0.0.1:{port}", base, seed, process)
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise
    try:
        _wait_until_up(live)
    except BaseException:
        live.stop()
        raise
    return live


def _wait_until_up(live: LiveRedmine) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if live.process.poll() is not None:
            raise RuntimeError(f"thin exited with {live.process.returncode}; see {live.base}")
        try:
            if requests.get(f"{live.url}/", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    log = (live.base / "thin.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"Redmine did not answer within {START_TIMEOUT:g} s:\n{log}")
