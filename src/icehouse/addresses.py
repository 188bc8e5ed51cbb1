"""Whether a host name is this machine, for the settings that are safe only there: an
anonymous server, and a Spark Connect server reaching a catalog served on 127.0.0.1."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine, judged from the name alone (never resolved, so a
    name that happens to resolve to 127.0.0.1 elsewhere is not trusted)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
