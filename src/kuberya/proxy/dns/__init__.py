"""The cluster DNS: names of Services and pods for pods, everything else from the host's resolvers.

Answers as CoreDNS's ``kubernetes`` plugin does for the cluster domain (``cluster.local``; the
table is in :mod:`~kuberya.proxy.dns.records`). Bare ``<svc>`` and ``<svc>.<ns>`` are the
resolver's job: pods get the search path (:func:`~kuberya.client.servicelinks.pod_dns_config`).
Names outside the cluster domain are relayed to the host's resolvers.

One module per concern:

- :mod:`~kuberya.proxy.dns.records` — resolving: the records of the domain, pure over the
  Service and EndpointSlice caches;
- :mod:`~kuberya.proxy.dns.forward` — forwarding every other name, bytes in and bytes out;
- :mod:`~kuberya.proxy.dns.listeners` — serving: UDP, TCP, and listeners inside rootless pod
  namespaces;
- :mod:`~kuberya.proxy.dns.wire` — the wire format (dnspython, imported on the first query, not
  at start-up: ~1.7 MB of an idle cluster's memory that only pods' queries need);
- :mod:`~kuberya.proxy.dns.server` — :class:`ClusterDNS`, the component that puts them together
  and keeps the ``kube-system/kube-dns`` Service.
"""

from kuberya.client.servicelinks import pod_dns_config, render_resolv_conf
from kuberya.proxy.dns.forward import read_upstreams
from kuberya.proxy.dns.server import ClusterDNS

__all__ = ["ClusterDNS", "pod_dns_config", "read_upstreams", "render_resolv_conf"]
