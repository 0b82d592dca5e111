"""Secret rotation without downtime: one shape (run.py), one module per kind of secret."""
