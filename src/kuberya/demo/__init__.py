"""kuberya.demo: the talk's demo (``kuberya demo``), a client of the cluster like the CLI it builds on.

:mod:`~kuberya.demo.story` runs the numbered steps (6 and 8, the apps serving traffic, are
:mod:`~kuberya.demo.serving`'s); :mod:`~kuberya.demo.command` is the ``demo`` command, which the CLI
loads only when it runs (``kuberya.cli.main.LazyGroup``); beside them, one module per concern:
the cluster it starts or reuses (:mod:`~kuberya.demo.cluster`), the example apps and how ``ask``
finds their images (:mod:`~kuberya.demo.apps`), their images (:mod:`~kuberya.demo.images`), the
requests it sends (:mod:`~kuberya.demo.traffic`) and how it narrates (:mod:`~kuberya.demo.output`).

It may import ``cli``, ``client``, ``nl``, ``images`` and ``meta`` (DESIGN.md's table); nothing
imports it but the CLI's lazy command table.
"""
