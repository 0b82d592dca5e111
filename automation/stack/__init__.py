"""Stack operations: preview, deploy, refresh and destroy of one stack (run.py), what a layer
needs before the engine runs (upstream.py, config_check.py), the preview gate (gate.py), progress
from engine events (progress.py), the wait for Swarm to converge (convergence.py), drift
(drift.py), and the text and PR-comment reports (report.py, report_markdown.py)."""
