"""The sprocket-infra driver: `python -m automation <command>` (see `--help`).

Start-up stays fast: nothing here imports pulumi, boto3 or docker at module level.
"""
