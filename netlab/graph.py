"""`netlab graph`: a picture of a lab's topology.

What the picture shows, from the lab alone (nothing needs to be up): every underlay segment with
its subnet, every host with its underlay address on its segment, every router with its address
on each segment it joins, and every tunnel as its own node (name, type, VNI or key, group, TTL,
UDP port) joined by dashed lines to its endpoints, each line labelled with the endpoint's tunnel
address; tenants behind their host's bridge (the bridge joined to its host, each tenant to its
bridge with its address). The same description is written as Graphviz DOT (built with the `graphviz` package,
drawn to SVG/PNG by Graphviz's `dot` program) or as Mermaid text (for Markdown pages).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from netlab.errors import NetlabError
from netlab.model import Lab, Tunnel

TEXT_FORMATS = ("dot", "mermaid")
IMAGE_FORMATS = ("svg", "png")
FORMATS = (*IMAGE_FORMATS, *TEXT_FORMATS)
# A file's suffix -> the format written to it.
SUFFIXES = {".svg": "svg", ".png": "png", ".dot": "dot", ".gv": "dot", ".mmd": "mermaid", ".mermaid": "mermaid"}

_SEGMENT_STYLE = {"shape": "box", "style": "rounded,filled", "fillcolor": "#eeeeee", "color": "#888888"}
_HOST_STYLE = {"shape": "box", "style": "filled", "fillcolor": "#dbe9f6", "color": "#3b6ea5"}
_ROUTER_STYLE = {"shape": "octagon", "style": "filled", "fillcolor": "#fde9c9", "color": "#b07a1f"}
_TUNNEL_STYLE = {"shape": "hexagon", "style": "filled", "fillcolor": "#e3f4de", "color": "#3d8b37"}
_BRIDGE_STYLE = {"shape": "box", "style": "rounded,filled", "fillcolor": "#f2e6f7", "color": "#7a4a94"}
_TENANT_STYLE = {"shape": "component", "style": "filled", "fillcolor": "#fff7d6", "color": "#a08a2a"}


@dataclass(frozen=True)
class Node:
    id: str
    kind: str  # segment | host | router | tunnel | bridge | tenant
    lines: tuple[str, ...]  # the label, one line each; the first is the name


@dataclass(frozen=True)
class Edge:
    a: str
    b: str
    label: str
    overlay: bool  # a tunnel to one of its endpoints (dashed), else an underlay wire


@dataclass
class Topology:
    name: str
    title: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)


def tunnel_facts(t: Tunnel) -> list[str]:
    """The tunnel's parameters as the picture labels them: type, VNI/key, group, TTL, port."""
    kind = t.kind
    facts = [kind.describe(t)]
    if kind.has_vni and t.vni is not None:
        facts.append(f"VNI {t.vni}")
    if kind.has_key:
        facts.append(f"key {t.key}" if t.key is not None else "no key")
    if kind.has_vlan and t.vlan is not None:
        facts.append(f"VLAN {t.vlan}")
    if t.group:
        facts.append(f"group {t.group}")
    if t.ttl is not None:
        facts.append(f"TTL {t.ttl}")
    if t.effective_dstport is not None:
        facts.append(f"UDP {t.effective_dstport}")
    return facts


def topology(lab: Lab) -> Topology:
    topo = Topology(lab.name, lab.title)
    networks = lab.underlay.networks
    for seg, net in networks.items():
        topo.nodes.append(Node(_id("seg", seg), "segment", (seg, str(net))))
    for host, spec in lab.hosts.items():
        topo.nodes.append(Node(_id("host", host), "host", (host, spec.ip)))
        seg = lab.underlay.segment_of(spec.ip)
        if seg is not None:
            topo.edges.append(Edge(_id("host", host), _id("seg", seg), lab.underlay.interface, overlay=False))
    for router, spec in lab.routers.items():
        multicast = "routes multicast" if spec.multicast == "static" else "unicast only"
        topo.nodes.append(Node(_id("router", router), "router", (router, f"router, {multicast}")))
        for seg, ip in spec.interfaces.items():
            topo.edges.append(Edge(_id("router", router), _id("seg", seg), ip, overlay=False))
    _orient_from_hosts(topo)
    for t in lab.tunnels:
        facts = tunnel_facts(t)
        lines = [t.name, " · ".join(facts[:2])]
        if facts[2:]:
            lines.append(" · ".join(facts[2:]))
        topo.nodes.append(Node(_id("tunnel", t.name), "tunnel", tuple(lines)))
        for host, address in t.endpoints.items():
            # A bridged tunnel's endpoint may have no address: its edge carries no label.
            topo.edges.append(Edge(_id("tunnel", t.name), _id("host", host), address or "", overlay=True))
    add_tenants(topo, lab)
    return topo


def add_tenants(topo: Topology, lab: Lab) -> None:
    """Each tenant behind its host's bridge: a node for every bridge that has tenants on a host
    (joined to the host, labelled with its uplink tunnel), and each tenant joined to its bridge,
    labelled with its eth0 address."""
    for name, tenant in lab.tenants.items():
        t = lab.tunnel(tenant.tunnel)
        bridge = _id("bridge", f"{tenant.host}_{t.bridge}")
        if not any(n.id == bridge for n in topo.nodes):
            topo.nodes.append(Node(bridge, "bridge", (str(t.bridge), f"bridge on {tenant.host}")))
            topo.edges.append(Edge(bridge, _id("host", tenant.host), f"uplink {t.name}", overlay=False))
        topo.nodes.append(Node(_id("tenant", name), "tenant", (name, f"tenant on {t.name}")))
        topo.edges.append(Edge(_id("tenant", name), bridge, f"eth0 {tenant.ip}", overlay=False))


def _orient_from_hosts(topo: Topology) -> None:
    """Each underlay wire from the end nearer to a host to the farther one: Graphviz and Mermaid
    rank along edges, so the picture reads tunnels, hosts, their segments, then routers further
    and further in (a leaf/spine fabric comes out in layers)."""
    near: dict[str, set[str]] = {}
    for e in topo.edges:
        near.setdefault(e.a, set()).add(e.b)
        near.setdefault(e.b, set()).add(e.a)
    distance = {n.id: 0 for n in topo.nodes if n.kind == "host"}
    frontier = list(distance)
    while frontier:
        nxt = []
        for node in frontier:
            for other in sorted(near.get(node, ())):
                if other not in distance:
                    distance[other] = distance[node] + 1
                    nxt.append(other)
        frontier = nxt
    far = len(topo.nodes)
    topo.edges[:] = [e if distance.get(e.a, far) <= distance.get(e.b, far) else Edge(e.b, e.a, e.label, e.overlay)
                     for e in topo.edges]


def _id(kind: str, name: str) -> str:
    return f"{kind}_{re.sub(r'[^A-Za-z0-9_]', '_', name)}"


# -- Graphviz ---------------------------------------------------------------------------------------
def dot_source(lab: Lab) -> str:
    try:
        import graphviz
    except ImportError:
        raise NetlabError("the graphviz Python package is not installed",
                          hint="pip install graphviz (scripts/setup installs it into .venv)") from None
    topo = topology(lab)
    graph = graphviz.Graph(name=topo.name, graph_attr={
        "label": f"{topo.name}: {topo.title}" if topo.title else topo.name, "labelloc": "t", "fontsize": "16",
        "fontname": "Helvetica", "rankdir": "TB", "nodesep": "0.5", "ranksep": "0.7",
    }, node_attr={"fontname": "Helvetica", "fontsize": "11"}, edge_attr={"fontname": "Helvetica", "fontsize": "9"})
    styles = {"segment": _SEGMENT_STYLE, "host": _HOST_STYLE, "router": _ROUTER_STYLE, "tunnel": _TUNNEL_STYLE,
              "bridge": _BRIDGE_STYLE, "tenant": _TENANT_STYLE}
    for node in topo.nodes:
        graph.node(node.id, label="\n".join(node.lines), **styles[node.kind])
    for edge in topo.edges:
        if edge.overlay:
            graph.edge(edge.a, edge.b, label=edge.label, style="dashed", color="#3d8b37", fontcolor="#3d8b37")
        else:
            graph.edge(edge.a, edge.b, label=edge.label, color="#888888", penwidth="2")
    return graph.source


def render_image(lab: Lab, fmt: str) -> bytes:
    """The picture as SVG or PNG, drawn by Graphviz's `dot`."""
    import graphviz

    source = graphviz.Source(dot_source(lab))
    try:
        return source.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise NetlabError("Graphviz's `dot` program is not installed: it draws the picture",
                          hint="apt-get install graphviz (or --format dot / --format mermaid for text)") from None
    except graphviz.CalledProcessError as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else str(exc.stderr or "")
        raise NetlabError(f"dot failed: {stderr.strip() or exc}") from None


# -- Mermaid ----------------------------------------------------------------------------------------
_MERMAID_SHAPES = {"segment": ("[(", ")]"), "host": ("[", "]"), "router": ("{{", "}}"), "tunnel": ("([", "])"),
                   "bridge": ("(", ")"), "tenant": ("[/", "/]")}


def mermaid(lab: Lab) -> str:
    topo = topology(lab)
    title = f"{topo.name}: {topo.title}" if topo.title else topo.name
    # The front matter is YAML: the title as a JSON string is valid there, colons and all.
    lines = ["---", f"title: {json.dumps(_mermaid_text(title), ensure_ascii=False)}", "---", "flowchart TB"]
    for node in topo.nodes:
        opening, closing = _MERMAID_SHAPES[node.kind]
        label = "<br/>".join(_mermaid_text(line) for line in node.lines)
        lines.append(f'    {node.id}{opening}"{label}"{closing}')
    for edge in topo.edges:
        link = "-.-" if edge.overlay else "---"
        lines.append(f'    {edge.a} {link}|"{_mermaid_text(edge.label)}"| {edge.b}')
    for kind in ("segment", "host", "router", "tunnel", "bridge", "tenant"):
        ids = [n.id for n in topo.nodes if n.kind == kind]
        if ids:
            style = {"segment": _SEGMENT_STYLE, "host": _HOST_STYLE, "router": _ROUTER_STYLE,
                     "tunnel": _TUNNEL_STYLE, "bridge": _BRIDGE_STYLE, "tenant": _TENANT_STYLE}[kind]
            lines.append(f"    classDef {kind} fill:{style['fillcolor']},stroke:{style['color']}")
            lines.append(f"    class {','.join(ids)} {kind}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    return text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def graph_text(lab: Lab, fmt: str) -> str:
    return dot_source(lab) if fmt == "dot" else mermaid(lab)
