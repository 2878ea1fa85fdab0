"""The tokens controller: legacy service-account token Secrets get their ``token``.

As upstream's ``pkg/controller/serviceaccount/tokens_controller.go``: a Secret of type
``kubernetes.io/service-account-token`` whose annotation ``kubernetes.io/service-account.name``
names a service account of its namespace is filled with

* ``token``: a legacy JWT (issuer ``kubernetes/serviceaccount``, no expiry) naming the account and
  the Secret, signed with the cluster's service-account key;
* ``ca.crt``: the cluster CA, for a client to trust the API server;
* ``namespace``: the Secret's namespace;

and the annotation ``kubernetes.io/service-account.uid`` is set to the account's uid. A Secret whose
account does not exist (or has another uid than its annotation says) is deleted, as upstream
deletes the tokens of a deleted account. What is already right is left alone.
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any, Unpack

from kuberya.client import KubeClient
from kuberya.client.errors import NotFoundError
from kuberya.client.resources import SECRETS, SERVICEACCOUNTS
from kuberya.controllers.base import QueueController, Wiring
from kuberya.meta.objects import object_key
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)

COMPONENT = "serviceaccount-token-controller"
SERVICE_ACCOUNT_TOKEN = "kubernetes.io/service-account-token"
NAME_ANNOTATION = "kubernetes.io/service-account.name"
UID_ANNOTATION = "kubernetes.io/service-account.uid"


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _meta(obj: Obj) -> dict[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def is_token_secret(secret: Obj) -> bool:
    return secret.get("type") == SERVICE_ACCOUNT_TOKEN and bool(
        (_meta(secret).get("annotations") or {}).get(NAME_ANNOTATION)
    )


class TokensController(QueueController):
    """Fills and garbage-collects legacy token Secrets (see the module docstring)."""

    def __init__(
        self, client: KubeClient, *, key_file: Path, ca_file: Path, workers: int = 1, **wiring: Unpack[Wiring]
    ) -> None:
        super().__init__(client, name="serviceaccount-tokens", component=COMPONENT, workers=workers, **wiring)
        self._key_file = key_file
        self._ca_file = ca_file
        self.secrets = self.primary(SECRETS, enqueue_changes=False)
        self.secrets.add_handlers(on_add=self._secret_changed, on_update=lambda _old, new: self._secret_changed(new))
        self.accounts = self.informer(SERVICEACCOUNTS)
        self.accounts.add_handlers(
            on_add=self._account_changed,
            on_update=lambda _old, new: self._account_changed(new),
            on_delete=self._account_changed,
        )

    def _secret_changed(self, secret: Obj) -> None:
        if is_token_secret(secret):
            self.enqueue(secret)

    def _account_changed(self, account: Obj) -> None:
        namespace, name = _meta(account).get("namespace"), _meta(account).get("name")
        for secret in self.secrets.list():
            annotations = _meta(secret).get("annotations") or {}
            if _meta(secret).get("namespace") == namespace and annotations.get(NAME_ANNOTATION) == name:
                self._secret_changed(secret)

    async def sync(self, key: str) -> None:
        await self.sync_retrying_conflicts(key, self._sync)

    async def _sync(self, key: str) -> None:
        secret = self.secrets.get(key)
        if secret is None or not is_token_secret(secret) or _meta(secret).get("deletionTimestamp"):
            return
        metadata = _meta(secret)
        namespace = str(metadata.get("namespace") or "")
        annotations = dict(metadata.get("annotations") or {})
        account = self.accounts.get(f"{namespace}/{annotations[NAME_ANNOTATION]}")
        wanted_uid = annotations.get(UID_ANNOTATION)
        if account is None or (wanted_uid and wanted_uid != _meta(account).get("uid")):
            await self._delete(secret)
            return
        updated = self.filled(secret, account)
        if updated is not None:
            await self.client.update(SECRETS, updated)
            logger.info("serviceaccount-tokens: filled the token Secret %s", key)

    def filled(self, secret: Obj, account: Obj) -> Obj | None:
        """The Secret with what is missing or stale filled in; None when it is complete."""
        metadata = _meta(secret)
        namespace = str(metadata.get("namespace") or "")
        data = dict(secret.get("data") or {})
        annotations = dict(metadata.get("annotations") or {})
        changed = False
        ca = _b64(self._ca_file.read_bytes())
        if data.get("ca.crt") != ca:
            data["ca.crt"], changed = ca, True
        if data.get("namespace") != _b64(namespace.encode()):
            data["namespace"], changed = _b64(namespace.encode()), True
        uid = str(_meta(account).get("uid") or "")
        if annotations.get(UID_ANNOTATION) != uid:
            annotations[UID_ANNOTATION], changed = uid, True
        if not data.get("token"):
            # Imported here: PyJWT and cryptography cost the server memory for its whole life, and
            # most clusters never make a legacy token Secret.
            from kuberya.meta import serviceaccount_jwt as sajwt

            claims = sajwt.legacy_claims(
                namespace=namespace, name=str(_meta(account).get("name")), uid=uid, secret_name=str(metadata["name"])
            )
            key = sajwt.load_key(self._key_file.read_bytes())
            data["token"], changed = _b64(sajwt.sign(claims, key).encode()), True
        if not changed:
            return None
        return {**secret, "metadata": {**metadata, "annotations": annotations}, "data": data}

    async def _delete(self, secret: Obj) -> None:
        try:
            await self.client.delete(SECRETS, str(_meta(secret)["name"]), namespace=_meta(secret).get("namespace"))
        except NotFoundError:
            return
        logger.info("serviceaccount-tokens: deleted %s: its service account is gone", object_key(secret))
