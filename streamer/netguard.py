"""The SSRF policy: fetched sources and webhook targets must be public addresses.

Every request the service makes to a URL that someone else chose (the broadcast URL, the
playlists and segments it lists, every redirect hop, webhook targets) goes through
:class:`Policy`: the host is resolved, and the request is refused unless *every* address it
resolves to is public, or the settings opt in (``STREAMER_ALLOW_PRIVATE_SOURCES`` for all,
``STREAMER_SOURCE_ALLOWLIST`` for named hosts and CIDRs). The httpx transport then connects
to the address that was checked (the URL is pinned to it, with the original ``Host`` and
TLS server name), so a second DNS answer cannot swap in another address.

Usage::

    policy = Policy.from_settings(settings)
    client = httpx.AsyncClient(transport=policy.transport(), follow_redirects=True)
    policy.check_url(url)  # sync check, e.g. before handing a URL to yt-dlp
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from streamer.errors import BlockedSource

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolve = Callable[[str, int], list[str]]


BlockedAddress = BlockedSource


def _getaddrinfo(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise BlockedAddress(f"cannot resolve {host!r}: {exc}") from None
    return [str(info[4][0]) for info in infos]


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def is_public(addr: Address) -> bool:
    """Globally routable unicast: not loopback, private, link-local (169.254.169.254, the
    cloud metadata address), CGNAT, multicast, reserved or unspecified."""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return is_public(addr.ipv4_mapped)
    return addr.is_global and not addr.is_multicast


def _parse_allow(items: Iterable[str]) -> tuple[frozenset[str], tuple[Network, ...]]:
    hosts: set[str] = set()
    nets: list[Network] = []
    for raw in items:
        item = raw.strip().lower()
        if not item:
            continue
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            hosts.add(item.rstrip("."))
    return frozenset(hosts), tuple(nets)


@dataclass(frozen=True)
class Policy:
    """Which hosts and addresses outgoing requests may reach."""

    allow_private: bool = False
    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()
    resolve: Resolve = field(default=_getaddrinfo, compare=False)

    @classmethod
    def from_settings(cls, settings: Any) -> Policy:
        """From ``Settings.allow_private_sources`` and ``Settings.source_allowlist``."""
        hosts, nets = _parse_allow(getattr(settings, "source_allowlist", []) or [])
        return cls(bool(getattr(settings, "allow_private_sources", False)), hosts, nets)

    def _allowed(self, host: str, addr: Address) -> bool:
        if self.allow_private or is_public(addr) or host in self.hosts:
            return True
        return any(addr in net for net in self.networks)

    def check(self, host: str, port: int) -> str:
        """The address to connect to for ``host``; BlockedAddress when any is refused."""
        host = host.strip("[]").lower().rstrip(".")
        if not host:
            raise BlockedAddress("a URL without a host")
        try:
            literal: Address | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        answers = [host] if literal is not None else self.resolve(host, port)
        if not answers:
            raise BlockedAddress(f"{host!r} resolves to no address")
        for answer in answers:
            addr = ipaddress.ip_address(answer.split("%", 1)[0])
            if not self._allowed(host, addr):
                raise BlockedAddress(
                    f"{host!r} resolves to {addr}, which is not a public address; "
                    "set STREAMER_ALLOW_PRIVATE_SOURCES=true or add it to "
                    "STREAMER_SOURCE_ALLOWLIST to allow it"
                )
        first = sorted(answers, key=lambda a: ":" in a)[0]  # IPv4 first, like most clients
        return first.split("%", 1)[0]

    def check_url(self, url: str) -> str:
        """Check an http(s) URL's host (sync); returns the address to use."""
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https"):
            raise BlockedAddress(f"only http(s) URLs may be fetched, not {parts.scheme or '?'}:")
        try:
            port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        except ValueError:
            raise BlockedAddress("a URL with an invalid port") from None
        return self.check(parts.hostname or "", port)

    def transport(self, **kwargs: Any) -> GuardedTransport:
        """An httpx async transport that checks (and pins) every request, redirects included."""
        return GuardedTransport(self, httpx.AsyncHTTPTransport(**kwargs))


class GuardedTransport(httpx.AsyncBaseTransport):
    """Checks each request's host against the policy, then connects to the checked address.

    httpx sends every redirect hop through the transport, so each hop is checked too.
    """

    def __init__(self, policy: Policy, inner: httpx.AsyncBaseTransport) -> None:
        self.policy = policy
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import anyio.to_thread

        url = request.url
        host = url.host
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            if _is_literal(host):  # no DNS to wait for
                addr = self.policy.check(host, port)
            else:
                addr = await anyio.to_thread.run_sync(self.policy.check, host, port)
        except BlockedAddress as exc:
            # a ConnectError, so callers treat it like any unreachable source
            raise httpx.ConnectError(str(exc), request=request) from exc
        if addr == host.strip("[]"):
            return await self.inner.handle_async_request(request)
        # a copy: the client joins redirects against (and reports) the original URL
        pinned = httpx.Request(
            request.method,
            url.copy_with(host=addr),
            headers=request.headers,
            stream=request.stream,
            extensions={**request.extensions, "sni_hostname": host},
        )
        return await self.inner.handle_async_request(pinned)

    async def aclose(self) -> None:
        await self.inner.aclose()


def policy_for(settings: Any | None) -> Policy:
    """The policy from ``settings``; without them, from the environment's explicit opt-in
    (``STREAMER_ALLOW_PRIVATE_SOURCES``, ``STREAMER_SOURCE_ALLOWLIST``): strict by default."""
    if settings is None:
        from streamer.config import Settings  # the edge, for callers that pass no settings

        settings = Settings()
    return Policy.from_settings(settings)


def guarded_ydl(base: type[Any], settings: Any, url: str) -> type[Any]:
    """A ``yt_dlp.YoutubeDL`` subclass under the policy; checks ``url`` right away.

    Every request yt-dlp makes goes through ``urlopen``: its URL is checked before sending,
    and the final URL after yt-dlp's own redirects is checked before the answer is used.
    """
    policy = settings if isinstance(settings, Policy) else Policy.from_settings(settings)
    policy.check_url(url)

    class GuardedYoutubeDL(base):  # type: ignore[misc,valid-type]
        def urlopen(self, req: Any) -> Any:
            target = getattr(req, "url", None) or getattr(req, "full_url", None) or str(req)
            policy.check_url(str(target))
            response = super().urlopen(req)
            final = getattr(response, "url", None)
            if final and final != target:
                try:
                    policy.check_url(str(final))
                except BlockedSource:
                    response.close()
                    raise
            return response

    return GuardedYoutubeDL
