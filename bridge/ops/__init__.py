"""Operations: what an operator needs at 3 a.m. without a Redis shell.

`settings` (the optional `ops` config section), `inspect` (queues, parked jobs, waiting
escalations, silent sources, ticket search), `metrics` (counters kept in Redis, because jobs run
in forked worker processes), `logs` (one JSON object per line) and `hooks` (the one-line calls
the web and job layers make). Importing this package imports nothing heavy.
"""
