"""The MantisBT sandbox: `MantisSandbox` is the public surface of this package."""

from bridge.sandbox.mantis.constants import SERVER_TZ, VERSION, ApiFault
from bridge.sandbox.mantis.sandbox import MantisSandbox

__all__ = ["SERVER_TZ", "VERSION", "ApiFault", "MantisSandbox"]
