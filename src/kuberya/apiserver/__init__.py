"""kuberya.apiserver."""
