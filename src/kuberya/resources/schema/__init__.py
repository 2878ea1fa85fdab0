"""Structural schemas of the built-in kinds kuberya serves, in upstream's OpenAPI v3 form.

The schemas are data, not code: ``definitions.json`` is generated from the official Python
client's models by ``scripts/gen_schemas.py`` (the client is a development dependency only) and
shipped inside the package. Three consumers read it:

- the API server's typed decoding of every write (wrong types, unknown and duplicate fields for
  ``fieldValidation``), through :mod:`kuberya.resources.schema.decode`;
- ``GET /openapi/v3`` and ``GET /openapi/v3/<group-version>``, through :func:`openapi_v3_index`
  and :func:`openapi_v3_document`, which make kubectl's ``apply -f``/``create -f`` leave
  validation to the server;
- ``kubectl explain``, which walks the same documents' ``components.schemas``.

Which kinds and URLs are covered is :mod:`kuberya.resources.schema.catalog`.
"""

from kuberya.resources.schema.catalog import KNOWN_GROUP_VERSIONS
from kuberya.resources.schema.openapi import (
    group_version_path,
    openapi_v3_document,
    openapi_v3_document_json,
    openapi_v3_index,
)

__all__ = [
    "KNOWN_GROUP_VERSIONS",
    "group_version_path",
    "openapi_v3_document",
    "openapi_v3_document_json",
    "openapi_v3_index",
]
