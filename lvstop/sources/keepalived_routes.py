"""keepalived 2.2.7's reading of route and rule lines (``static_routes`` / ``virtual_routes``,
``static_rules`` / ``virtual_rules``): what it keeps and the warnings it prints, ported from
vrrp_iproute.c ``alloc_route`` and vrrp_iprule.c ``alloc_rule``. Plain functions over one
line's words; nothing is installed or executed.

Only what decides whether keepalived keeps a line, tracks it, or what it warns about is
modelled: the destination / addresses, ``dev`` / ``oif``, ``no_track``, the deprecated ``gw`` and
``or``, and a rule's preference (keepalived numbers rules without one from 16384 down, across
the whole config, IPv4 and IPv6 apart).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: route options taking one value (vrrp_iproute.c alloc_route); "lock" may come first for some
_ROUTE_ARG = _words(
    """src from tos dsfield table protocol scope metric priority preference realms window
    initcwnd initrwnd features quickack pref ttl-propagate hoplimit expires fastopen_no_cookie
    track_group vrf"""
)
_ROUTE_LOCKABLE = _words("mtu advmss rtt rttvar reordering cwnd ssthresh rto_min congctl")
_ROUTE_FLAG = _words("inet inet6 onlink add prepend append no_track")
#: rtnetlink route types (rt_names.c rtntype names), a prefix of the destination
_ROUTE_TYPES = _words(
    "unicast local broadcast anycast multicast blackhole unreachable prohibit throw nat"
)
#: rule options taking one value (vrrp_iprule.c alloc_rule)
_RULE_ARG = _words(
    """table lookup tos dsfield fwmark realms sup_pl suppress_prefixlength sup_group
    suppress_ifgroup dev iif oif tunnel-id uidrange protocol ipproto sport dport track_group
    goto"""
)
_RULE_PREFERENCE = _words("preference order priority")
RULE_START_PRIORITY = 16384


def _family(text: str) -> str:
    return "inet6" if ":" in text else "inet"


def valid_address(text: str, *, prefix: bool = True) -> bool:
    """vrrp_ipaddress.c parse_ipaddress: an IPv4 / IPv6 address, with a /prefix if allowed."""
    host, slash, _length = text.partition("/")
    if slash and not prefix:
        return False
    try:
        # keepalived's own test (inet_pton), and a C call: route blocks can be long
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True


@dataclass
class RouteReader:
    """Reads a config's route and rule lines in file order (the rule numbering is global)."""

    next_rule_priority: dict[str, int] = field(
        default_factory=lambda: {"inet": RULE_START_PRIORITY, "inet6": RULE_START_PRIORITY}
    )

    def route(self, words: list[str]) -> tuple[bool, list[str]]:
        """(kept, warnings in lvstop's words of keepalived's messages) for one route line."""
        messages: list[str] = []
        dest: str | None = None
        oif = no_track = False
        i = 0
        n = len(words)
        while i < n:
            word = words[i]
            if word in _ROUTE_FLAG:
                no_track = no_track or word == "no_track"
            elif word in ("dev", "oif"):
                i += 1
                oif = i < n
            elif word in ("via", "gw"):
                if word == "gw":
                    messages.append("'gw' in a route is deprecated: use 'via'")
                i += 1
                if i < n and words[i] in ("inet", "inet6"):
                    i += 1
                if i >= n or not valid_address(words[i], prefix=False):
                    bad = words[i] if i < n else ""
                    messages.append(f"invalid IP address '{bad}': keepalived drops the route")
                    return False, messages
            elif word == "or":
                messages.append("'or' in a route is deprecated: use 'nexthop'")
                i += 1
            elif word == "nexthop":
                # each nexthop names its own dev: the route itself has no oif
                break
            elif word == "encap":
                break  # its own sub-syntax; nothing after it changes what is modelled here
            elif word in _ROUTE_LOCKABLE:
                i += 1
                if i < n and words[i] == "lock":
                    i += 1
            elif word in _ROUTE_ARG:
                i += 1
            else:
                if word == "to":
                    i += 1
                if i < n and words[i] in _ROUTE_TYPES:
                    i += 1
                dest = words[i] if i < n else ""
                if dest not in ("default", "any", "all", "default6") and not valid_address(dest):
                    messages.append(f"invalid IP address '{dest}': keepalived drops the route")
                    return False, messages
            i += 1
        if dest is None:
            messages.append("a route must have a destination: keepalived drops it")
            return False, messages
        if not no_track and not oif:
            messages.append(f"route {dest} has no interface (dev): keepalived cannot track it")
        return True, messages

    def rule(self, words: list[str]) -> tuple[int | None, list[str]]:
        """(preference keepalived gives it, or None when it drops the line; messages)."""
        messages: list[str] = []
        family: str | None = None
        preference: int | None = None
        i = 0
        n = len(words)
        while i < n:
            word = words[i]
            if word in ("inet", "inet6"):
                family = family or word
            elif word in ("from", "to"):
                i += 1
                addr = words[i] if i < n else ""
                if addr not in ("default", "any", "all") and not valid_address(addr):
                    messages.append(
                        f"invalid IP address '{addr}' (rule {word}): keepalived drops the rule"
                    )
                    return None, messages
                if addr not in ("default", "any", "all"):
                    family = family or _family(addr)
            elif word in _RULE_PREFERENCE:
                i += 1
                if i < n and words[i].isdigit() and int(words[i]) <= 2**32 - 1:
                    preference = int(words[i])
            elif word == "type" or word in _RULE_ARG:
                i += 1
            i += 1
        if preference is None:
            fam = family or "inet"
            preference = self.next_rule_priority[fam]
            self.next_rule_priority[fam] -= 1
            messages.append(f"rule has no preference: keepalived gives it {preference}")
        return preference, messages
