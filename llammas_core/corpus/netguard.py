"""The crawler's address guard: which IP addresses it may connect to, and a resolver that checks
every address a host name resolves to. Private, loopback, link-local and other non-public
addresses are refused (also when embedded in an IPv6 form), so a seed list or a crawled link
cannot make the crawler probe the network it runs in (SSRF).
"""

from __future__ import annotations

import ipaddress
import socket


class BlockedAddress(Exception):
    """The host resolves to an address the crawler must not connect to."""


_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


def embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address leads to, for the forms that carry one: IPv4-mapped
    (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d, deprecated), 6to4 (2002:AABB:CCDD::/48),
    Teredo (2001:0::/32, client address obfuscated) and NAT64 (64:ff9b::/96, RFC 6052; and the
    local-use 64:ff9b:1::/48 of RFC 8215, last 32 bits as the /96 form)."""
    if addr.ipv4_mapped:
        return addr.ipv4_mapped
    if addr.sixtofour:
        return addr.sixtofour
    if addr.teredo:
        return addr.teredo[1]
    packed = int(addr)
    if packed >> 32 == 0 and packed > 1:  # ::a.b.c.d (not :: or ::1)
        return ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    if any(addr in net for net in _NAT64):
        return ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    return None


def is_blocked_ip(ip: str, allow_loopback: bool = False) -> bool:
    """True if connecting to `ip` could reach something that is not the public internet.

    IPv6 forms that embed an IPv4 address are judged by that address as well: a relay or
    translator would deliver 2002:7f00:1::1 (6to4 of 127.0.0.1) to the blocked host."""
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address):
        inner = embedded_ipv4(addr)
        if addr.ipv4_mapped:
            addr = addr.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
        elif inner is not None:
            if is_blocked_ip(str(inner), allow_loopback=False):
                return True  # loopback reached through a tunnel or translator is never "our" loopback
            if any(addr in net for net in _NAT64):
                return False  # DNS64 networks reach every public IPv4 site this way
    if addr.is_loopback:
        return not allow_loopback
    # `not is_global` also catches ranges the flags below miss (100.64/10 carrier NAT, 192.0.0/24, ...)
    return (
        addr.is_private
        or addr.is_link_local
        or addr.is_multicast
        or addr.is_reserved
        or addr.is_unspecified
        or not addr.is_global
    )


def resolve_public(host: str, allow_loopback: bool = False) -> str:
    """Resolve `host` and return one address to connect to; raise BlockedAddress if any is blocked.

    Every resolved address is checked, not only the one we use: a name that mixes public and
    private answers is refused outright. The caller then connects to this checked IP itself
    (see the pinned connections in http_fetch), so a second DNS lookup cannot swap in a private
    address (DNS rebinding).
    """
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    ips = [info[4][0] for info in infos]
    if not ips:
        raise socket.gaierror(f"no address for {host}")
    for ip in ips:
        if is_blocked_ip(ip, allow_loopback):
            raise BlockedAddress(f"{host} resolves to non-public address {ip}")
    return ips[0]
