"""The dotted names RQ finds the bridge's job functions by.

A job stores its function as this text, so the queue that enqueues it, the hooks that tell a
poll from a sync, the failure inbox and the console compare the same spelling. Kept apart from
bridge.jobs (which loads the engine and every connector) and bridge.queue, so the telemetry at
the bottom of the house can read them too.
"""

SYNC_FIRST_LEVEL = "bridge.jobs.sync_first_level"
POLL_SYSTEM = "bridge.jobs.poll_system"
