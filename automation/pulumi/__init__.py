"""The only room that talks to Pulumi: the Automation API workspace and stacks (workspace.py),
plain `pulumi` runs for what the API only offers with secrets shown (cli.py), where a stack's
settings file lives (stack_files.py), and the one classifier of the engine's words (errors.py)."""
