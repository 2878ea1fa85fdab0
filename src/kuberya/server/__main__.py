"""``python -m kuberya.server``: what ``kuberya up`` runs (see :mod:`kuberya.server.main`)."""

import gc

# Startup imports hundreds of modules and frees almost nothing: cyclic garbage collection during
# it is wasted time on `kuberya up`'s critical path (~10%). The server re-enables it once ready.
gc.disable()

from kuberya.server.main import main  # noqa: E402

raise SystemExit(main())
