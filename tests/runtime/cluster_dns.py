"""The cluster DNS of the pod-spec run: the records a Kubernetes cluster's DNS serves for a
headless Service, answered from the pods as they are now.

For a headless Service ``<svc>`` in ``<ns>`` and the cluster domain ``<domain>``, the
cluster's DNS answers ``<pod>.<svc>.<ns>.svc.<domain>`` with the pod's current address and
``<svc>.<ns>.svc.<domain>`` with every pod's (with publishNotReadyAddresses, ready or not),
and stops answering a name once its pod is deleted. A pod's address changes with each
creation, so a peer that resolved it before sees the new one on its next lookup. Names are
taken from the Service objects, the namespace and the cluster domain, never from the
manifest's own peer list. Anything else is NXDOMAIN: the run has no upstream resolver and
no Service virtual IPs.
"""

from __future__ import annotations

import socket
import socketserver
import threading

from dnslib import QTYPE, RCODE, RR, A
from dnslib.server import BaseResolver, DNSServer

# Linux's IP_FREEBIND: bind the gateway's address before podman gives the bridge that address.
IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)
TTL = 5  # seconds: short, as cluster DNS answers are (a re-created pod's new address is seen soon)


class _FreeBindUDPServer(socketserver.ThreadingUDPServer):
    allow_reuse_address = True
    daemon_threads = True

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
        super().server_bind()


class ClusterDNS(BaseResolver):
    """Serves the records of the headless Services it is told about, for the pods registered."""

    def __init__(self, address: str, port: int = 53) -> None:
        self.address, self.port = address, port
        self._lock = threading.Lock()
        # Service FQDN (lower case, no trailing dot) -> {pod name: address}
        self._services: dict[str, dict[str, str]] = {}
        self._server: DNSServer | None = None

    @staticmethod
    def service_fqdn(service: str, namespace: str, cluster_domain: str) -> str:
        return f"{service}.{namespace}.svc.{cluster_domain}".lower()

    def add_service(self, fqdn: str) -> None:
        with self._lock:
            self._services.setdefault(fqdn.lower(), {})

    def register(self, fqdn: str, pod: str, address: str) -> None:
        """The pod exists at ``address`` (its creation, before its containers start)."""
        with self._lock:
            self._services[fqdn.lower()][pod] = address

    def unregister(self, fqdn: str, pod: str) -> None:
        """The pod is deleted: its name no longer resolves."""
        with self._lock:
            self._services[fqdn.lower()].pop(pod, None)

    def addresses(self, name: str) -> list[str] | None:
        """The A records of ``name``, or None when the name does not exist."""
        name = name.lower().rstrip(".")
        with self._lock:
            if name in self._services:
                return sorted(self._services[name].values())
            pod, _, service = name.partition(".")
            pods = self._services.get(service)
            if pods is not None and pod in pods:
                return [pods[pod]]
        return None

    def resolve(self, request, handler):
        reply = request.reply()
        qname = request.q.qname
        records = self.addresses(str(qname))
        if records is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype in (QTYPE.A, QTYPE.ANY):
            for address in records:
                reply.add_answer(RR(qname, QTYPE.A, rdata=A(address), ttl=TTL))
        # Another type (AAAA) of an existing name: NOERROR without answers, as cluster DNS says.
        return reply

    def start(self) -> None:
        self._server = DNSServer(self, address=self.address, port=self.port, server=_FreeBindUDPServer,
                                 logger=_Quiet())
        self._server.start_thread()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server.server.server_close()
            self._server = None


class _Quiet:
    """dnslib's logger, silenced: the pods ask many times a second."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None
