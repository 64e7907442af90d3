"""Operations: what an operator needs at 3 a.m. without a Redis shell.

`inspect` (queues, parked jobs, waiting escalations, silent sources, ticket search) with
`overview` (the records it returns), `actions` and `inbox_ops` (what an operator does),
`metrics_scrape` (the /metrics collector), `alerts` (who is told, and when). It reads what the
layers below wrote (bridge.telemetry, the failure inbox in bridge.failures, the store) and is
read only by the console, the CLI and the cron.
Importing this package imports nothing heavy.
"""
