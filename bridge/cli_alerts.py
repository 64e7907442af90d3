"""`bridge alerts test`: prove the notification channels work before they are needed.

Attached to the `bridge` group by bridge.cli_ops. It sends one test message through every
channel of the config's `alerts` section, says per channel what happened, and exits by the
worst: OK when every channel took it, UNREACHABLE when none could even be reached, PROBLEM
otherwise (a channel refused it, or there is no `alerts` section). The result is noted in
Redis for the console when Redis answers; the test itself never needs Redis.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import click

from bridge.cli_failed import Decorator
from bridge.cli_support import ProblemFound, redis_or_none
from bridge.config import Config
from bridge.exit_codes import ExitCode
from bridge.ops.alerts import send_test
from bridge.ops.notify import Delivery

Loader = Callable[[str | None], Config]


def exit_code(deliveries: list[Delivery]) -> ExitCode:
    if all(d.ok for d in deliveries):
        return ExitCode.OK
    if all(d.unreachable for d in deliveries):
        return ExitCode.UNREACHABLE
    return ExitCode.PROBLEM


def line(d: Delivery) -> str:
    if d.ok:
        return f"{d.channel.value} {d.target}: sent"
    return f"{d.channel.value} {d.target}: NOT sent: {d.error}"


def attach(main: click.Group, load: Loader, config_option: Decorator) -> None:
    """Add the `alerts` group to the `bridge` group."""

    @main.group()
    def alerts() -> None:
        """Notifications by webhook and e-mail (the config's `alerts` section)."""

    @alerts.command("test")
    @config_option
    @click.pass_context
    def alerts_test(ctx: click.Context, config_path: str | None) -> None:
        """Send one test message through every configured channel, one line per channel.

        Exits 0 when every channel took it, 3 when none could be reached, 1 otherwise (a
        channel refused it, or the config has no alerts section).
        """
        config = load(config_path)
        if config.alerts is None:
            raise ProblemFound("the config has no `alerts` section: no channel to test")
        redis = redis_or_none(config)
        deliveries = send_test(redis, config.alerts, datetime.now(UTC))
        for d in deliveries:
            click.echo(line(d))
        if redis is None:
            click.echo("(Redis not reached: the console will not show this test)")
        ctx.exit(exit_code(deliveries))
