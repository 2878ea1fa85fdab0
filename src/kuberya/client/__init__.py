"""kuberya.client."""
