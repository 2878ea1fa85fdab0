"""``pods/log``, ``pods/exec``, ``pods/attach`` and ``pods/portforward``: checked here, served by the node agent.

Upstream the API server validates the request against the Pod (which container, is it running)
and then proxies it to the kubelet. kuberya does the same over the node agent's unix socket
(:attr:`APIServerSettings.node_agent_socket`):

- ``log`` is a plain streamed GET; every chunk the agent sends is written (and so flushed) at
  once, which ``kubectl logs -f`` needs.
- ``exec`` and ``attach`` are WebSockets speaking the Kubernetes channel protocol. The server
  opens the agent's WebSocket with the protocol it chose for the client (``v5.channel.k8s.io``
  whenever offered) *before* answering the client's upgrade, so a refusal still reaches the
  client as a ``Status`` (kubectl 1.31+ prints it; older ones fall back to SPDY, below), then
  relays messages both ways unchanged. Pings are answered by aiohttp on both sides.
- SPDY (kubectl's fallback, a ``POST`` with ``Upgrade: SPDY/3.1``) is not spoken for exec and
  attach: after the same checks it is answered with a ``Status`` that says how to get the
  WebSocket path.
- ``portforward`` is checked here (the pod is placed and not finished) and served by
  :mod:`kuberya.apiserver.portforward` in all three of its protocols, SPDY included.

The node agent lives above the API server in the layering, so the few channel-protocol names
needed here are repeated rather than imported.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import WSMsgType, web

from kuberya.apiserver import errors, portforward
from kuberya.apiserver.objectstore import ObjectStore
from kuberya.resources import kinds
from kuberya.resources.types import JSONObject

log = logging.getLogger(__name__)

CHANNEL_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "v4.base64.channel.k8s.io")
"""What the node agent speaks (kuberya.node.streaming.PROTOCOLS), most preferred first."""
AGENT_ERROR_HEADER = "X-Kuberya-Error"
"""Where the agent puts a refused handshake's message (kuberya.node.streaming.ERROR_HEADER)."""
AGENT_CONNECT_TIMEOUT = 10.0
LOG_QUERY = ("follow", "previous", "timestamps", "tailLines", "limitBytes", "sinceSeconds", "sinceTime", "stream")
STREAM_QUERY = ("stdin", "stdout", "stderr", "tty")
SPDY_MESSAGE = (
    "kuberya serves pods/{sub} over WebSocket (v5.channel.k8s.io), not SPDY: use kubectl 1.30 or newer "
    "and unset KUBECTL_REMOTE_COMMAND_WEBSOCKETS (setting it to false forces SPDY)"
)


async def serve(
    request: web.Request,
    *,
    store: ObjectStore,
    agent_socket: Path | None,
    namespace: str,
    name: str,
    subresource: str,
) -> web.StreamResponse:
    """Answer ``pods/{log,exec,attach,portforward,proxy}`` for pod ``namespace/name``."""
    if subresource == "log":
        if request.method != "GET":
            raise errors.method_not_allowed(f"{request.method} is not supported on pods/log")
        return await _log(request, store, agent_socket, namespace, name)
    if subresource in ("exec", "attach"):
        return await _stream(request, store, agent_socket, namespace, name, subresource)
    if subresource == "portforward":
        return await _port_forward(request, store, agent_socket, namespace, name)
    await _pod(store, namespace, name)
    raise errors.StatusError(501, "NotImplemented", f"pods/{subresource} is not supported by kuberya yet")


# ---- checks against the pod ---------------------------------------------------------------------------


async def _pod(store: ObjectStore, namespace: str, name: str) -> JSONObject:
    pods = kinds.lookup("", "v1", "pods")
    assert pods is not None
    return await store.get(pods, namespace, name)


def _names(pod: JSONObject, field: str) -> list[str]:
    return [str(c.get("name", "")) for c in (pod.get("spec") or {}).get(field) or []]


def _choose_container(pod: JSONObject, requested: str, *, for_logs: bool) -> str:
    """The container asked for, or the only one; upstream's messages when that isn't possible."""
    name = pod["metadata"]["name"]
    containers = _names(pod, "containers")
    init = _names(pod, "initContainers")
    ephemeral = _names(pod, "ephemeralContainers")
    if requested:
        if requested not in (*containers, *init, *ephemeral):
            raise errors.bad_request(f"container {requested} is not valid for pod {name}")
        return requested
    if len(containers) == 1:
        return containers[0]
    if not containers:
        raise errors.bad_request(f"a container name must be specified for pod {name}")
    if for_logs:  # logs list every kind of container, exec lists init containers apart
        everything = " ".join([*init, *containers, *ephemeral])
        raise errors.bad_request(f"a container name must be specified for pod {name}, choose one of: [{everything}]")
    message = f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
    if init:
        message += f" or one of the init containers: [{' '.join(init)}]"
    raise errors.bad_request(message)


def _container_status(pod: JSONObject, container: str) -> JSONObject | None:
    status = pod.get("status") or {}
    for field in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for entry in status.get(field) or []:
            if entry.get("name") == container:
                return dict(entry)
    return None


def _waiting_message(pod_name: str, container: str, waiting: JSONObject) -> str:
    reason = waiting.get("reason") or ""
    if reason == "ErrImagePull":
        return f'container "{container}" in pod "{pod_name}" is waiting to start: image can\'t be pulled'
    if reason == "ImagePullBackOff":
        return f'container "{container}" in pod "{pod_name}" is waiting to start: trying and failing to pull image'
    return f'container "{container}" in pod "{pod_name}" is waiting to start: {reason}'


def _check_log_state(pod: JSONObject, container: str, *, previous: bool) -> None:
    """The kubelet's ``validateContainerLogStatus``, from the status the agent reported."""
    status = _container_status(pod, container)
    if status is None:
        return  # not reported yet: the agent knows better
    name = pod["metadata"]["name"]
    state = status.get("state") or {}
    last = status.get("lastState") or {}
    if previous:
        if not (last.get("terminated") or {}).get("containerID"):
            raise errors.bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
        return
    if "running" in state or "terminated" in state or "terminated" in last:
        return
    if "waiting" in state:
        raise errors.bad_request(_waiting_message(name, container, state["waiting"] or {}))


def _check_running(pod: JSONObject, container: str, subresource: str) -> None:
    name = pod["metadata"]["name"]
    phase = (pod.get("status") or {}).get("phase", "")
    if phase in ("Succeeded", "Failed"):
        raise errors.bad_request(f"cannot {subresource} into a container in a completed pod; current phase is {phase}")
    if not (pod.get("spec") or {}).get("nodeName"):
        raise errors.bad_request(f"pod {name} does not have a host assigned")
    status = _container_status(pod, container)
    state = (status or {}).get("state") or {}
    if "running" in state:
        return
    if "waiting" in state:
        raise errors.bad_request(
            "unable to upgrade connection: " + _waiting_message(name, container, state["waiting"] or {})
        )
    if "terminated" in state:
        reason = (state["terminated"] or {}).get("reason") or "Terminated"
        raise errors.bad_request(
            f'unable to upgrade connection: container "{container}" in pod "{name}" is not running ({reason})'
        )
    raise errors.bad_request(f'unable to upgrade connection: container "{container}" in pod "{name}" is not running')


def _log_query(request: web.Request) -> dict[str, str]:
    """The log options to pass on, validated as upstream's ``ValidatePodLogOptions`` does."""
    query = {key: request.query[key] for key in LOG_QUERY if key in request.query}
    for key, minimum in (("tailLines", 0), ("limitBytes", 1), ("sinceSeconds", 1)):
        raw = query.get(key, "")
        if raw == "":
            continue
        try:
            value = int(raw)
        except ValueError:
            raise errors.bad_request(f"invalid value for {key}: {raw!r} is not an integer") from None
        if value < minimum:
            qualifier = "greater than 0" if minimum else "greater than or equal to 0"
            raise errors.StatusError(
                422,
                "Invalid",
                f'PodLogOptions "" is invalid: {key}: Invalid value: {value}: must be {qualifier}',
            )
    if query.get("sinceSeconds") and query.get("sinceTime"):
        raise errors.StatusError(
            422,
            "Invalid",
            'PodLogOptions "" is invalid: : Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified',
        )
    return query


# ---- talking to the node agent ---------------------------------------------------------------------


def _agent_session(agent_socket: Path) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.UnixConnector(path=str(agent_socket)),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=AGENT_CONNECT_TIMEOUT),
    )


def _agent_url(route: str, namespace: str, name: str, container: str) -> str:
    parts = "/".join(quote(p, safe="") for p in (namespace, name, container))
    return f"http://kuberya-node/{route}/{parts}"


def _require_agent(agent_socket: Path | None, subresource: str) -> Path:
    if agent_socket is None:
        raise errors.StatusError(
            501,
            "NotImplemented",
            f"pods/{subresource} needs the node agent, and this API server runs without one "
            "(start the whole cluster with `kuberya up`)",
        )
    return agent_socket


def _unreachable(agent_socket: Path, e: Exception) -> errors.StatusError:
    return errors.StatusError(
        503,
        "ServiceUnavailable",
        f"the node agent is not answering on {agent_socket}: {e}; is the cluster's node agent running?",
    )


def _agent_refusal(status: int, body: str, header: str) -> errors.StatusError:
    """An agent's error answer → the Status to give the client."""
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        decoded: Any = json.loads(body)
        if decoded.get("kind") == "Status" and decoded.get("message"):
            return errors.StatusError(
                int(decoded.get("code") or status), str(decoded.get("reason") or "BadRequest"), decoded["message"]
            )
    message = header or body.strip() or f"the node agent answered {status}"
    reason = "NotFound" if status == 404 else "BadRequest" if status < 500 else "InternalError"
    return errors.StatusError(status if status >= 400 else 500, reason, message)


async def _log(
    request: web.Request, store: ObjectStore, agent_socket: Path | None, namespace: str, name: str
) -> web.StreamResponse:
    pod = await _pod(store, namespace, name)
    query = _log_query(request)
    container = _choose_container(pod, request.query.get("container", ""), for_logs=True)
    if not (pod.get("spec") or {}).get("nodeName"):
        return web.Response(body=b"", content_type="text/plain")  # not scheduled: no logs, as upstream
    _check_log_state(pod, container, previous=query.get("previous", "").lower() in ("true", "1"))
    socket = _require_agent(agent_socket, "log")
    async with _agent_session(socket) as session:
        try:
            upstream = await session.get(_agent_url("containerLogs", namespace, name, container), params=query)
        except (aiohttp.ClientError, OSError) as e:
            raise _unreachable(socket, e) from e
        async with upstream:
            if upstream.status != 200:
                body = await upstream.text()
                raise _agent_refusal(upstream.status, body, upstream.headers.get(AGENT_ERROR_HEADER, ""))
            response = web.StreamResponse(headers={"Content-Type": "text/plain"})
            await response.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
            except (ConnectionResetError, aiohttp.ClientPayloadError) as e:
                log.debug("log stream of %s/%s ended early: %s", namespace, name, e)
            return response


# ---- exec and attach --------------------------------------------------------------------------------


def _is_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


async def _stream(
    request: web.Request,
    store: ObjectStore,
    agent_socket: Path | None,
    namespace: str,
    name: str,
    subresource: str,
) -> web.StreamResponse:
    pod = await _pod(store, namespace, name)
    command = request.query.getall("command", [])
    if subresource == "exec" and not command:
        raise errors.bad_request("you must specify at least 1 command")
    if not any(request.query.get(key, "").lower() in ("true", "1") for key in ("stdin", "stdout", "stderr")):
        raise errors.bad_request("you must specify at least 1 of stdin, stdout, stderr")
    container = _choose_container(pod, request.query.get("container", ""), for_logs=False)
    _check_running(pod, container, subresource)
    socket = _require_agent(agent_socket, subresource)
    if not _is_websocket(request):
        raise errors.bad_request(SPDY_MESSAGE.format(sub=subresource))
    offered = {p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")}
    protocol = next((p for p in CHANNEL_PROTOCOLS if p in offered), None)
    if protocol is None:
        raise errors.bad_request(
            f"pods/{subresource} needs one of the WebSocket subprotocols {', '.join(CHANNEL_PROTOCOLS)}; "
            f"the client offered: {', '.join(sorted(p for p in offered if p)) or 'none'}"
        )
    params: list[tuple[str, str]] = [("command", c) for c in command] if subresource == "exec" else []
    params += [(key, request.query[key]) for key in STREAM_QUERY if key in request.query]
    async with _agent_session(socket) as session:
        try:
            agent = await session.ws_connect(
                _agent_url(subresource, namespace, name, container),
                params=params,
                protocols=(protocol,),
                max_msg_size=0,
            )
        except aiohttp.WSServerHandshakeError as e:
            header = e.headers.get(AGENT_ERROR_HEADER, "") if e.headers else ""
            raise _agent_refusal(e.status, "", f"unable to upgrade connection: {header or e.message}") from e
        except (aiohttp.ClientError, OSError) as e:
            raise _unreachable(socket, e) from e
        async with agent:
            client = web.WebSocketResponse(protocols=(protocol,), max_msg_size=0)
            await client.prepare(request)
            await _relay(client, agent)
            return client


# ---- port-forward -------------------------------------------------------------------------------------


async def _port_forward(
    request: web.Request, store: ObjectStore, agent_socket: Path | None, namespace: str, name: str
) -> web.StreamResponse:
    """The pod must be placed and not finished; the rest is :mod:`kuberya.apiserver.portforward`'s."""
    pod = await _pod(store, namespace, name)
    phase = (pod.get("status") or {}).get("phase", "")
    if phase in ("Succeeded", "Failed"):
        raise errors.bad_request(f"cannot port-forward to a completed pod; current phase is {phase}")
    if not (pod.get("spec") or {}).get("nodeName"):
        raise errors.bad_request(f"pod {name} does not have a host assigned")
    target = portforward.PodTarget(
        agent_socket=_require_agent(agent_socket, "portforward"),
        namespace=namespace,
        name=name,
        uid=str(pod["metadata"].get("uid") or ""),
        containers=tuple(_names(pod, "containers")),
    )
    return await portforward.serve(request, target)


async def _forward(source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse, target: Any) -> None:
    async for message in source:
        if message.type == WSMsgType.BINARY:
            await target.send_bytes(message.data)
        elif message.type == WSMsgType.TEXT:
            await target.send_str(message.data)


async def _relay(client: web.WebSocketResponse, agent: aiohttp.ClientWebSocketResponse) -> None:
    """Relay messages both ways until one side closes; then close the other with the same code."""
    upstream = asyncio.create_task(_forward(client, agent), name="exec-relay-to-agent")
    downstream = asyncio.create_task(_forward(agent, client), name="exec-relay-to-client")
    try:
        await asyncio.wait({upstream, downstream}, return_when=asyncio.FIRST_COMPLETED)
        agent_ended = downstream.done()
    finally:
        for task in (upstream, downstream):
            task.cancel()
        results = await asyncio.gather(upstream, downstream, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception) and not isinstance(result, ConnectionResetError):
            log.debug("exec relay ended with %r", result)
    if agent_ended:
        code = agent.close_code if agent.close_code is not None else 1000
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await client.close(code=code)
    else:
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await client.close(code=1000)
        await agent.close()
