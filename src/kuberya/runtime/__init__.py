"""kuberya.runtime."""
