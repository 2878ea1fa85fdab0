"""kuberya.resources."""
