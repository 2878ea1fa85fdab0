"""Leaf helpers every layer shares: the bottom of the layer table in ``DESIGN.md``.

Nothing here imports anything else of kuberya, and nothing here does I/O beyond what its name
says (:mod:`.datadir` names files, it does not open them). What lives here is what several
layers would otherwise each write for themselves, and did:

- :mod:`.types` — the raw-object alias :data:`~.types.Obj` and ``TypedDict`` views of the parts
  every kind shares (``ObjectMeta``, ``OwnerReference``, ``Condition``);
- :mod:`.quantity` — ``resource.Quantity`` as an exact number;
- :mod:`.timefmt` — ``metav1.Time`` and Go's ``time.Duration`` as the API prints them;
- :mod:`.names` and :mod:`.labels` — name validation and label selectors, parsed and matched as
  apimachinery does;
- :mod:`.patch` — JSON Merge Patch (RFC 7386);
- :mod:`.objects` — object keys and owner references;
- :mod:`.text` — log-safe truncation;
- :mod:`.datadir` — the files of a data directory and the ``ready`` file, shared by the CLI and
  the server process, which may not import each other;
- :mod:`.handover` — the typed protocols by which the server hands one component's service to
  another that may not import it (proxy → node agent, runtime → proxy).
"""

from kuberya.meta.types import JSONObject, Obj

__all__ = ["JSONObject", "Obj"]
