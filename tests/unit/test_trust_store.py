import subprocess
import sys

SCRIPT = """
import os
from kuberya.server import trust_store
with trust_store.deferred(os.environ):
    from aiohttp import connector
before = connector._SSL_CONTEXT_VERIFIED.cert_store_stats()["x509_ca"]
import os
assert "SSL_CERT_FILE" not in os.environ or os.environ["SSL_CERT_FILE"] != trust_store._NOWHERE
trust_store.load_deferred()
after = connector._SSL_CONTEXT_VERIFIED.cert_store_stats()["x509_ca"]
print(before, after)
"""


def test_system_trust_store_is_loaded_after_the_deferred_import() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True).stdout
    before, after = (int(x) for x in out.split())
    assert before == 0
    assert after > 0, "the system CA bundle must be loaded once the server is ready"
