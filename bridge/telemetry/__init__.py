"""What every process reports: metrics kept in Redis, structured logs, refused webhooks.

The floor under everything that reports: the registry wires request metrics into every
connector, the web endpoint, the jobs, the workers and the poller record through `hooks`. So it
imports nothing above the key space and the neutral model; the console and `/metrics` read what
it wrote from above (bridge.ops).
"""
