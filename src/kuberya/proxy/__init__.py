"""kuberya.proxy."""
