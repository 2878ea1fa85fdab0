"""kuberya.cli."""
