"""The fault run: thousands of mixed changes on both sides while things break.

Real Redis (AOF on, restarted mid-run twice and hung with SIGSTOP once), real
`bridge worker --threads 2` and `bridge cron` processes (one worker process killed with SIGKILL
mid-job, twice, with both its threads; one killed right after it took the maintenance lease; one
running ten minutes behind under faketime), sandbox Zendesk and MantisBT that answer 503 for a
stretch, 429 with Retry-After, trickle a few answers a byte at a time, and refuse one pair's
comments for good (403), webhooks delivered twice and out of order and re-delivered by a patient
sender after a 503. Afterwards the sandboxes' final state is checked: every comment exactly once
on the other side (or parked with a reason, on the refused pair), no echo, statuses and
priorities consistent with the mapping, nothing left queued but parked jobs with a reason, and
every killed worker's jobs handed on within RECOVERY_BOUND. The faults themselves are in
tests/faults/faults.py. Used by tests/faults/test_fault_run.py (CI size) and tests/faults/run.py
(large).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from bridge.models import SystemRef
from bridge.records import PairKey
from bridge.redis_runtime import EmbeddedRedis, connect_web
from bridge.sandbox.stack import (
    CATEGORY,
    CUSTOMER_NUMBER,
    DOMAIN,
    MAY_CONTACT,
    Stack,
    post_zendesk_webhook,
)
from bridge.sandbox.zendesk.webhooks import Patience
from bridge.stores import LinkStore, MarkStore, SyncLog
from tests.faults.checks import FinalState
from tests.faults.expect import MANTIS, ZENDESK, Expectation, StatusChange
from tests.faults.faults import (
    RECOVERY_BOUND,
    SKEW_SECONDS,
    Faults,
    Recovery,
    read_reclaims,
    skewed_command,
)
from tests.faults.report import Report

COMPLETE = {CUSTOMER_NUMBER: "40711", DOMAIN: "shop.example.com", MAY_CONTACT: "kontakt_ja",
            CATEGORY: "technik"}  # fmt: skip
# Every third ticket says the end customer may not be contacted: the vendor's notes must never
# reach that customer publicly, whatever the route's flow says.
NO_CONSENT = {**COMPLETE, MAY_CONTACT: "kontakt_nein"}
PENDING_STATES = (b"queued", b"started", b"scheduled", b"deferred", b"rate_limited")
KINDS = {  # kind: weight
    "customer_comment": 4,
    "agent_internal": 2,
    "priority": 1,
    "vendor_public": 4,
    "vendor_private": 1,
    "vendor_status": 2,
}


@dataclass
class Plan:
    tickets: int = 20
    events: int = 300
    workers: int = 3
    seed: int = 7
    pace: float = 0.0  # seconds between changes (spreads the faults over the run)
    settle_timeout: float = 240.0
    hang: float = 20.0  # seconds Redis stays SIGSTOPped
    skew: bool = True  # worker0 runs ten minutes behind for most of the churn


# Each worker process runs two jobs at once, so a SIGKILL also takes down a sibling thread's job.
WORKER = ("worker", "--threads", "2")


class FaultRun(Faults):
    def __init__(self, base: Path, plan: Plan) -> None:
        self.base = base
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.report = Report()
        self.faults = self.report.faults
        self.recoveries: list[Recovery] = []
        self.skewed: set[str] = set()  # process names started with a skewed clock
        self.skew_argv: list[str] = []
        self.t0 = time.monotonic()
        self.refused: tuple[int, int] | None = None  # the pair whose comments MantisBT refuses
        self.expect: list[Expectation] = []
        self.pairs: list[tuple[int, int]] = []
        # ticket -> the status changes made on it, in order, with the system's own time stamp
        self.status_changes: dict[int, list[StatusChange]] = {}
        self.baseline: dict[int, str] = {}  # ticket -> the issue's status once escalated
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.redis_server = EmbeddedRedis(base / "redis")

    # -- processes -----------------------------------------------------------------------
    def _spawn(self, name: str, *args: str) -> None:
        skewed = name in self.skewed  # its own log: its lines carry its clock's times
        log = open(self.base / f"{name}{'-skewed' if skewed else ''}.log", "ab")  # noqa: SIM115
        python = self.skew_argv if skewed else [sys.executable, "-m"]
        self.procs[name] = subprocess.Popen(
            [*python, "bridge.cli", *args, "--config", str(self.stack.config_path)],
            env={**os.environ, "BRIDGE_CONFIG": str(self.stack.config_path)},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def supervise(self) -> None:
        """Restart what died, as systemd or compose would."""
        for name, proc in list(self.procs.items()):
            if proc.poll() is not None:
                self._spawn(name, *(["cron"] if name == "cron" else WORKER))

    # -- the run -------------------------------------------------------------------------
    def run(self) -> Report:
        started = time.monotonic()
        url = self.redis_server.start()
        # A short total deadline per remote call, so a trickled answer is cut within seconds;
        # the web app with the production client (a hung Redis is a 503 in 1.5 s).
        self.stack = Stack(
            self.base, redis_url=url, worker_process=False, web_redis=connect_web,
            options={"vendor": {"poll_interval": 1, "poll_overlap": 30, "request_deadline": 3},
                     "helpdesk": {"poll_interval": 3, "poll_overlap": 30,
                                  "request_deadline": 3}},
            queue={"retry": {"base": "1s", "cap": "15s", "horizon": "10m", "jitter": 0.2},
                   "job_timeout": 10},
        )  # fmt: skip
        self.stack.zendesk.export_lag = timedelta(0)
        # Zendesk retries a 503 with a short Retry-After: so does the sandbox's sender here.
        self.stack.zendesk.set_delivery_patience(Patience(attempts=12, longest_wait=40.0))
        if self.plan.skew:
            self.skew_argv, how = skewed_command()
            self.skewed.add("worker0")
            self.faults.append(f"worker0 clock 10 min behind for 3/4 of the churn ({how})")
        try:
            self.stack.start()
            # The bridge user as the README asks (bridge/demo.py does the same): MANAGER, so a
            # resolved issue takes the customer's retest reply. The sandbox starts DEVELOPER.
            self.stack.mantis.set_access(self.stack.mt_bridge, "manager")
            for n in range(self.plan.workers):
                self._spawn(f"worker{n}", *WORKER)
            self._spawn("cron", "cron")
            self._escalate()
            self._churn()
            settling = time.monotonic()
            self.report.settled = self._settle()
            self.report.settle_seconds = time.monotonic() - settling
            self._check()
        finally:
            self.abort_hang()
            for proc in self.procs.values():
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
            for proc in self.procs.values():
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
            self.stack.stop()
            self.redis_server.stop()
        self.report.seconds = time.monotonic() - started
        return self.report

    def _escalate(self) -> None:
        s = self.stack
        for n in range(self.plan.tickets):
            s.zendesk.create_ticket_as(
                s.zd_customer, f"Fault run ticket {n}", f"Error 500 in checkout, case {n}.",
                custom_fields=NO_CONSENT if n % 3 == 2 else COMPLETE, priority="normal",
            )  # fmt: skip
        store = LinkStore(s.redis)

        def complete(n: int) -> bool:
            link = store.get_link(PairKey("acme", str(n)))
            return link is not None and link.note_id not in (None, "?") and link.history_marked

        deadline = time.monotonic() + 180
        pending = set(range(1, self.plan.tickets + 1))
        while pending and time.monotonic() < deadline:
            self.supervise()
            pending = {n for n in pending if not complete(n)}
            time.sleep(0.2)
        if pending:
            raise RuntimeError(f"tickets {sorted(pending)} were not escalated before the churn")
        for n in range(1, self.plan.tickets + 1):
            link = store.get_link(PairKey("acme", str(n)))
            assert link is not None
            self.pairs.append((n, int(link.second.id)))
            self.baseline[n] = s.mantis.issue(int(link.second.id))["status"]["name"]

    def _faults_at(self) -> dict[int, str]:
        e = self.plan.events
        return {e // 12: "refuse", e // 6: "kill", e // 4: "trickle", e // 3: "mantis503",
                5 * e // 12: "hang", e // 2: "redis", 7 * e // 12: "lease", 2 * e // 3:
                "zendesk429", 3 * e // 4: "unskew", 5 * e // 6: "kill"}  # fmt: skip

    def _inject(self, fault: str) -> None:
        before = len(self.faults)
        self._inject_one(fault)
        at = time.monotonic() - self.t0
        self.faults[before:] = [f"{text} (t={at:.0f} s)" for text in self.faults[before:]]

    def _inject_one(self, fault: str) -> None:
        s = self.stack
        if fault in ("kill", "redis", "lease", "unskew"):
            self.end_hang()  # these need Redis answering (a hung one cannot even stop)
        if fault == "unskew":
            self.end_skew()
        elif fault == "kill":
            self.kill_busy_worker()
        elif fault == "lease":
            self.kill_lease_holder()
        elif fault == "hang":
            self.hang_redis(self.plan.hang)
        elif fault == "trickle":
            self.trickle()
        elif fault == "refuse":
            self.refused = tid, iid = self.rng.choice(self.pairs)
            s.mantis.refuse_notes(iid, status=403)
            self.faults.append(f"MantisBT 403 for good on notes of #{iid} (pair #{tid})")
            self._change("customer_comment", "refused0", tid, iid)  # at least one is refused
            self.report.events_sent["customer_comment"] += 1
        elif fault == "mantis503":
            s.mantis.fail_next(40, status=503)
            self.report.faults.append("MantisBT 503 x40")
        elif fault == "zendesk429":
            s.zendesk.fail_next(6, status=429, retry_after=5)
            self.report.faults.append("Zendesk 429 Retry-After 5 x6")
        elif fault == "redis":
            self.redis_server.restart(pause=1.0)
            self.report.faults.append("Redis restart")
            self.supervise()

    def _churn(self) -> None:
        faults = self._faults_at()
        kinds = [k for k, w in KINDS.items() for _ in range(w)]
        for n in range(self.plan.events):
            if n in faults:
                self._inject(faults[n])
            tid, iid = self.rng.choice(self.pairs)
            kind = self.rng.choice(kinds)
            token = f"ev{n:05d}"
            try:
                self._change(kind, token, tid, iid)
            except ValueError:
                continue  # a change the sandbox refuses (e.g. same status): nothing was sent
            self.report.events_sent[kind] += 1
            if n % 10 == 9:
                self._replay()
            if self.plan.pace:
                time.sleep(self.plan.pace)
            if n % 50 == 0:
                self.supervise()
            if n % 10 == 0:
                self.check_recoveries()

    def _change(self, kind: str, token: str, tid: int, iid: int) -> None:
        s = self.stack
        if kind == "customer_comment":
            before = s.zendesk.ticket(tid)["status"]
            t = s.zendesk.update_ticket_as(s.zd_customer, tid, comment=f"{token} retest note",
                                           status="open")  # fmt: skip
            self.expect.append(Expectation(token, ZENDESK, tid, iid, True))
            change = StatusChange(ZENDESK, "open", t["updated_at"], moved=before != "open")
            self.status_changes.setdefault(tid, []).append(change)
        elif kind == "agent_internal":
            s.zendesk.update_ticket_as(s.zd_agent, tid, comment=f"{token} internal", public=False)
            self.expect.append(Expectation(token, ZENDESK, tid, iid, False))
        elif kind == "priority":
            current = s.zendesk.ticket(tid)["priority"]
            choices = [p for p in ("low", "normal", "high", "urgent") if p != current]
            s.zendesk.update_ticket_as(s.zd_agent, tid, priority=self.rng.choice(choices))
        elif kind == "vendor_public":
            s.mantis.add_note_as(s.mt_developer, iid, f"{token} vendor question")
            self.expect.append(Expectation(token, MANTIS, tid, iid, True))
        elif kind == "vendor_private":
            s.mantis.add_note_as(s.mt_developer, iid, f"{token} vendor internal", private=True)
            self.expect.append(Expectation(token, MANTIS, tid, iid, False))
        elif kind == "vendor_status":
            current = s.mantis.issue(iid)["status"]["name"]
            choices = [x for x in ("feedback", "assigned", "resolved") if x != current]
            status = self.rng.choice(choices)
            issue = s.mantis.set_status_as(s.mt_developer, iid, status)
            change = StatusChange(MANTIS, status, issue["updated_at"])
            self.status_changes.setdefault(tid, []).append(change)

    def _replay(self) -> None:
        """Deliver an earlier webhook again: same invocation id (a retry), or a new one (late)."""
        deliveries = [d for d in self.stack.zendesk.deliveries if d.get("body")]
        if not deliveries:
            return
        d = self.rng.choice(deliveries)
        same = self.rng.random() < 0.5
        invocation = d["invocation_id"] if same else f"late-{self.rng.getrandbits(40)}"
        try:
            answer = post_zendesk_webhook(self.stack, d["body"], invocation)
            status = answer.json().get("status", str(answer.status_code))
        except Exception as exc:  # the bridge may be mid-restart: that is part of the run
            status = type(exc).__name__
        self.report.replays["duplicate" if status == "duplicate" else status] += 1

    # -- settle and check ----------------------------------------------------------------
    def _busy(self) -> int:
        r = self.stack.redis
        busy = 0
        for key in r.scan_iter("rq:job:*", count=1000):
            if r.hget(key, "status") in PENDING_STATES:
                busy += 1
        return busy

    def _settle(self) -> bool:
        """Quiet when no job is pending and two polls of each system ran after the churn."""
        r = self.stack.redis
        self.end_hang()
        end = time.time()
        deadline = time.monotonic() + self.plan.settle_timeout
        quiet = 0
        while time.monotonic() < deadline:
            self.supervise()
            self.check_recoveries()
            delivered = self.stack.zendesk.wait_for_deliveries(1.0)  # retries after a 503 too
            polled = all(
                float(r.hget(f"tb:poll:{sys_}", "last_ok_ts") or 0) > end + 4
                for sys_ in ("vendor", "helpdesk")
            )
            busy = self._busy()
            quiet = quiet + 1 if busy == 0 and polled and delivered else 0
            if quiet >= 3:
                return True
            time.sleep(1.0)
        self.report.still_queued = self._busy()
        return False

    def _check(self) -> None:
        s, rep = self.stack, self.report
        state = FinalState(s, s.config.routes[0], rep)
        state.read(self.pairs)
        state.comments(self.expect, self._parked_reason)
        if rep.parked_comments and self.refused is not None:
            state.told_of_parked(self.refused[0])
        state.statuses(self.pairs, self.status_changes, self.baseline)
        store = SyncLog(s.redis)
        for tid, _ in self.pairs:
            for entry in store.timeline(SystemRef("helpdesk", str(tid)), limit=2000):
                action = entry["action"]
                rep.retried += action == "retry"
                rep.rate_limited += action == "rate_limited"
                if action == "synced" and entry.get("changes"):
                    rep.applied["status/priority writes"] += len(entry["changes"])
        failed = FailedJobRegistry("bridge", connection=s.redis, serializer=JSONSerializer)
        for job_id in failed.get_job_ids():
            job = Job.fetch(job_id, connection=s.redis, serializer=JSONSerializer)
            if job.func_name == "bridge.jobs.poll_system":
                rep.failed_polls += 1
                continue
            reason = job.meta.get("park_reason")
            (rep.parked if reason else rep.failed_without_reason).append(f"{job_id}: {reason}")
        for d in s.zendesk.deliveries:
            code = d.get("status_code")
            rep.webhooks["2xx" if code and 200 <= code < 300 else f"{code or d.get('error')}"] += 1
        self.check_recoveries()
        behind = {log: (-SKEW_SECONDS if log.stem.endswith("-skewed") else 0.0)
                  for log in sorted(self.base.glob("worker*.log"))}  # fmt: skip
        reclaims = read_reclaims(behind)
        rep.reclaimed, rep.live_reclaimed = reclaims.total, reclaims.live
        rep.reclaimable = sum(rec.held for rec in self.recoveries)
        answered = {d["invocation_id"] for d in s.zendesk.deliveries
                    if d.get("status_code") and 200 <= d["status_code"] < 300}  # fmt: skip
        rep.undelivered = sorted({d["invocation_id"] for d in s.zendesk.deliveries} - answered)
        for rec in self.recoveries:
            took = "never" if rec.seconds is None else f"{rec.seconds:.0f} s"
            rep.recoveries.append(f"{rec.label}: jobs handed on after {took}")
            if rec.seconds is None or rec.seconds > RECOVERY_BOUND:
                rep.slow_recovery.append(f"{rec.label} ({took})")

    def _parked_reason(self, e: Expectation) -> str | None:
        """The reason a comment of the refused pair was parked with (None: not parked)."""
        if self.refused is None or e.origin != ZENDESK or e.ticket != self.refused[0]:
            return None
        comment = next(c for c in self.stack.zendesk.comments(e.ticket)
                       if c["body"].startswith(e.token))  # fmt: skip
        item = (
            MarkStore(self.stack.redis)
            .parked_items(PairKey("acme", str(e.ticket)))
            .get(f"helpdesk:{comment['id']}")
        )
        if item is None or not item.reason:
            return None
        return f"{item.reason} (refused {item.count}x)"  # once: a parked comment is not retried
