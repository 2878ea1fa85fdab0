"""kuberya.nl."""
