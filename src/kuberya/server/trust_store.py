"""Keep the system's CA bundle off ``kuberya up``'s critical path.

aiohttp builds its two default client ``SSLContext`` objects when it is imported, and each
parses the system trust store (``/etc/ssl/certs``): 60–130 ms, the largest single cost of
starting the server, for contexts the API server never uses (it serves TLS; its own clients
use the cluster CA from the kubeconfig). So the import happens with OpenSSL's default paths
pointed at nothing, and :func:`load_deferred` loads the real trust store into those same
context objects once the API is ready, off the event loop. Until then an outgoing request that
relies on the system trust store fails verification — it fails closed, never open.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator, MutableMapping

_OPENSSL_PATH_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR")
_NOWHERE = "/nonexistent/kuberya-deferred-trust-store"


@contextlib.contextmanager
def deferred(environ: MutableMapping[str, str]) -> Iterator[None]:
    """Import under this context to skip loading the system trust store.

    ``environ`` is the process's environment (``os.environ``), which OpenSSL reads: the entry
    point passes it, so that nothing below it touches the environment on its own.
    """
    saved = {name: environ.get(name) for name in _OPENSSL_PATH_VARIABLES}
    for name in _OPENSSL_PATH_VARIABLES:
        environ[name] = _NOWHERE
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                environ.pop(name, None)
            else:
                environ[name] = value


def load_deferred() -> None:
    """Load the system trust store into aiohttp's default contexts (blocking: call in a thread)."""
    from aiohttp import connector

    # Only the verifying one: the other has CERT_NONE and never reads a trust store (~0.85 MB saved).
    context = getattr(connector, "_SSL_CONTEXT_VERIFIED", None)
    if isinstance(context, ssl.SSLContext):
        context.set_default_verify_paths()
