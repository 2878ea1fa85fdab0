"""``python -m kuberya.server``: what ``kuberya up`` runs (see :mod:`kuberya.server.main`)."""

import gc
import os

from kuberya.server import tls_buffers, trust_store

# Startup imports hundreds of modules and frees almost nothing: cyclic garbage collection during
# it is wasted time on `kuberya up`'s critical path (~10%). The server re-enables it once ready.
gc.disable()
tls_buffers.shrink()

with trust_store.deferred(os.environ):
    from kuberya.server.main import main

raise SystemExit(main())
