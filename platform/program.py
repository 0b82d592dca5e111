"""The platform layer: see README.md and ARCHITECTURE.md for what it declares."""


def program() -> None:
    """Declare the platform resources (filled in by the platform issue)."""
