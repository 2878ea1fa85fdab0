"""kuberya.controllers."""
