"""kuberya (쿠버야): a single-node cluster that speaks the real Kubernetes API."""

__version__ = "0.1.0"
