"""From failures to causes: which fault on which host and device explains which failed results.

Checks report symptoms one case at a time (boxA cannot ping boxB, boxB's fdb lacks boxC ...).
The diagnosis looks at what the hosts reported about themselves (every device, from the LINKS
probe, and the checks' structured findings) and names the faults behind the symptoms: the
host, the device, the parameter, what it is and what the lab says, in words a student reads,
and the ids of the failed results each fault accounts for. Failures no fault explains become
causes of their own. Causes are ordered by how many failures they explain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netlab.model import Lab, Tunnel
from netlab.model.routing import routers_between
from netlab.verify.cause import RANK, Cause
from netlab.verify.checks import Case, Seen
from netlab.verify.checks.base import host_links
from netlab.verify.checks.fdb import MissingFlood
from netlab.verify.checks.params import Problem, key_number, ttl_words
from netlab.verify.context import Context, Outcome
from netlab.verify.tenant_causes import tenant_causes

Scope = Callable[[Case, Outcome], bool]


def involving(host: str, tunnel: str | None = None, peers: set[str] | None = None) -> Scope:
    """Failures on `tunnel` (any, when None) from or to `host` (with one of `peers`, if given),
    and other hosts' fdb failures that miss `host`'s MAC."""
    def scope(case: Case, outcome: Outcome) -> bool:
        if tunnel is not None and case.tunnel != tunnel:
            return False
        if case.host == host:
            return peers is None or case.peer is None or case.peer in peers
        if case.peer == host:
            return peers is None or case.host in peers
        if case.check == "fdb" and f"{host} (" in outcome.summary:
            return peers is None or case.host in peers
        return False
    return scope


def consequence(lab: Lab, host: str, t: Tunnel, p: Problem) -> str:
    """What a wrong parameter does, in a few words."""
    others = ", ".join(h for h in t.endpoints if h != host)
    return {
        "id": f": {host}'s packets carry VNI {p.actual}, so {others} drop them (and {host} drops theirs)",
        "port": f": {host} sends to and listens on udp/{p.actual}; {others} use udp/{p.expected}",
        "group": f": {host} sends to and listens on {p.actual}; {others} use {p.expected}",
        "state": f": nothing is sent or received on it (ip link set {t.name} up)",
        "remote": f": {host} sends its packets to {p.actual}",
        "local": f": {host} sends from {p.actual}",
        "link": f": {host} sends its packets out of {p.actual}",
        "mtu": (f": packets that size enter the tunnel and grow by {t.kind.overhead(t.key)} bytes of headers, "
                f"more than the underlay (MTU {lab.underlay.mtu}) carries unfragmented")
        if p.actual and p.expected and p.actual.isdigit() and p.expected.isdigit() and int(p.actual) > int(p.expected)
        else "",
    }.get(p.param, "")


class Diagnosis:
    def __init__(self, ctx: Context, cases: list[Case], outcomes: dict[Case, Outcome], seen: Seen) -> None:
        self.ctx, self.lab, self.seen = ctx, ctx.lab, seen
        self.failed = [(c, outcomes[c]) for c in cases if c in outcomes and not outcomes[c].passed]
        self.causes: list[tuple[Cause, Scope]] = []

    def add(self, cause: Cause, scope: Scope, itself: Case | None = None) -> None:
        def with_itself(case: Case, outcome: Outcome) -> bool:
            return case == itself or scope(case, outcome)
        self.causes.append((cause, with_itself))

    # -- the faults ----------------------------------------------------------------------------
    def underlay(self) -> None:
        nic = self.lab.underlay.interface
        for host, spec in self.lab.hosts.items():
            links, _ = host_links(self.ctx, self.seen, host)
            if links is None:
                continue
            link = links.get(nic)
            if link is None:
                text = f"the underlay NIC {nic} is missing on {host}: nothing leaves {host}"
            elif "UP" not in link.get("flags", []):
                text = f"the underlay NIC {nic} on {host} is down: nothing leaves {host} (ip link set {nic} up)"
            elif link.get("operstate") == "DOWN" or "NO-CARRIER" in link.get("flags", []):
                text = f"the underlay NIC {nic} on {host} has no carrier (cable unplugged): nothing leaves {host}"
            elif spec.ip not in {a.get("local") for a in link.get("addr_info", [])}:
                text = f"the underlay NIC {nic} on {host} lacks its address {spec.ip}"
                student = f"the underlay NIC {nic} on {host} lacks its address"
                self.add(Cause(host, "underlay", text, student, device=nic, param="address", rank=0),
                         involving(host))
                continue
            else:
                continue
            self.add(Cause(host, "underlay", text, text, device=nic, param="state", rank=0), involving(host))

    def params(self) -> None:
        for case, outcome in self.failed:
            if case.check != "params":
                continue
            t = self.ctx.tunnels[case.tunnel]  # type: ignore[index]
            found = [p for p in outcome.findings if isinstance(p, Problem)]
            params = {p.param for p in found}
            for p in found:
                if p.param == "mtu" and "key" in params:
                    continue  # the key changed the MTU: the key cause says so
                self.problem(case, t, p)

    def problem(self, case: Case, t: Tunnel, p: Problem) -> None:
        host, dev = case.host, t.name
        rank = RANK.get(p.param, 8)
        if p.param == "missing":
            text = f"no device {dev} on {host}: its peers' packets for {host} go nowhere"
            self.add(Cause(host, "params", text, text, device=dev, param="missing", rank=rank),
                     involving(host, dev), case)
            return
        if p.param == "ttl":
            self.ttl(case, t, p)
            return
        if p.param == "key":
            self.key(case, t, p)
            return
        if p.param == "duplicate":
            scope_a, scope_b = involving(host, dev), involving(p.other or host, dev)
            self.add(Cause(host, "params", f"{dev} on {host}: {p.text}", f"{dev} on {host}: {p.student}",
                           device=dev, param="duplicate", rank=rank),
                     lambda c, o: scope_a(c, o) or scope_b(c, o), case)
            return
        scope = involving(host, dev)
        if p.param == "mtu":
            def scope(c: Case, o: Outcome, h: str = host) -> bool:
                return c.check == "mtu" and c.tunnel == dev and h in (c.host, c.peer)
        text = f"{dev} on {host}: {p.text}{consequence(self.lab, host, t, p)}"
        self.add(Cause(host, "params", text, f"{dev} on {host}: {p.student}", device=dev, param=p.param, rank=rank),
                 scope, case)

    def ttl(self, case: Case, t: Tunnel, p: Problem) -> None:
        host, dev = case.host, t.name
        multicast = t.effective_mode == "multicast"
        actual = p.actual if p.actual not in (None, "None") else None
        leaves = int(actual) if actual and actual.isdigit() and int(actual) > 0 else (1 if multicast else 64)
        dies: dict[str, str] = {}  # peer -> the router its packets die at
        for peer in t.endpoints:
            path = routers_between(self.lab, host, peer) if peer != host else []
            if path and leaves <= len(path):
                dies[peer] = path[leaves - 1]
        shown = ttl_words(actual, multicast).split(" (")[0]
        if dies:
            routers = ", ".join(dict.fromkeys(dies.values()))
            what = "multicast" if multicast else "its packets"
            text = (f"{dev} on {host}: ttl is {shown}, so {what} from {host} leaves with TTL {leaves} and dies at "
                    f"router {routers} (lab says {p.expected})")
            student = f"{dev} on {host}: ttl is too low: {what} from {host} dies at router {routers}"
            self.add(Cause(host, "params", text, student, device=dev, param="ttl", rank=RANK["ttl"]),
                     involving(host, dev, set(dies)), case)
        else:
            text = f"{dev} on {host}: {p.text}"
            self.add(Cause(host, "params", text, f"{dev} on {host}: {p.student}", device=dev, param="ttl",
                           rank=RANK["ttl"]), lambda c, o: False, case)

    def path_ttl(self) -> None:
        """Devices with the lab's own TTL whose packets still die on the way: the lab file's ttl is
        lower than the routers between two endpoints (a held-out lab's mistake, which params
        cannot see: the devices are as the lab says). One cause per tunnel, told from the endpoint
        that reaches the fewest peers. Any number of router hops: a packet that leaves with TTL n
        crosses n - 1 routers and dies at the n-th on its path."""
        wrong = {(c.host, c.device) for c, _ in self.causes if c.param == "ttl"}
        for t in self.lab.tunnels:
            multicast = t.effective_mode == "multicast"
            leaves = t.ttl if t.ttl else (1 if multicast else 64)  # unset: the kernel's default
            dies: dict[str, dict[str, str]] = {}  # host -> peer -> the router its packets die at
            needs = 0
            for host in t.endpoints:
                if (host, t.name) in wrong:
                    continue  # the device's own TTL differs from the lab's: self.ttl said why
                for peer in t.endpoints:
                    path = routers_between(self.lab, host, peer) if peer != host else None
                    if path and leaves <= len(path):
                        dies.setdefault(host, {})[peer] = path[leaves - 1]
                        needs = max(needs, len(path) + 1)
            if not dies:
                continue
            host = max(dies, key=lambda h: len(dies[h]))
            routers = ", ".join(dict.fromkeys(dies[host].values()))
            what = "multicast" if multicast else "its packets"
            text = (f"{t.name} on {host}: ttl {leaves} (as the lab says) is too low for the path: {what} from "
                    f"{host} leaves with TTL {leaves} and dies at router {routers}, the {_nth(leaves)} router on "
                    f"its way to {', '.join(dies[host])} (the lab's ttl must be {needs} or more)")
            student = f"{t.name} on {host}: ttl is too low: {what} from {host} dies at router {routers}"
            scopes = [involving(h, t.name, set(peers)) for h, peers in dies.items()]
            self.add(Cause(host, "params", text, student, device=t.name, param="ttl", rank=RANK["ttl"]),
                     lambda c, o, scopes=scopes: any(scope(c, o) for scope in scopes))

    def key(self, case: Case, t: Tunnel, p: Problem) -> None:
        host, dev = case.host, t.name
        others = [h for h in t.endpoints if h != host]
        theirs = []
        for peer in others:
            links, _ = host_links(self.ctx, self.seen, peer)
            data = (((links or {}).get(dev) or {}).get("linkinfo") or {}).get("info_data") or {}
            theirs.append((peer, key_number(data.get("okey") or data.get("ikey"))))
        mine = p.actual or "none"
        sends = "; ".join(f"{peer} sends key {k}" if k not in ("none", "0") else f"{peer} sends no key"
                          for peer, k in theirs)
        if mine in ("none", "0"):
            text = f"{t.type} key missing on {host}, {sends}: {host} drops their packets (lab says key {p.expected})"
            student = f"{t.type} key missing on {host}, {sends}"
        else:
            lab = f"key {p.expected}" if p.expected not in (None, "none") else "no key"
            text = f"{t.type} key {mine} on {host}, {sends}: each side drops the other's packets (lab says {lab})"
            student = f"{t.type} key {mine} on {host}, {sends}"
        self.add(Cause(host, "params", f"{dev} on {host}: {text}" if dev not in text else text,
                       student, device=dev, param="key", rank=RANK["key"]), involving(host, dev), case)

    def flood(self) -> None:
        for case, outcome in self.failed:
            for f in outcome.findings:
                if not isinstance(f, MissingFlood):
                    continue
                host, dev = case.host, case.tunnel
                text = (f"{dev} on {host} has no flood entry for {f.peer} (00:00:00:00:00:00 dst {f.dst}): "
                        f"{host}'s broadcasts (ARP) never reach {f.peer}")
                student = f"{dev} on {host} does not flood to {f.peer}: {host}'s broadcasts (ARP) never reach it"
                self.add(Cause(host, "fdb", text, student, device=dev, param="flood", rank=RANK["flood"]),
                         involving(host, dev, {f.peer}), case)

    # -- all together ----------------------------------------------------------------------------
    def run(self) -> list[Cause]:
        if not self.failed:
            return []
        self.underlay()
        self.params()
        self.path_ttl()
        self.flood()
        tenant_causes(self)
        explained: set[str] = set()
        causes = []
        for cause, scope in self.causes:
            cause.explains = [c.id for c, o in self.failed if scope(c, o)]
            if cause.explains:
                causes.append(cause)
                explained.update(cause.explains)
        leftovers: dict[tuple[str, str], list[tuple[Case, Outcome]]] = {}
        for case, outcome in self.failed:
            if case.id not in explained:
                leftovers.setdefault((case.check, case.host), []).append((case, outcome))
        for (check, host), group in leftovers.items():
            first = group[0][1]
            more = f" (and {len(group) - 1} more)" if len(group) > 1 else ""
            causes.append(Cause(host, check, f"{check} fails on {host}: {first.summary}{more}",
                                f"{check} fails on {host}: {first.student or first.summary}{more}",
                                [c.id for c, _ in group], rank=RANK["symptom"]))
        order = list(self.lab.hosts)
        causes.sort(key=lambda c: (-len(c.explains), c.rank, order.index(c.host) if c.host in order else 0))
        return causes


def _nth(n: int) -> str:
    return {1: "first", 2: "second", 3: "third"}.get(n, f"{n}th")


def diagnose(ctx: Context, result: Any, seen: Seen) -> list[Cause]:
    return Diagnosis(ctx, result.cases, result.outcomes, seen).run()
