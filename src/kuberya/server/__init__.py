"""kuberya.server."""
