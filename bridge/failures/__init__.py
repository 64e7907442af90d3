"""The failure inbox: failures grouped by system and cause, and where they enter and leave it.

The jobs and the poller write it (`inbox_hooks`); the console and the CLI read it and act on its
groups from above (bridge.ops.inbox_ops). It sits above the config, the store and the registry,
whose routes, pairs and system types it names, and below everything that fails.
"""
