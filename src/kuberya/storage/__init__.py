"""kuberya.storage."""
