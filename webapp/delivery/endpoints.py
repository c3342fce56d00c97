"""Which push endpoints Wardline will ever contact.

A push subscription's endpoint is a URL the browser gives us and the worker POSTs to. Taken
on trust it is a server-side request forgery: ``https://127.0.0.1:5432/``,
``https://169.254.169.254/``, ``https://2130706433/`` or ``https://user:pw@10.0.0.1/`` would
make the worker open connections inside our network, and its answer (a 404 removes the
device) would tell the sender what is there. So an endpoint is accepted only when it is an
``https`` URL on port 443 (``PUSH_ENDPOINT_PORTS``) whose host is a DNS name under one of the
push services' domains (``PUSH_ENDPOINT_HOSTS``), with no credentials and no IP literal in
any spelling. :func:`endpoint_problem` is checked when a subscription is saved and again by
the worker before every send (the allow-list may have shrunk since).

Tests reach a loopback push service only through ``PUSH_ALLOW_LOOPBACK_FOR_TESTS``, which
is off unless set.
"""
from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from urllib.parse import SplitResult

MAX_LENGTH = 1000  # push service URLs are long, but not this long

# The domains of the push services of the browsers people use (November 2026):
#   Chrome, Opera, Samsung Internet (Firebase Cloud Messaging): fcm.googleapis.com
#   (older subscriptions: android.googleapis.com);
#   Firefox (Mozilla autopush): updates.push.services.mozilla.com;
#   Safari on macOS and iOS (Apple web push): web.push.apple.com;
#   Edge (Windows Push Notification Services): <region>.notify.windows.com.
# They are the default of PUSH_ENDPOINT_HOSTS (webapp/config.py).

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_CONTROL = re.compile(r"[\x00-\x20\x7f\\]")
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
# urlsplit()'s scheme (a letter, then letters, digits, "+", "-", "." before the first ":")
# and netloc (after "//", up to the first "/", "?" or "#"); either may be missing.
_SPLIT = re.compile(r"(?:([A-Za-z][A-Za-z0-9+.-]*):)?(?://([^/?#]*))?")


def _as_list(value) -> list[str]:
    """A setting given as a list or as a comma-separated string."""
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    return [str(item).strip().lower().strip(".") for item in value if str(item).strip()]


def _is_ip_form(host: str) -> bool:
    """True for an IP address in any spelling a URL parser or resolver may accept:
    dotted, decimal (2130706433), hex (0x7f.1), octal (0177.0.0.1), short (127.1), IPv6."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    # WHATWG URL: a host whose last label is a number is parsed as IPv4; inet_aton also
    # accepts hex and octal parts. A real DNS name never ends in a numeric label.
    last = host.rsplit(".", 1)[-1]
    return bool(re.fullmatch(r"(0x[0-9a-f]*|[0-9]+)", last))


def endpoint_problem(endpoint, config) -> str | None:
    """Return why ``endpoint`` may not be contacted, or None when it may.

    ``config`` is the app's config (``PUSH_ENDPOINT_HOSTS``, ``PUSH_ENDPOINT_PORTS``,
    ``PUSH_ALLOW_LOOPBACK_FOR_TESTS``). The reasons are short and say nothing about what
    the host is: they are shown to whoever sent the endpoint and kept on dead deliveries.
    """
    if not isinstance(endpoint, str) or not endpoint:
        return "endpoint must be a URL"
    if len(endpoint) > MAX_LENGTH:
        return f"endpoint must be at most {MAX_LENGTH} characters"
    if _CONTROL.search(endpoint):
        return "endpoint must not contain spaces, control characters or backslashes"
    # The scheme and the host part, as urlsplit() finds them (a fifth of its cost: the
    # worker checks every endpoint again before each send); what follows depends on them
    # alone: decided once per push service (and setting) and remembered.
    scheme, netloc = _SPLIT.match(endpoint).groups(default="")
    if ("[" in netloc) != ("]" in netloc):
        return "endpoint is not a valid URL"  # as urlsplit: "Invalid IPv6 URL"
    return _where_problem(scheme.lower(), netloc, _key(config["PUSH_ENDPOINT_HOSTS"]),
                          _key(config["PUSH_ENDPOINT_PORTS"]),
                          bool(config["PUSH_ALLOW_LOOPBACK_FOR_TESTS"]))


def _key(setting):
    """A setting (a string or a list) as a key of :func:`_where_problem`'s cache."""
    return setting if isinstance(setting, str) or setting is None else tuple(setting)


@lru_cache(maxsize=4096)
def _where_problem(scheme: str, netloc: str, hosts, ports, loopback: bool) -> str | None:
    parts = SplitResult(scheme, netloc, "", "", "")
    try:
        port = parts.port
    except ValueError:
        return "endpoint is not a valid URL"
    host = (parts.hostname or "").lower()
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "endpoint must not contain a user name or password"
    if loopback and host in _LOOPBACK_NAMES and parts.scheme in ("http", "https"):
        return None  # the loopback push service of the test suite and benchmarks
    if parts.scheme != "https":
        return "endpoint must be an https:// URL"
    if not host or _is_ip_form(host) or parts.netloc.startswith("["):
        return "endpoint must name a push service, not an IP address"
    labels = host.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return "endpoint host is not a valid domain name"
    ports = [int(p) for p in _as_list(ports)]
    if (443 if port is None else port) not in ports:
        return "endpoint uses a port push services do not use"
    hosts = _as_list(hosts)
    if not any(host == allowed or host.endswith("." + allowed) for allowed in hosts):
        return "endpoint is not a known push service"
    return None
