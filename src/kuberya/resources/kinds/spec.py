"""``KindSpec``: everything kuberya knows about one kind, in one value.

A kind is data plus strategies, as upstream's registry is (``pkg/registry/*/strategy.go``): the
resource types it is served as, the facts discovery advertises, its defaulting and validation,
its Table, its selectable fields, its strategic-merge metadata, whether the protobuf codec can
read it, and the few hooks where a kind's write path really differs (status reset, PUT-creates,
graceful deletion, finalizers in the spec, address allocation). The registry
(:mod:`kuberya.resources.kinds`), the schema catalog, the codecs, the printers and the API
handlers read these values; none of them names a kind.

A hook left at its default means "nothing special": the generic verbs call every hook
unconditionally, so a new kind only writes the hooks it needs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from kuberya.resources.names import dns1123_subdomain_errors
from kuberya.resources.patchmeta import PatchMeta
from kuberya.resources.printers_base import Printer, dig
from kuberya.resources.selectors import field_value
from kuberya.resources.types import Cause, JSONObject, ResourceType, SubresourceType

NameRule = Callable[[str], list[str]]
"""Return the problems with a ``metadata.name`` (empty: valid)."""
Defaulter = Callable[[JSONObject], None]
"""Fill in upstream's defaults, in place, on an object in its storage version."""
Validator = Callable[[JSONObject, JSONObject | None], list[Cause]]
"""Return the kind's own problems with an object (and with the change from the old one)."""
FieldValue = Callable[[JSONObject], str]
"""Compute one selectable field's value, formatted as upstream (``true``, ``""`` when absent)."""

# The OpenAPI definition packages; a kind's protobuf package is the same name with its first two
# segments swapped (``io.k8s.api.core.v1`` → ``k8s.io.api.core.v1``), as upstream generates both.
CORE_V1 = "io.k8s.api.core.v1"
APPS_V1 = "io.k8s.api.apps.v1"
AUTOSCALING_V1 = "io.k8s.api.autoscaling.v1"
AUTOSCALING_V2 = "io.k8s.api.autoscaling.v2"
DISCOVERY_V1 = "io.k8s.api.discovery.v1"

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
NO_COLLECTION_DELETE = ("create", "delete", "get", "list", "patch", "update", "watch")
_STATUS_VERBS = ("get", "patch", "update")

# The Scale body is always autoscaling/v1, whatever group its parent lives in: client-go's
# ScaleForResource reads the group/version from this very entry.
SCALE = SubresourceType(name="scale", kind="Scale", group="autoscaling", version="v1", verbs=_STATUS_VERBS)


def status_of(kind: str) -> SubresourceType:
    """The ``status`` subresource of ``kind``: its body is the kind itself."""
    return SubresourceType(name="status", kind=kind, verbs=_STATUS_VERBS)


class AddressAllocator(Protocol):
    """What the API server offers a kind that owns network addresses (the Service REST allocators)."""

    async def allocate_service(self, obj: JSONObject, *, old: JSONObject | None) -> None: ...


Allocate = Callable[[AddressAllocator, JSONObject, JSONObject | None], Awaitable[None]]


def _nothing(obj: JSONObject) -> None:
    del obj


def _no_change(new: JSONObject, old: JSONObject) -> None:
    del new, old


def _no_grace(obj: JSONObject, options: JSONObject) -> int | None:
    del obj, options
    return None


def _never(obj: JSONObject) -> bool:
    del obj
    return False


def _no_finalizers(obj: JSONObject) -> list[str]:
    del obj
    return []


def _no_warnings(new: JSONObject, old: JSONObject | None) -> list[str]:
    del new, old
    return []


def _spec_selector(obj: JSONObject) -> JSONObject:
    selector = dig(obj, "spec", "selector")
    return selector if isinstance(selector, dict) else {}


@dataclass(frozen=True, slots=True)
class KindSpec:
    """One served kind. Only ``resource_types`` and ``schema_packages`` have no default."""

    resource_types: tuple[ResourceType, ...]
    """Every version the kind is served in, in discovery order; the one without a
    ``storage_version`` is the storage version. All share one kind and resource, and the first
    one's group, except a version that names a ``storage_group``: a kind served in a second
    group too (events.k8s.io/v1 Event, stored as core/v1 Event), as upstream does."""
    schema_packages: Mapping[str, str]
    """Version → the OpenAPI definition package of its schema (``io.k8s.api.apps.v1``), for
    ``kubectl explain``, typed decoding and the OpenAPI documents. A version served in another
    group than the kind's is keyed by its apiVersion (``events.k8s.io/v1``): see :meth:`schema_key`."""
    protobuf: bool = False
    """True when the protobuf codec's field tables hold the kind (kubectl ≥ 1.32 sends
    Deployments, Namespaces, ConfigMaps, Secrets, Services, ServiceAccounts and HPAs as protobuf)."""
    defaults: Defaulter = _nothing
    validate: Validator | None = None
    validate_request: Callable[[str, JSONObject, JSONObject | None], list[Cause]] | None = None
    """Checks that depend on the apiVersion the client wrote in, given first (upstream passes the
    request's group version to ``ValidateEventCreate``: events.k8s.io/v1 writes are stricter)."""
    name_rule: NameRule = dns1123_subdomain_errors
    columns: tuple[JSONObject, ...] = ()
    """The Table's ``columnDefinitions``; empty means upstream's default Table (Name, Created At)."""
    printer: Printer | None = None
    """The cells of one Table row, wide ones included; set exactly when ``columns`` is."""
    fields: Mapping[str, FieldValue] = field(default_factory=dict)
    """Selectable fields beyond ``metadata.name`` and ``metadata.namespace``, which every kind has."""
    patch_meta: Mapping[str, PatchMeta] = field(default_factory=dict)
    """Strategic-merge tags by dotted field path (``spec.template.spec.containers``): upstream's
    Go struct tags. Empty still means a built-in kind: strategic patches, not merge patches."""
    conversions: Mapping[tuple[str, str], Callable[[JSONObject], JSONObject]] = field(default_factory=dict)
    """(from apiVersion, to apiVersion) → conversion of a copy, for a kind served in several versions."""
    field_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """apiVersion → {field label in that version: the stored version's}, for a version whose fields
    are named otherwise (upstream's field label conversions: events.k8s.io ``regarding.name``)."""
    # -- strategy hooks ----------------------------------------------------------------------
    prepare_create: Callable[[JSONObject], None] = _nothing
    """Change a new object before defaulting (after the status reset): ``stringData`` → ``data``."""
    prepare_update: Callable[[JSONObject, JSONObject], None] = _no_change
    """Change ``new`` (the main endpoint's body) given ``old``, before defaulting."""
    prepare_status_update: Callable[[JSONObject, JSONObject], None] = _no_change
    """Change ``new`` (a ``/status`` write: ``old`` with the body's status) given ``old``, before
    defaulting: a PersistentVolume's ``lastPhaseTransitionTime`` follows its phase."""
    allow_create_on_update: bool = False
    """Whether PUT of a missing object creates it (upstream's ``AllowCreateOnUpdate``)."""
    grace_period: Callable[[JSONObject, JSONObject], int | None] = _no_grace
    """The graceful-deletion period for a DELETE with these options; None deletes at once."""
    default_propagation: str = ""
    """The propagation policy of a DELETE that names none (upstream's
    ``DefaultGarbageCollectionPolicy``): ``""`` is background deletion of the dependents;
    ``"Orphan"`` keeps them, as batch/v1 Jobs and v1 ReplicationControllers do for backwards
    compatibility (kubectl always sends ``Background``; a bare API client does not)."""
    holds_deletion: Callable[[JSONObject], bool] = _never
    """Whether a deleted object without finalizers must still wait (a bound pod awaits its node)."""
    spec_finalizers: Callable[[JSONObject], list[str]] = _no_finalizers
    """Finalizers kept in the spec rather than metadata (a Namespace's ``spec.finalizers``)."""
    mark_deleting: Callable[[JSONObject], None] = _nothing
    """Record in the object that its deletion started (a Namespace's ``Terminating`` phase)."""
    allocate: Allocate | None = None
    """Allocate the addresses the object asks for; the API server runs it under one lock with the
    write, so two objects written at once cannot take one address."""
    warnings: Callable[[JSONObject, JSONObject | None], list[str]] = _no_warnings
    """``Warning`` headers for a stored object (and the one it replaced, for an update): upstream's
    ``WarningsOnCreate``/``WarningsOnUpdate`` (a deprecated annotation, a feature not enforced)."""
    label_selector: Callable[[JSONObject], JSONObject] = _spec_selector
    """The object's pod selector as a LabelSelector, for its Scale's ``status.selector``
    (a ReplicationController keeps a plain label map)."""

    def __post_init__(self) -> None:
        first = self.resource_types[0]
        for rt in self.resource_types:
            if (rt.kind, rt.resource) != (first.kind, first.resource):
                raise ValueError(f"{first.kind}: every resource type of a kind has one kind and resource")
            if rt.group != first.group and rt.storage_group != first.group:
                raise ValueError(f"{first.kind}: {rt.api_version} is in another group, not stored in {first.group!r}")
            if self.schema_key(rt) not in self.schema_packages:
                raise ValueError(f"{first.kind}: no schema package for {rt.api_version}")
        if bool(self.columns) != (self.printer is not None):
            raise ValueError(f"{first.kind}: Table columns and printer go together")

    @property
    def kind(self) -> str:
        return self.resource_types[0].kind

    @property
    def group(self) -> str:
        return self.resource_types[0].group

    @property
    def storage(self) -> ResourceType:
        return next(rt for rt in self.resource_types if not rt.storage_version)

    def schema_key(self, rt: ResourceType) -> str:
        """The key of ``rt`` in :attr:`schema_packages`: its version, or its apiVersion in another group."""
        return rt.version if rt.group == self.group else rt.api_version

    def definition_name(self, version: str) -> str:
        """``io.k8s.api.apps.v1.Deployment``: the kind's OpenAPI definition in ``version`` (a :meth:`schema_key`)."""
        return f"{self.schema_packages[version]}.{self.kind}"

    def protobuf_message(self, version: str) -> str | None:
        """``k8s.io.api.apps.v1.Deployment`` (``version``: a :meth:`schema_key`), or None: no codec for it."""
        if not self.protobuf or version not in self.schema_packages:
            return None
        io, k8s, rest = self.schema_packages[version].split(".", 2)
        return f"{k8s}.{io}.{rest}.{self.kind}"


def at_path(*path: str) -> FieldValue:
    """A selectable field read straight from ``path``."""
    return lambda obj: field_value(dig(obj, *path))
