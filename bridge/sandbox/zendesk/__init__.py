"""The Zendesk Support sandbox: `ZendeskSandbox` is the public surface of this package."""

from bridge.sandbox.zendesk.common import PRIORITIES, STATUSES, TYPES
from bridge.sandbox.zendesk.sandbox import ZendeskSandbox

__all__ = ["PRIORITIES", "STATUSES", "TYPES", "ZendeskSandbox"]
