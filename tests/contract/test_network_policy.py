"""Each overlay's NetworkPolicies admit exactly the calls the fleet's code makes, and nothing else.

Both overlays are rendered with kustomize (through kubectl) and the rendered NetworkPolicies are
evaluated with Kubernetes' rules: a connection is admitted when the client's egress and the
server's ingress both admit it (a pod no policy of a direction selects is open in that direction).

The calls come from the code, not from a list kept beside the manifests:
- the registry of services (codegram_clients.registry: who calls whose gRPC API), which each
  service's `config.py` declares too (`PEERS`, held to the registry and to the code that reads the
  targets by test_service_registry.py); what each service reads from its settings (an AST scan of
  its package: `redis_url` and the GitHub URLs are what they say) and what its kit
  `ServiceDefinition` declares (`uses_redis`); what the kit's service runtime does for every
  service (Postgres, NATS, the JWKS);
- the gateway's upstreams (the registry's, one `<service>_http_url` each), `redis_url`, the JWKS;
- the migration Jobs (Postgres) and the signing-key rotation CronJob (its gRPC target).
Where each call goes comes from the rendered manifests: the environment each pod gets (ConfigMap,
Secrets where the overlay renders them), the Services and the pods behind them.
"""

from __future__ import annotations

import ast
import base64
import functools
import importlib
import ipaddress
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

import codegram_clients
import codegram_content
import codegram_kit
from codegram_clients import registry
from codegram_devstack.fleet import SERVICES
from codegram_gateway import app as gateway_app
from codegram_gateway.config import GatewaySettings
from codegram_kit.runtime import definition as kit_runtime
from codegram_kit.runtime import settings as kit_settings

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ("dev", "prod")
NAMESPACE = "codegram"
NAME = "app.kubernetes.io/name"
GATEWAY = "gateway"
ROTATION = "key-rotation"
ROTATION_RPC = "codegram.auth.v1.AuthService/RotateSigningKey"
# Ranges where cluster pods, nodes and cloud metadata live: an ipBlock must never speak for them.
IN_CLUSTER_RANGES = tuple(
    ipaddress.ip_network(n)
    for n in (
        *("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16"),
        *("fc00::/7", "fe80::/10"),
    )
)
# An address on the internet (documentation range) and one in a private network (a managed
# database in the cluster's VPC): where a host outside the cluster may be.
INTERNET = "203.0.113.10"
PRIVATE_NETWORK = "10.255.0.10"

Json = dict[str, Any]


# --- rendering ---------------------------------------------------------------------------------


def _kubectl() -> str:
    """The pinned kubectl `make test` installs (deploy/render-requirements.txt), else one on PATH."""
    if explicit := os.environ.get("KUBECTL"):
        return explicit
    pinned = ROOT / ".local" / "tools" / "bin" / "kubectl"
    if pinned.is_file():
        return str(pinned)
    if found := shutil.which("kubectl"):
        return found
    pytest.fail("kubectl renders the overlays: `make test` installs the pinned one, or set KUBECTL")


@functools.cache
def render(overlay: str) -> tuple[Json, ...]:
    kubectl = _kubectl()
    version = json.loads(
        subprocess.run([kubectl, "version", "--client", "-o", "json"], check=True, capture_output=True).stdout
    )
    assert int(version["kustomizeVersion"].lstrip("v").split(".")[0]) >= 5, version
    out = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "deploy" / "k8s" / "overlays" / overlay)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


# --- the network model -------------------------------------------------------------------------


@dataclass(frozen=True)
class Port:
    number: int
    protocol: str = "TCP"
    name: str | None = None


@dataclass(frozen=True)
class Pod:
    """Pods of one template (or any pod of a namespace whose labels are not known: `labels={}`)."""

    name: str
    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)
    ports: tuple[Port, ...] = ()
    template: Json = field(default_factory=dict, hash=False, compare=False, repr=False)


@dataclass(frozen=True)
class External:
    """An address outside the cluster (the same address whatever a host name calls it)."""

    name: str = field(compare=False)
    address: str = INTERNET


Endpoint = Pod | External


def _selects(selector: Json | None, labels: Mapping[str, str]) -> bool:
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if not {
            "In": lambda: labels.get(key) in values,
            "NotIn": lambda: labels.get(key) not in values,
            "Exists": lambda: key in labels,
            "DoesNotExist": lambda: key not in labels,
        }[op]():
            return False
    return True


class Network:
    """The NetworkPolicies of one rendered overlay, with the namespaces' labels."""

    def __init__(self, objects: Iterable[Json]) -> None:
        objects = list(objects)
        self.policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
        self.namespace_labels = {
            o["metadata"]["name"]: o["metadata"].get("labels") or {}
            for o in objects
            if o["kind"] == "Namespace"
        }

    def labels_of_namespace(self, namespace: str) -> dict[str, str]:
        # The API server labels every namespace with its name.
        return {**self.namespace_labels.get(namespace, {}), "kubernetes.io/metadata.name": namespace}

    def admits(self, client: Endpoint, server: Endpoint, port: Port) -> bool:
        return self.egress_admits(client, server, port) and self.ingress_admits(client, server, port)

    def egress_admits(self, client: Endpoint, server: Endpoint, port: Port) -> bool:
        """What the client's side says on its own (an address outside the cluster says nothing)."""
        return not isinstance(client, Pod) or self._allows(client, "Egress", client, server, port)

    def ingress_admits(self, client: Endpoint, server: Endpoint, port: Port) -> bool:
        return not isinstance(server, Pod) or self._allows(server, "Ingress", client, server, port)

    def _allows(self, pod: Pod, direction: str, client: Endpoint, server: Endpoint, port: Port) -> bool:
        rules_key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
        peer = server if direction == "Egress" else client
        selecting = [
            p
            for p in self.policies
            if p["metadata"]["namespace"] == pod.namespace
            and direction in _policy_types(p)
            and _selects(p["spec"]["podSelector"], pod.labels)
        ]
        if not selecting:
            return True
        return any(
            self._peer_matches(rule.get(peers_key), policy["metadata"]["namespace"], peer)
            and _port_matches(rule.get("ports"), port, server)
            for policy in selecting
            for rule in policy["spec"].get(rules_key) or []
        )

    def _peer_matches(self, peers: list[Json] | None, namespace: str, peer: Endpoint) -> bool:
        if not peers:
            return True
        for entry in peers:
            if "ipBlock" in entry:
                # ipBlocks speak for addresses outside the cluster only (checked below for each).
                if isinstance(peer, External) and _in_block(peer.address, entry["ipBlock"]):
                    return True
                continue
            if not isinstance(peer, Pod):
                continue
            pod_selector, ns_selector = entry.get("podSelector"), entry.get("namespaceSelector")
            in_namespace = (
                _selects(ns_selector, self.labels_of_namespace(peer.namespace))
                if ns_selector is not None
                else peer.namespace == namespace
            )
            if in_namespace and (pod_selector is None or _selects(pod_selector, peer.labels)):
                return True
        return False


def _policy_types(policy: Json) -> list[str]:
    spec = policy["spec"]
    return spec.get("policyTypes") or ["Ingress", *(["Egress"] if spec.get("egress") else [])]


def _in_block(address: str, block: Json) -> bool:
    ip = ipaddress.ip_address(address)
    return ip in ipaddress.ip_network(block["cidr"]) and not any(
        ip in ipaddress.ip_network(e) for e in block.get("except") or []
    )


def _port_matches(ports: list[Json] | None, port: Port, server: Endpoint) -> bool:
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != port.protocol:
            continue
        number = entry.get("port")
        if number is None:
            return True
        if isinstance(number, str):  # a named port of the server's containers
            if isinstance(server, Pod) and any(
                p.name == number and (p.number, p.protocol) == (port.number, port.protocol)
                for p in server.ports
            ):
                return True
            continue
        if number <= port.number <= entry.get("endPort", number):
            return True
    return False


# --- the rendered fleet ------------------------------------------------------------------------


def _template(obj: Json) -> Json | None:
    spec = obj.get("spec") or {}
    if obj["kind"] == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]
    return spec.get("template") if obj["kind"] in {"Deployment", "StatefulSet", "Job", "DaemonSet"} else None


def _containers(template: Json) -> list[Json]:
    return [*template["spec"].get("initContainers", []), *template["spec"]["containers"]]


class Fleet:
    """One rendered overlay: its pods, Services, configuration and policies."""

    def __init__(self, overlay: str) -> None:
        self.overlay = overlay
        self.objects = render(overlay)
        self.network = Network(self.objects)
        self.pods = [
            Pod(
                name=f"{o['kind']}/{o['metadata']['name']}",
                namespace=o["metadata"].get("namespace", NAMESPACE),
                labels=(t.get("metadata") or {}).get("labels") or {},
                ports=tuple(
                    Port(p["containerPort"], p.get("protocol", "TCP"), p.get("name"))
                    for c in _containers(t)
                    for p in c.get("ports", [])
                ),
                template=t,
            )
            for o in self.objects
            if (t := _template(o)) is not None
        ]

    def _object(self, kind: str, name: str) -> Json | None:
        return next(
            (o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name),
            None,
        )

    def process(self, name: str) -> Pod:
        """The pods of one process of the fleet: a server, a migration Job or the key rotation."""
        if name == ROTATION:
            found = [
                p
                for p in self.pods
                if any(ROTATION_RPC in c.get("args", []) for c in _containers(p.template))
            ]
            assert len(found) == 1, f"{self.overlay}: one job calls {ROTATION_RPC}, not {len(found)}"
            return found[0]
        kind, object_name = (
            ("Job", f"codegram-migrate-{name.removeprefix('migrate-')}")
            if name.startswith("migrate-")
            else ("Deployment", f"codegram-{name}")
        )
        found = [p for p in self.pods if p.name == f"{kind}/{object_name}"]
        assert len(found) == 1, f"{self.overlay}: {kind} {object_name}"
        return found[0]

    def env(self, pod: Pod) -> dict[str, str | None]:
        """What the pod's main container finds in its environment (None: in a Secret not rendered)."""
        container = pod.template["spec"]["containers"][0]
        env: dict[str, str | None] = {}
        for source in container.get("envFrom", []):
            if ref := source.get("configMapRef"):
                env.update(self._data("ConfigMap", ref["name"]))
            elif ref := source.get("secretRef"):
                env.update(self._data("Secret", ref["name"]))
        for var in container.get("env", []):
            if "value" in var:
                env[var["name"]] = var["value"]
            elif ref := var["valueFrom"].get("secretKeyRef"):
                env[var["name"]] = self._data("Secret", ref["name"]).get(ref["key"])
            elif ref := var["valueFrom"].get("configMapKeyRef"):
                env[var["name"]] = self._data("ConfigMap", ref["name"]).get(ref["key"])
        return env

    def _data(self, kind: str, name: str) -> dict[str, str | None]:
        obj = self._object(kind, name)
        if obj is None:
            assert kind == "Secret", f"{self.overlay}: {kind} {name} is referenced but not rendered"
            return {}  # provided by the platform: its values are not known here
        data = dict(obj.get("data") or {})
        if kind == "Secret":
            data = {k: base64.b64decode(v).decode() for k, v in data.items()}
        return data

    def destinations(self, address: str, namespace: str) -> list[tuple[Endpoint, Port]]:
        """Where a client configured with `address` (a URL or host:port) connects."""
        split = urlsplit(address if "://" in address else f"tcp://{address}")
        host = split.hostname
        assert host, address
        port = split.port or DEFAULT_PORTS[split.scheme]
        in_cluster = re.fullmatch(r"([a-z0-9-]+)(?:\.([a-z0-9-]+)\.svc(?:\.cluster\.local)?)?", host)
        if in_cluster is None:
            return [(External(host, INTERNET), Port(port))]
        service_name, service_namespace = in_cluster.group(1), in_cluster.group(2) or namespace
        service = self._object("Service", service_name)
        if service is None or service["metadata"].get("namespace", NAMESPACE) != service_namespace:
            # A Service of another namespace: some pods there, on the port of the address.
            return [(Pod(f"pods behind {host}", service_namespace), Port(port))]
        (service_port,) = [p for p in service["spec"]["ports"] if p["port"] == port]
        target = service_port.get("targetPort", port)
        backends = [
            pod
            for pod in self.pods
            if pod.namespace == service_namespace
            and _selects({"matchLabels": service["spec"]["selector"]}, pod.labels)
        ]
        assert backends, f"{self.overlay}: no pod behind Service {service_name}"
        return [
            (pod, next(p for p in pod.ports if target in (p.name, p.number) and p.protocol == "TCP"))
            for pod in backends
        ]


DEFAULT_PORTS = {"https": 443, "http": 80, "postgresql": 5432, "nats": 4222, "redis": 6379, "rediss": 6379}
# Where an address kept in a Secret the overlay does not render may be (the production database).
SOMEWHERE: tuple[Endpoint, ...] = (
    External("the internet", INTERNET),
    External("a private network", PRIVATE_NETWORK),
)
KUBE_DNS = Pod(
    "cluster DNS",
    "kube-system",
    {"k8s-app": "kube-dns"},
    (Port(53, "UDP", "dns"), Port(53, "TCP", "dns-tcp")),
)
MONITORING = Pod("Prometheus", "monitoring", {NAME: "prometheus"})

# --- the calls the code makes ------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    client: str  # a process: "gateway", a service, "migrate-<service>" or "key-rotation"
    setting: str  # the environment variable holding the address
    why: str


def _settings_read(package: ModuleType, fields: Iterable[str]) -> set[str]:
    """The settings fields a package reads (`x.field` or `getattr(x, "field")` anywhere in it)."""
    wanted, found = set(fields), set()
    for path in Path(package.__file__ or "").parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in wanted:
                found.add(node.attr)
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "getattr"
                and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value in wanted
            ):
                found.add(node.args[1].value)
    return found


def _definition(service: str) -> Any:
    return importlib.import_module(f"codegram_{service}.__main__").SERVICE


@functools.cache
def grpc_peers(service: str) -> frozenset[str]:
    """The services whose gRPC API `service` calls: its declared peers (config.py `PEERS`)."""
    config = importlib.import_module(f"codegram_{service}.config")
    peers = frozenset(config.PEERS)
    assert peers == frozenset(registry.entry(service).calls), f"{service}: config.py and the registry differ"
    return peers


def _attributes_read(path: Path) -> set[str]:
    return {n.attr for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Attribute)}


@functools.cache
def fleet_calls() -> tuple[Call, ...]:
    calls: list[Call] = []
    for service in SERVICES:
        definition = _definition(service)
        package = importlib.import_module(f"codegram_{service}")
        fields = definition.settings_class.model_fields
        reads = _settings_read(package, fields)
        calls += [
            Call(service, "JWKS_URL", "the kit's runtime verifies access tokens"),
            Call(service, "DATABASE_URL", "the kit's runtime: the service's schema"),
            Call(service, "NATS_URL", "the kit's runtime: outbox relay and consumers"),
            Call(f"migrate-{service}", "DATABASE_URL", "migrations"),
        ]
        if definition.uses_redis or "redis_url" in reads:
            calls.append(Call(service, "REDIS_URL", "uses_redis"))
        calls += [Call(service, f"{peer.upper()}_GRPC_TARGET", "gRPC client") for peer in grpc_peers(service)]
        calls += [
            Call(service, f.upper(), "GitHub")
            for f in reads
            if f.startswith("github_") and f.endswith("_url")
        ]

    gateway_fields = GatewaySettings.model_fields
    gateway_reads = _settings_read(gateway_app, gateway_fields)  # the whole codegram_gateway package
    calls.append(Call(GATEWAY, "JWKS_URL", "the edge verifies access tokens"))
    calls += [
        Call(GATEWAY, registry.http_url_setting(s).upper(), "upstream") for s in registry.GATEWAY_UPSTREAMS
    ]  # GatewaySettings.upstream_urls()
    calls += [Call(GATEWAY, f.upper(), "engine") for f in ("redis_url", "nats_url") if f in gateway_reads]
    calls.append(Call(ROTATION, "AUTH_GRPC_TARGET", "RotateSigningKey and RemoveRetiredKeys"))
    return tuple(calls)


@functools.cache
def processes(fleet: Fleet) -> dict[str, Pod]:
    names = [GATEWAY, *SERVICES, *(f"migrate-{s}" for s in SERVICES), ROTATION]
    return {name: fleet.process(name) for name in names}


def _destinations(fleet: Fleet, call: Call, client: Pod) -> list[tuple[Endpoint, Port]]:
    env = fleet.env(client)
    assert call.setting in env, f"{fleet.overlay}: {client.name} is given no {call.setting}"
    if call.client == ROTATION:  # the target is an argument, taken from the environment
        args = [a for c in _containers(client.template) for a in c.get("args", [])]
        assert f"$({call.setting})" in args, f"{fleet.overlay}: {client.name} does not call $({call.setting})"
    address = env[call.setting]
    if address is None:  # in a Secret the platform provides: wherever it is
        assert call.setting == "DATABASE_URL", call  # the only address the platform keeps secret
        return [(somewhere, Port(DEFAULT_PORTS["postgresql"])) for somewhere in SOMEWHERE]
    return fleet.destinations(address, client.namespace)


@functools.cache
def expected_calls(fleet: Fleet) -> dict[tuple[str, Endpoint, Port], str]:
    """Every (client, server, port) the fleet uses, with why; DNS and metrics included."""
    pods = processes(fleet)
    expected: dict[tuple[str, Endpoint, Port], str] = {}
    for call in fleet_calls():
        for server, port in _destinations(fleet, call, pods[call.client]):
            expected[(call.client, server, port)] = f"{call.setting} ({call.why})"
    for name in pods:
        for port in KUBE_DNS.ports:
            expected[(name, KUBE_DNS, port)] = "names of the fleet and the engines"
    return expected


@functools.cache
def inbound_from_outside(fleet: Fleet) -> dict[tuple[str, Endpoint, Port], str]:
    """What comes from outside the fleet: anyone to the gateway, monitoring to every metrics port.
    A pod of the fleet's own namespace that is not the fleet's calls nothing: the namespace's
    default deny holds its egress too."""
    pods = processes(fleet)
    gateway = pods[GATEWAY]
    allowed: dict[tuple[str, Endpoint, Port], str] = {}
    for outsider in _outsiders():
        if outsider.namespace == NAMESPACE:
            continue
        allowed.update({(outsider.name, gateway, p): "the public door" for p in gateway.ports})
    for pod in pods.values():
        annotations = (pod.template.get("metadata") or {}).get("annotations") or {}
        if annotations.get("prometheus.io/scrape") == "true":
            (port,) = [p for p in pod.ports if p.number == int(annotations["prometheus.io/port"])]
            allowed[(MONITORING.name, pod, port)] = "metrics"
    return allowed


def _outsiders() -> list[Pod]:
    return [
        MONITORING,
        Pod("an unlabelled pod of the namespace", NAMESPACE, {}),
        Pod("a pod of another namespace labelled as the gateway", "elsewhere", {NAME: "codegram-gateway"}),
        Pod(
            "a pod of another namespace labelled as the key rotation",
            "elsewhere",
            {NAME: "codegram-key-rotation", "app.kubernetes.io/part-of": "codegram"},
        ),
    ]


# --- the tests ---------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=OVERLAYS)
def fleet(request: pytest.FixtureRequest) -> Fleet:
    return Fleet(request.param)


def _label(key: tuple[str, Endpoint, Port]) -> str:
    client, server, port = key
    return f"{client} -> {server.name} {port.number}/{port.protocol}"


def test_every_call_the_fleet_makes_is_admitted(fleet: Fleet) -> None:
    pods = processes(fleet)
    clients = {**pods, **{o.name: o for o in _outsiders()}}
    wanted = {**expected_calls(fleet), **inbound_from_outside(fleet)}
    refused = sorted(
        f"{_label(key)}: {why}"
        for key, why in wanted.items()
        if not fleet.network.admits(clients[key[0]], *key[1:])
    )
    assert not refused, f"{fleet.overlay}: the policies refuse calls the fleet makes:\n" + "\n".join(refused)


@functools.cache
def _servers(fleet: Fleet) -> dict[Endpoint, set[Port]]:
    """Every port anything could listen on: the fleet, the engines, outsiders, the internet."""
    servers: dict[Endpoint, set[Port]] = {
        External("the internet", INTERNET): {Port(n) for n in (80, 443, 4222, 5432, 6379)},
        External("a private network", PRIVATE_NETWORK): {Port(n) for n in (80, 443, 4222, 5432, 6379)},
        **{outsider: {Port(8080), Port(9090)} for outsider in _outsiders()},
    }
    for pod in fleet.pods:
        servers.setdefault(pod, set()).update(pod.ports)
    for _, server, port in expected_calls(fleet):
        servers.setdefault(server, set()).add(port)
    return servers


def test_no_process_may_call_more_than_it_does(fleet: Fleet) -> None:
    """Each client's egress on its own admits exactly the calls it makes."""
    wanted = expected_calls(fleet)
    extra = sorted(
        _label((name, server, port))
        for name, client in processes(fleet).items()
        for server, ports in _servers(fleet).items()
        for port in ports
        if fleet.network.egress_admits(client, server, port) and (name, server, port) not in wanted
    )
    assert not extra, f"{fleet.overlay}: egress admits calls nothing makes:\n" + "\n".join(extra)


def test_no_process_admits_more_than_it_is_called(fleet: Fleet) -> None:
    """Each server's ingress on its own admits exactly the calls made to it (from the fleet or not)."""
    wanted = {**expected_calls(fleet), **inbound_from_outside(fleet)}
    pods = processes(fleet)
    clients = {**pods, **{o.name: o for o in _outsiders()}}
    # The public door is open to any pod; the fleet's own are held back by their egress.
    wanted |= {
        (name, pods[GATEWAY], port): "the public door" for name in clients for port in pods[GATEWAY].ports
    }
    extra = sorted(
        _label((name, server, port))
        for server in pods.values()
        for port in server.ports
        for name, client in clients.items()
        if fleet.network.ingress_admits(client, server, port) and (name, server, port) not in wanted
    )
    assert not extra, f"{fleet.overlay}: ingress admits calls nothing makes:\n" + "\n".join(extra)


def test_every_service_and_the_gateway_fetch_the_jwks_from_auth(fleet: Fleet) -> None:
    auth = fleet.process("auth")
    for name in [GATEWAY, *SERVICES]:
        client = fleet.process(name)
        address = fleet.env(client)["JWKS_URL"]
        assert address, name
        for server, port in fleet.destinations(address, NAMESPACE):
            assert server == auth and port.number == 8080
            assert fleet.network.admits(client, server, port), f"{fleet.overlay}: {name} -> JWKS"


def test_grpc_is_admitted_from_callers_only(fleet: Fleet) -> None:
    """A caller reaches its peer's gRPC port; the same service is refused where it does not call."""
    pods = processes(fleet)
    edges = {(service, peer) for service in SERVICES for peer in grpc_peers(service)}
    assert edges, "no gRPC client edge found in the services' code"
    grpc = Port(50051, "TCP", "grpc")
    for client in SERVICES:
        for server in SERVICES:
            admitted = fleet.network.admits(pods[client], pods[server], grpc)
            assert admitted == ((client, server) in edges), f"{fleet.overlay}: {client} -> {server} gRPC"
    # The rotation job reaches auth's gRPC; a pod elsewhere with its labels does not.
    assert fleet.network.admits(pods[ROTATION], pods["auth"], grpc)
    impostor = next(o for o in _outsiders() if o.labels.get(NAME) == "codegram-key-rotation")
    assert not fleet.network.admits(impostor, pods["auth"], grpc)


def test_only_the_clients_of_an_engine_reach_it(fleet: Fleet) -> None:
    pods = processes(fleet)
    for setting in ("REDIS_URL", "NATS_URL"):
        clients = {c.client for c in fleet_calls() if c.setting == setting}
        assert clients, setting
        address = fleet.env(pods[GATEWAY])[setting]
        assert address, setting
        for server, port in fleet.destinations(address, NAMESPACE):
            for name, pod in pods.items():
                assert fleet.network.admits(pod, server, port) == (
                    name in clients
                ), f"{fleet.overlay}: {name} -> {setting}"


def test_ip_blocks_speak_only_for_addresses_outside_the_cluster(fleet: Fleet) -> None:
    """The model above never matches a pod against an ipBlock; the policies make that true."""
    for policy in fleet.network.policies:
        for rule in [*policy["spec"].get("ingress", []), *policy["spec"].get("egress", [])]:
            for peer in rule.get("from", []) + rule.get("to", []):
                if "ipBlock" not in peer:
                    continue
                cidr = ipaddress.ip_network(peer["ipBlock"]["cidr"])
                excepted = [ipaddress.ip_network(e) for e in peer["ipBlock"].get("except", [])]
                for network in IN_CLUSTER_RANGES:
                    if network.version == cidr.version and network.overlaps(cidr):
                        assert any(
                            e.version == network.version and network.subnet_of(e)  # type: ignore[arg-type]
                            for e in excepted
                        ), (policy["metadata"]["name"], network)


def test_the_code_is_what_the_call_graph_assumes() -> None:
    """The derivation above holds while the kit calls no peer, no upstream and not GitHub, and the
    libraries beside it no upstream and not GitHub (a peer a shared library calls for a service is
    that service's declared peer: test_service_registry.py reads the libraries it depends on)."""
    reads: dict[ModuleType, set[str]] = {}
    for package in (codegram_kit, codegram_content, codegram_clients):
        reads[package] = set()
        for path in Path(package.__file__ or "").parent.rglob("*.py"):
            if path != Path(kit_settings.__file__ or ""):
                reads[package] |= _attributes_read(path)
    assert not {r for r in reads[codegram_kit] if r.endswith("_grpc_target")}
    assert not {
        r
        for package_reads in reads.values()
        for r in package_reads
        if r.endswith(("_http_url", "github_api_url", "github_oauth_url"))
    }
    # What fleet_calls() says the kit's runtime does for every service.
    assert {"database_url", "nats_url", "redis_url", "from_settings"} <= _attributes_read(
        Path(kit_runtime.__file__ or "")
    )
    # The gateway forwards to exactly the services its settings locate: the registry's upstreams.
    assert (
        {f.removesuffix("_http_url") for f in GatewaySettings.model_fields if f.endswith("_http_url")}
        == set(gateway_app.SERVICES)
        == set(registry.GATEWAY_UPSTREAMS)
    )
    assert "upstream_urls" in _attributes_read(Path(gateway_app.__file__ or ""))
    # A gRPC client edge ends at a service that serves a gRPC API.
    for service in SERVICES:
        for peer in grpc_peers(service):
            assert _definition(peer).grpc_registrars, f"{service} calls {peer}, which serves no gRPC API"


def test_each_process_is_given_exactly_the_addresses_it_calls(fleet: Fleet) -> None:
    """A Deployment's environment locates exactly the peers its service calls (the gateway: every
    upstream), and the rotation job only auth; no process learns where anything else is."""
    given = {
        name: {k for k in fleet.env(pod) if k.endswith(("_GRPC_TARGET", "_HTTP_URL"))}
        for name, pod in processes(fleet).items()
    }
    wanted: dict[str, set[str]] = {name: set() for name in given}
    for service in SERVICES:
        wanted[service] = {registry.grpc_target_setting(p).upper() for p in registry.entry(service).calls}
    wanted[GATEWAY] = {registry.http_url_setting(s).upper() for s in registry.GATEWAY_UPSTREAMS}
    wanted[ROTATION] = {registry.grpc_target_setting("auth").upper()}
    assert given == wanted, fleet.overlay
    # And each address is where that service's pods are, on the port it serves.
    for name, pod in processes(fleet).items():
        for setting in given[name]:
            target = setting.removesuffix("_GRPC_TARGET").removesuffix("_HTTP_URL").lower()
            address = fleet.env(pod)[setting]
            assert address is not None
            assert address == (
                registry.cluster_grpc_target(target)
                if setting.endswith("_GRPC_TARGET")
                else registry.cluster_http_url(target)
            ), (fleet.overlay, name, setting)
            for server, _port in fleet.destinations(address, NAMESPACE):
                assert server == fleet.process(target), (fleet.overlay, name, setting)
