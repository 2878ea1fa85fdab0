"""kuberya.images."""
