"""kuberya.node."""
