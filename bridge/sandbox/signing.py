"""Webhook signatures as the vendors compute them, written independently of the connectors.

The sandboxes and the stack's replay helpers sign with these, so a connector bug in checking a
signature cannot hide behind shared code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def zendesk_signature(secret: str, timestamp: str, raw: bytes) -> str:
    """What Zendesk sends in X-Zendesk-Webhook-Signature (api-facts 1.4)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + raw, hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def zammad_signature(secret: str, raw: bytes) -> str:
    """What Zammad sends in X-Hub-Signature: `sha1=` + hex HMAC-SHA1 of the body."""
    return "sha1=" + hmac.new(secret.encode(), raw, hashlib.sha1).hexdigest()
