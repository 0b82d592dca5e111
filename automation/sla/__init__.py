"""The SLA report: per-service uptime against the runbook's targets, from Gatus's history."""
