"""The two boundaries of the feed function: HTTPS to the feed providers, and WAF IP sets.

Fetching is deliberately narrow: HTTPS with certificate checks and TLS 1.2 or later (plain HTTP
only to a loopback address, for tests), no proxies from the environment, redirects only to HTTPS,
a deadline for the whole download and a cap on the body. Every failure is a ``FetchError`` that
names the URL and what went wrong. IP sets are written by the shared
``secure_endpoint.runtime.waf_ip_sets.IpSetWriter`` (GetIPSet, then UpdateIPSet with its
``LockToken``, retried with backoff on ``WAFOptimisticLockException`` and throttling).
"""

from __future__ import annotations

import http.client
import ipaddress
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from typing import IO, Any

from secure_endpoint.runtime.waf_ip_sets import IpSetRef, IpSetWriter

DEFAULT_TIMEOUT = 20.0
"""Seconds a whole download may take."""

DEFAULT_MAX_BYTES = 4 * 1024 * 1024
"""The largest feed body read: Spamhaus DROP is about 100 KB, the Tor exit list about 20 KB."""

MAX_REDIRECTS = 3
USER_AGENT = "secure-endpoint-threat-intel/0.1"
_CHUNK = 64 * 1024


class FetchError(Exception):
    """A feed could not be downloaded; the message names the URL and the reason."""


def check_url(url: str) -> None:
    """Refuse anything but an ``https://`` URL, or ``http://`` to a literal loopback address."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return
    raise FetchError(f"{url!r}: only https:// URLs are fetched (http:// only to 127.0.0.1 or ::1)")


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: what it resolves to is not ours to trust


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    max_redirections = MAX_REDIRECTS

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        target = urllib.parse.urljoin(req.full_url, newurl)
        if urllib.parse.urlsplit(target).scheme != urllib.parse.urlsplit(req.full_url).scheme:
            raise FetchError(f"{req.full_url!r} redirects to another scheme: {target!r}")
        check_url(target)
        return super().redirect_request(req, fp, code, msg, headers, target)


def _opener() -> urllib.request.OpenerDirector:
    """Only what a feed download needs: no file://, ftp:// or data: handlers, no proxies."""
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.HTTPSHandler(context=context),
        urllib.request.HTTPHandler(),
        _HttpsOnlyRedirects(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


class FeedFetcher:
    """Downloads feeds as text.

    :param timeout: seconds the whole download may take (each network read also times out
        after this long, so a stalled server is given up at the latest after twice as long).
    :param max_bytes: a longer body is refused.
    :param clock: monotonic seconds, for the deadline.
    """

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._clock = clock
        self._opener = _opener()

    def fetch(self, url: str) -> str:
        """The body at ``url``, decoded as UTF-8 (undecodable bytes become U+FFFD).

        :raises FetchError: the URL is not allowed, the server is unreachable or answers with
            an error status, the download is too slow or the body too large.
        """
        check_url(url)
        request = urllib.request.Request(  # noqa: S310 - check_url allows https (and loopback http) only
            url, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        )
        deadline = self._clock() + self._timeout
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                return self._read(url, response, deadline).decode("utf-8", errors="replace")
        except urllib.error.HTTPError as error:
            error.close()
            raise FetchError(f"{url!r} answered HTTP {error.code} {error.reason}") from None
        except urllib.error.URLError as error:
            raise FetchError(f"{url!r} could not be fetched: {error.reason}") from None
        except (http.client.HTTPException, OSError) as error:
            raise FetchError(f"{url!r} could not be fetched: {error!r}") from None

    def _read(self, url: str, response: Any, deadline: float) -> bytes:
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise FetchError(f"{url!r} sent a {encoding!r}-encoded body; identity was asked for")
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise FetchError(
                f"{url!r} announces {int(declared)} bytes; at most {self._max_bytes} are read"
            )
        body = bytearray()
        while chunk := response.read1(_CHUNK):
            body += chunk
            if len(body) > self._max_bytes:
                raise FetchError(f"{url!r} sent more than {self._max_bytes} bytes")
            if self._clock() > deadline:
                raise FetchError(f"{url!r} took longer than {self._timeout:g} s to download")
        return bytes(body)


def ip_set_writer(client: Any, arn: str, protected_cidrs: Iterable[str] = ()) -> IpSetWriter:
    """A writer for the IP set ``arn``; addresses in ``protected_cidrs`` are never written."""
    return IpSetWriter(client, IpSetRef.from_arn(arn), protected_networks=tuple(protected_cidrs))
