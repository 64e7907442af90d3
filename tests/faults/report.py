"""What the fault run found: counts of what was sent, injected, copied, parked and wrong."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Report:
    events_sent: Counter[str] = field(default_factory=Counter)
    faults: list[str] = field(default_factory=list)
    webhooks: Counter[str] = field(default_factory=Counter)
    replays: Counter[str] = field(default_factory=Counter)
    applied: Counter[str] = field(default_factory=Counter)
    retried: int = 0
    rate_limited: int = 0
    parked: list[str] = field(default_factory=list)
    parked_comments: list[str] = field(default_factory=list)  # refused for good, with reason
    failed_without_reason: list[str] = field(default_factory=list)
    failed_polls: int = 0  # a poll killed mid-run; the next poll covers its window
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    leaked: list[str] = field(default_factory=list)
    echo: list[str] = field(default_factory=list)
    inconsistent: list[str] = field(default_factory=list)
    # Pairs in step by the mapping whose statuses are not what their changes, played in order,
    # give (tests/faults/expect.py): reported, not failed, while the races behind them are open.
    status_order: list[str] = field(default_factory=list)
    agent_notes: Counter[str] = field(default_factory=Counter)  # notes to the agent, by cause
    untold: list[str] = field(default_factory=list)  # held-back comments the agent never heard of
    still_queued: int = 0
    recoveries: list[str] = field(default_factory=list)
    reclaimed: int = 0  # running jobs maintenance declared abandoned
    reclaimable: int = 0  # running jobs the killed processes left behind (others: lost Redis)
    live_reclaimed: list[str] = field(default_factory=list)  # ... while their worker ran them
    undelivered: list[str] = field(default_factory=list)  # webhooks the sender gave up on
    slow_recovery: list[str] = field(default_factory=list)
    settled: bool = False
    seconds: float = 0.0  # the whole run
    settle_seconds: float = 0.0  # from the last change until quiet

    @property
    def ok(self) -> bool:
        return self.settled and not (
            self.lost or self.duplicated or self.leaked or self.echo or self.inconsistent
            or self.untold or self.failed_without_reason or self.still_queued
            or self.slow_recovery
            or self.live_reclaimed or self.undelivered
        )  # fmt: skip

    def lines(self) -> list[str]:
        sent = sum(self.events_sent.values())
        return [
            f"events sent          {sent}  ({dict(self.events_sent)})",
            f"faults injected      {len(self.faults)}: {'; '.join(self.faults)}",
            f"webhook deliveries   {dict(self.webhooks)}, {len(self.undelivered)} never accepted",
            f"replayed webhooks    {dict(self.replays)}",
            f"applied              {dict(self.applied)}",
            f"deduped              {self.webhooks['duplicate'] + self.replays['duplicate']}",
            f"retried              {self.retried} job retries, "
            f"{self.rate_limited} rate-limit waits",
            f"parked jobs          {len(self.parked)} {self.parked[:3]}",
            f"parked comments      {len(self.parked_comments)} {self.parked_comments[:2]}",
            f"failed w/o reason    {len(self.failed_without_reason)} "
            f"(+{self.failed_polls} polls superseded by the next poll)",
            f"lost                 {len(self.lost)} {self.lost[:5]}",
            f"duplicated           {len(self.duplicated)} {self.duplicated[:5]}",
            f"leaked               {len(self.leaked)} {self.leaked[:5]}",
            f"echo (extra copies)  {len(self.echo)} {self.echo[:5]}",
            f"inconsistent         {len(self.inconsistent)} {self.inconsistent[:3]}",
            f"status order         {len(self.status_order)} (not in RESULT) "
            f"{self.status_order[:4]}",
            f"notes to the agent   {dict(self.agent_notes)}; held back, not told: "
            f"{len(self.untold)} {self.untold[:3]}",
            f"left queued          {self.still_queued}",
            f"recovered            {'; '.join(self.recoveries)}",
            f"slow recovery        {len(self.slow_recovery)} {self.slow_recovery[:3]}",
            f"reclaimed jobs       {self.reclaimed} (killed processes left {self.reclaimable}); "
            f"taken from a worker still running them: {len(self.live_reclaimed)} "
            f"{self.live_reclaimed[:3]}",
            f"settled              {self.settled}, {self.settle_seconds:.0f} s after the last "
            f"change ({self.seconds:.0f} s in all)",
            f"RESULT               {'PASS' if self.ok else 'FAIL'}",
        ]
