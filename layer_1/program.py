"""The layer_1 layer: see README.md and ARCHITECTURE.md for what it declares."""


def program() -> None:
    """Declare the layer_1 resources (filled in by the layer_1 issue)."""
