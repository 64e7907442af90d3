"""Local sandbox servers that answer like the vendors' real APIs.

They are small, stateful and in-process, used by `bridge demo` and by tests that span processes.
Their request and response shapes follow shared/reference/api-facts.md; their state can be read
directly, so the demo and tests check what really happened instead of trusting the bridge.
"""
