"""The morning check: Swarm health read through the Docker API, judged by pure functions.

- model.py: Level, Finding, Thresholds (the runbook's numbers) and the overall verdict.
- checks.py: pure checks over plain snapshots (no I/O), table-tested.
- collect.py: reads those snapshots from the Docker SDK (services, tasks, stats, logs, disk).
- probes.py: network probes (TLS certificates of public hostnames, the Gatus API).
- report.py: the human table and the JSON data.

Nothing here imports docker, requests or cryptography at module level (CLI start-up stays fast).
"""
