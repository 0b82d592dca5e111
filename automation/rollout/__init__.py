"""Image-tag rollouts: release records, the pre-rollout lint and the gate policy.

The Swarm update watcher the rollout shares with deploy is automation/swarm_watch.py.

The pure parts (``lint_service``, ``evaluate_rollout``, the release store) take data in
and return values; the Docker and Pulumi calls live in ``run.py`` and the command module.
"""
