"""Image-tag rollouts: release records, the pre-rollout lint, the gate policy and the watcher.

The pure parts (``assess``, ``lint_service``, ``evaluate_rollout``, the release store) take data in
and return values; the Docker and Pulumi calls live in ``run.py`` and the command module.
"""
