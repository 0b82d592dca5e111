"""The layer_2 layer: see README.md and ARCHITECTURE.md for what it declares."""


def program() -> None:
    """Declare the layer_2 resources (filled in by the layer_2 issue)."""
