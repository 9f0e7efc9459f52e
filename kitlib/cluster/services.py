"""Service admission: upstream's ``SetDefaults_Service`` and the service REST storage's
ClusterIP and NodePort allocation.

* Defaults: ``type: ClusterIP``, ``sessionAffinity: None``, each port's ``protocol: TCP``
  and ``targetPort`` (= ``port``), ``internalTrafficPolicy: Cluster``,
  ``externalTrafficPolicy: Cluster`` for NodePort/LoadBalancer services, and the single
  stack IPv4 families (``ipFamilies: [IPv4]``, ``ipFamilyPolicy: SingleStack``).
* Allocation on create: a free ClusterIP from ``SERVICE_CIDR`` (unless headless, i.e.
  ``clusterIP: None``, or ``ExternalName``) and a free node port from ``NODE_PORTS``
  for every port of a NodePort or LoadBalancer service that has none. Addresses and
  ports are drawn from the engine's seeded RNG (as upstream draws them at random), so
  the same seed gives the same addresses. A requested address or port that is taken
  or out of range is refused with upstream's wording.
* Updates keep what was allocated when the new spec leaves it out (a PUT of the
  original manifest), and ``spec.clusterIP`` cannot change.

Nothing routes traffic: the addresses only make ``kubectl get svc`` and clients see
what a real cluster shows.
"""

from __future__ import annotations

import ipaddress
import random
from typing import Any

from kitlib.model import errors
from kitlib.model.registry import ResourceType
from kitlib.store.store import Store

__all__ = ["NODE_PORTS", "SERVICE_CIDR", "ServiceAdmission"]

#: The default ``--service-cluster-ip-range`` of kube-apiserver.
SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
#: The default ``--service-node-port-range``.
NODE_PORTS = range(30000, 32768)
_NEEDS_IP = ("ClusterIP", "NodePort", "LoadBalancer")
_NEEDS_NODE_PORT = ("NodePort", "LoadBalancer")


class ServiceAdmission:
    """The store admission function for ``services`` (it reads the store to allocate)."""

    def __init__(self, store: Store, rng: random.Random) -> None:
        self.store = store
        self.rng = rng

    def __call__(self, op: str, rt: ResourceType, obj: dict[str, Any],
                 old: dict[str, Any] | None) -> dict[str, Any]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            raise rt.invalid(_name(obj), ["spec: Required value"])
        if old is not None:
            _keep_allocated(old.get("spec") or {}, spec)
        _default_spec(spec)
        problems = self._allocate(spec, old)
        if problems:
            raise rt.invalid(_name(obj), problems)
        return obj

    # -- allocation ---------------------------------------------------------------------

    def _allocate(self, spec: dict[str, Any], old: dict[str, Any] | None) -> list[str]:
        used_ips, used_ports = self._in_use(old)
        problems = self._cluster_ip(spec, used_ips, old)
        if spec["type"] in _NEEDS_NODE_PORT:
            problems += self._node_ports(spec, used_ports)
        return problems

    def _in_use(self, old: dict[str, Any] | None) -> tuple[set[str], set[int]]:
        """Addresses and node ports held by every other service."""
        skip = None if old is None else old["metadata"].get("uid")
        ips: set[str] = set()
        ports: set[int] = set()
        for svc in self.store.iter_objects("services"):
            if svc["metadata"].get("uid") == skip:
                continue
            spec = svc.get("spec") or {}
            ips.update(ip for ip in spec.get("clusterIPs") or () if ip != "None")
            ports.update(p["nodePort"] for p in spec.get("ports") or () if p.get("nodePort"))
        return ips, ports

    def _cluster_ip(self, spec: dict[str, Any], used: set[str],
                    old: dict[str, Any] | None) -> list[str]:
        if spec["type"] == "ExternalName":
            return []
        old_ip = (old or {}).get("spec", {}).get("clusterIP")
        wanted = spec.get("clusterIP") or ""
        if old_ip and wanted != old_ip:
            return [f'spec.clusterIPs[0]: Invalid value: ["{wanted}"]: may not change once '
                    "set"]
        if wanted == "None" or old_ip:
            spec["clusterIPs"] = [wanted]
            return []
        if wanted:
            problem = _requested_ip_problem(wanted, used)
            if problem:
                return [problem]
        else:
            wanted = self._free_ip(used)
        spec["clusterIP"], spec["clusterIPs"] = wanted, [wanted]
        return []

    def _free_ip(self, used: set[str]) -> str:
        size = SERVICE_CIDR.num_addresses - 2  # neither the network nor the broadcast address
        for _ in range(64):
            candidate = str(SERVICE_CIDR[1 + self.rng.randrange(size)])
            if candidate not in used:
                return candidate
        for address in SERVICE_CIDR.hosts():  # nearly full: take the first free one
            if str(address) not in used:
                return str(address)
        raise errors.InternalError("failed to allocate a serviceIP: range is full")

    def _node_ports(self, spec: dict[str, Any], used: set[int]) -> list[str]:
        problems: list[str] = []
        taken = set(used)
        for i, port in enumerate(spec.get("ports") or ()):
            wanted = port.get("nodePort")
            if wanted:
                problem = _requested_port_problem(i, wanted, taken)
                if problem:
                    problems.append(problem)
                taken.add(wanted)
                continue
            port["nodePort"] = self._free_port(taken)
            taken.add(port["nodePort"])
        return problems

    def _free_port(self, used: set[int]) -> int:
        free = [p for p in NODE_PORTS if p not in used]
        if not free:
            raise errors.InternalError("failed to allocate a nodePort: range is full")
        return self.rng.choice(free)


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _default_spec(spec: dict[str, Any]) -> None:
    """Upstream's ``SetDefaults_Service`` plus the single-stack IP family defaults."""
    spec["type"] = spec.get("type") or "ClusterIP"
    spec["sessionAffinity"] = spec.get("sessionAffinity") or "None"
    for port in spec.get("ports") or ():
        if isinstance(port, dict):
            port["protocol"] = port.get("protocol") or "TCP"
            if port.get("targetPort") in (None, 0, ""):
                port["targetPort"] = port.get("port")
    if spec["type"] in _NEEDS_NODE_PORT:
        spec["externalTrafficPolicy"] = spec.get("externalTrafficPolicy") or "Cluster"
    if spec["type"] in _NEEDS_IP:
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    if spec["type"] != "ExternalName":
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")


def _keep_allocated(old: dict[str, Any], new: dict[str, Any]) -> None:
    """An update that leaves out what was allocated keeps it (upstream's patchAllocatedValues)."""
    if (new.get("type") or "ClusterIP") == "ExternalName":
        return
    if not new.get("clusterIP") and old.get("clusterIP"):
        new["clusterIP"] = old["clusterIP"]
        new["clusterIPs"] = list(old.get("clusterIPs") or [old["clusterIP"]])
    by_port = {(p.get("port"), p.get("protocol") or "TCP"): p.get("nodePort")
               for p in old.get("ports") or () if p.get("nodePort")}
    for port in new.get("ports") or ():
        if isinstance(port, dict) and not port.get("nodePort"):
            kept = by_port.get((port.get("port"), port.get("protocol") or "TCP"))
            if kept:
                port["nodePort"] = kept


def _requested_ip_problem(wanted: str, used: set[str]) -> str | None:
    where = f'spec.clusterIPs[0]: Invalid value: ["{wanted}"]: failed to allocate IP {wanted}'
    try:
        address = ipaddress.ip_address(wanted)
    except ValueError:
        return f'spec.clusterIPs[0]: Invalid value: "{wanted}": must be a valid IP address'
    if address not in SERVICE_CIDR:
        return f"{where}: the provided IP ({wanted}) is not in the valid range. The range of " \
               f"valid IPs is {SERVICE_CIDR}"
    if wanted in used:
        return f"{where}: provided IP is already allocated"
    return None


def _requested_port_problem(index: int, wanted: Any, used: set[int]) -> str | None:
    where = f"spec.ports[{index}].nodePort: Invalid value: {wanted}"
    if not isinstance(wanted, int) or wanted not in NODE_PORTS:
        return f"{where}: provided port is not in the valid range. The range of valid ports " \
               f"is {NODE_PORTS.start}-{NODE_PORTS.stop - 1}"
    if wanted in used:
        return f"{where}: provided port is already allocated"
    return None
