"""A stateful Zammad REST v1 sandbox (Flask) for the demo and cross-process tests.

It answers under `/api/v1` with the shapes of api-facts.md section 2 (flat tickets, `expand=true`
names, articles with inline base64 attachments, instance states/priorities, tags, search with
paging, `{"error", "error_human"}` errors, token auth) and sends signed trigger webhooks like
`TriggerWebhookJob`. State is readable directly (`ticket()`, `articles()`, `deliveries`,
`request_log`), so tests check what really happened instead of trusting the bridge.
"""

from bridge.sandbox.zammad.sandbox import ZammadSandbox

__all__ = ["ZammadSandbox"]
