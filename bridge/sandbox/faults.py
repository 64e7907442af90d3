"""Fault modes the sandboxes share: an answer trickled out byte by byte.

A remote that accepts the request, answers the headers at once and then sends its body a byte
every few hundred milliseconds never trips a socket timeout (every read gets a byte in time);
only a total deadline per call ends it. The fault run injects it to prove the bridge's
`options.request_deadline` does. 503/429 faults stay where each sandbox answers them (its
`fail_next`); this module only shapes a response that was already made.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from flask import Response

# How long a trickled answer may hold a server thread at most: far past any client deadline
# under test, short enough that a client which never hangs up does not pin the thread for good.
TRICKLE_LIMIT = 60.0


def trickle(
    response: Response,
    every: float,
    sleep: Callable[[float], None] = time.sleep,
    limit: float = TRICKLE_LIMIT,
) -> Response:
    """Send `response`'s body one byte per `every` seconds (headers and Content-Length at once).

    The view has already run: for a write, the change is made and only its answer is slow,
    exactly the case a client must treat as "may have been applied". After `limit` seconds
    the rest is sent at once, so the answer stays complete and valid if anyone waits it out.
    """
    body = response.get_data()
    drops = max(0, int(limit / every)) if every > 0 else len(body)

    def drip() -> Iterator[bytes]:
        for index in range(min(len(body), drops)):
            yield body[index : index + 1]
            sleep(every)
        if drops < len(body):
            yield body[drops:]

    response.response = drip()  # Content-Length stays that of the whole body
    response.headers["Content-Length"] = str(len(body))
    response.direct_passthrough = True
    return response
