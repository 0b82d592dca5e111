"""The Swarm's nodes as the driver sees them: drain and activate with a plan (nodes.py,
drain.py) and per-node health rows (node_health.py)."""
