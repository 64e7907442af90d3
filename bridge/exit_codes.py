"""The exit codes of every `bridge` command, so scripts and monitors can tell the cases apart.

A monitor that runs `bridge status` every minute must know whether the bridge found a problem
(page someone about the bridge's work), could not even look (page someone about Redis or the
network), or was called wrongly (fix the script). Click already exits 2 on a usage error.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What the shell sees when a command ends."""

    OK = 0
    PROBLEM = 1  # the command ran and found something wrong (a SILENT system, no live worker)
    USAGE = 2  # wrong arguments or options (click's own code for usage errors)
    UNREACHABLE = 3  # Redis or a ticket system could not be reached, so nothing was judged
