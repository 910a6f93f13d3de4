"""Sending a webhook: one POST, at most 10 s in all, only to public addresses.

Whoever can add an endpoint chooses where Doorstep connects, so the destination is checked
where it matters: at connect time, on the addresses the name resolves to then (not the name,
not an earlier look-up), and the connection is made to the very address that was checked, so
a DNS answer that changes between the check and the connect (DNS rebinding) cannot slip a
private address in. httpcore lets the pool take a network backend: ours resolves, checks and
connects, while httpcore keeps the URL's name for the Host header and for TLS (SNI and the
certificate check). Loopback, private, link-local, unique-local, multicast, reserved and
unspecified addresses (IPv4 and IPv6, IPv4-mapped and 6to4/NAT64-embedded ones included) are
refused unless ``DOORSTEP_WEBHOOKS_ALLOW_PRIVATE`` is on. Redirects are not followed, and
proxies from the environment are not used (they would connect on our behalf, unchecked).

One client per process keeps connections alive between deliveries to the same host."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpcore
import httpx

from doorstep.config import get_settings

TIMEOUT_S = 10.0
EXCERPT_BYTES = 1024

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class DestinationRefused(Exception):
    """The URL leads to an address webhooks may not reach (see the module's docstring)."""


def why_refused(ip: IPAddress) -> str | None:
    """What kind of non-public address ``ip`` is ("a loopback address"), or None."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return why_refused(embedded)
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv6Address) and ip in _UNIQUE_LOCAL:
        return "a unique-local address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "a non-public address"
    return None


def literal_address(host: str) -> IPAddress | None:
    """The address a URL's host names by itself, or None for a name. Counts the old
    shorthand IPv4 forms (``2130706433``, ``0x7f.1``) that resolvers still accept."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def private_allowed() -> bool:
    return get_settings().webhooks_allow_private


# -- connecting ---------------------------------------------------------------------------

# The end of the current request's 10 s: every connect, read and write is cut to what is
# left of it (httpx's own timeouts are per operation, so a server trickling a byte every
# few seconds would otherwise hold a worker thread for ever).
_deadline: ContextVar[float | None] = ContextVar("webhook_deadline", default=None)


def _left(timeout: float | None, exc: type[Exception]) -> float | None:
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise exc("timed out")
    return left if timeout is None else min(timeout, left)


class _Clipped(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _left(timeout, httpcore.ConnectTimeout)
        return _Clipped(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _CheckedBackend(httpcore.SyncBackend):
    """Resolves the host, refuses non-public addresses, connects to a checked one."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _left(timeout, httpcore.ConnectTimeout)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            raise httpcore.ConnectError(f"Could not resolve {host}: {e.strerror}.") from e
        allow = private_allowed()
        refused: list[tuple[IPAddress, str]] = []
        last: Exception | None = None
        seen: set[str] = set()
        for *_, sockaddr in infos:
            addr = str(sockaddr[0])
            if addr in seen:
                continue
            seen.add(addr)
            ip = ipaddress.ip_address(addr.split("%")[0])
            why = None if allow else why_refused(ip)
            if why:
                refused.append((ip, why))
                continue
            try:
                # The checked address itself: no second look-up that could answer otherwise.
                stream = super().connect_tcp(
                    addr,
                    port,
                    _left(timeout, httpcore.ConnectTimeout),
                    local_address,
                    socket_options,
                )
            except httpcore.ConnectError as e:
                last = e
                continue
            return _Clipped(stream)
        if last is None and refused:
            if len(refused) == 1 and literal_address(host) is not None:
                what = f"{host} is {refused[0][1]}"
            else:
                what = f"{host} resolves to " + ", ".join(f"{ip} ({why})" for ip, why in refused)
            raise DestinationRefused(
                f"Refused: {what}; webhooks go only to public addresses "
                "(DOORSTEP_WEBHOOKS_ALLOW_PRIVATE=true allows others)."
            )
        raise httpcore.ConnectError(f"Could not connect to {host}:{port}: {last}.")


class _CheckedTransport(httpx.HTTPTransport):
    def __init__(self, limits: httpx.Limits) -> None:
        super().__init__(trust_env=False, limits=limits)
        # httpx builds its pool without a way to pass a network backend; the same pool,
        # with ours (the rest of HTTPTransport, mapping requests and errors, is kept).
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_CheckedBackend(),
        )


_client: httpx.Client | None = None
_client_lock = threading.Lock()


def client() -> httpx.Client:
    """The process's client (thread-safe; its pool keeps connections alive per host)."""
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                limits = httpx.Limits(
                    max_connections=None, max_keepalive_connections=64, keepalive_expiry=30
                )
                _client = httpx.Client(
                    transport=_CheckedTransport(limits),
                    timeout=httpx.Timeout(TIMEOUT_S),
                    follow_redirects=False,
                    trust_env=False,
                    # One client sends for every account: a cookie one receiver sets must
                    # not ride along to the next.
                    cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
                )
    return _client


def reset_client() -> None:
    """Close the kept-alive connections (tests that change what may be reached)."""
    global _client
    with _client_lock:
        if _client is not None:
            _client.close()
        _client = None


# -- one POST -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """What one POST came to: a status code and the start of the body, or why there is none."""

    status_code: int | None
    error: str | None
    duration_ms: float
    excerpt: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def reason(self) -> str:
        """Why it did not succeed, in one line (for a retry's reason and the timeline)."""
        if self.error:
            return self.error
        return f"The endpoint answered {self.status_code}." + (
            f" {self.excerpt.strip()[:200]}" if self.excerpt and self.excerpt.strip() else ""
        )


@contextmanager
def _within(seconds: float) -> Iterator[None]:
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float | None = None) -> Sent:
    timeout = timeout or TIMEOUT_S
    started = time.perf_counter()
    status: int | None = None
    error: str | None = None
    excerpt: bytes = b""
    try:
        with (
            _within(timeout),
            client().stream(
                "POST",
                url,
                content=body,
                # The excerpt is read raw: no compressed body to inflate.
                headers={**headers, "accept-encoding": "identity"},
            ) as r,
        ):
            status = r.status_code
            buf = bytearray()
            for chunk in r.iter_raw():
                buf += chunk
                if len(buf) > EXCERPT_BYTES:
                    break  # the rest is not read; the connection is closed, not reused
            excerpt = bytes(buf[:EXCERPT_BYTES])
    except DestinationRefused as e:
        error = str(e)
    except httpx.TimeoutException:
        error = f"No complete response within {timeout:g} s."
    except httpx.HTTPError as e:
        error = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    except (httpx.InvalidURL, ValueError) as e:
        error = f"Not a URL Doorstep can send to: {e}"
    if status is not None and error:
        # The status line came but the body did not finish: the answer still counts.
        error = None
    return Sent(
        status_code=status,
        error=error,
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
        excerpt=excerpt.decode("utf-8", "replace") if excerpt else None,
    )
