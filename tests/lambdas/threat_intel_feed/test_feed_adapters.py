"""The fetcher against a server on 127.0.0.1, and the IP set writers against moto."""

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from feed_server import FeedServer
from threat_intel_feed.adapters import FeedFetcher, FetchError, check_url, ip_set_writer

from secure_endpoint.runtime.waf_ip_sets import IpSetRef

FEED = "185.220.101.4\n185.220.101.5\n"


@pytest.mark.parametrize(
    "url",
    [
        "https://www.spamhaus.org/drop/drop_v4.json",
        "https://check.torproject.org/torbulkexitlist",
        "http://127.0.0.1:8080/feed",
        "http://[::1]:8080/feed",
    ],
)
def test_allows_https_and_loopback_http(url: str) -> None:
    check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://www.spamhaus.org/drop/drop_v4.json",
        "http://localhost:8080/feed",
        "http://10.0.0.1/feed",
        "ftp://example.com/feed",
        "file:///etc/passwd",
        "https:///no-host",
        "not a url",
    ],
)
def test_refuses_any_other_url(url: str) -> None:
    with pytest.raises(FetchError, match="only https:// URLs are fetched"):
        check_url(url)


def test_fetches_a_feed_as_text_and_says_who_asks(feed_server: FeedServer) -> None:
    url = feed_server.serve("/tor", FEED)
    assert FeedFetcher().fetch(url) == FEED
    (path, headers), *_ = feed_server.requests
    assert path == "/tor"
    assert headers["User-Agent"].startswith("secure-endpoint-threat-intel/")
    assert headers["Accept-Encoding"] == "identity"


def test_undecodable_bytes_do_not_fail_the_fetch(feed_server: FeedServer) -> None:
    url = feed_server.serve("/bytes", b"185.220.101.4\n\xff\xfe\n")
    assert FeedFetcher().fetch(url) == "185.220.101.4\n\ufffd\ufffd\n"


@pytest.mark.parametrize("status", [404, 500, 503])
def test_an_error_status_is_a_fetch_error(feed_server: FeedServer, status: int) -> None:
    url = feed_server.serve("/feed", "<html>error</html>", status=status)
    with pytest.raises(FetchError, match=rf"answered HTTP {status}"):
        FeedFetcher().fetch(url)


def test_a_refused_connection_is_a_fetch_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchError, match="could not be fetched"):
        FeedFetcher().fetch(f"http://127.0.0.1:{port}/feed")


def test_a_server_that_does_not_answer_in_time_is_a_fetch_error(feed_server: FeedServer) -> None:
    url = feed_server.serve("/slow", FEED, delay=1.0)
    with pytest.raises(FetchError, match="could not be fetched"):
        FeedFetcher(timeout=0.2).fetch(url)


def test_a_body_that_trickles_past_the_deadline_is_a_fetch_error(
    feed_server: FeedServer,
) -> None:
    url = feed_server.serve("/drip", "1" * 40, drip=0.05)
    with pytest.raises(FetchError, match=r"took longer than 0\.5 s"):
        FeedFetcher(timeout=0.5).fetch(url)


def test_a_body_announced_too_large_is_refused_unread(feed_server: FeedServer) -> None:
    url = feed_server.serve("/big", "x" * 2048)
    with pytest.raises(FetchError, match="announces 2048 bytes; at most 1024"):
        FeedFetcher(max_bytes=1024).fetch(url)


def test_a_body_too_large_without_a_length_is_cut_off(feed_server: FeedServer) -> None:
    url = feed_server.serve("/big", "x" * 300_000, content_length=False)
    with pytest.raises(FetchError, match="sent more than 1024 bytes"):
        FeedFetcher(max_bytes=1024).fetch(url)


def test_a_compressed_body_is_refused(feed_server: FeedServer) -> None:
    url = feed_server.serve("/gz", b"\x1f\x8b", headers={"Content-Encoding": "gzip"})
    with pytest.raises(FetchError, match="'gzip'-encoded"):
        FeedFetcher().fetch(url)


def test_follows_a_redirect_within_the_allowed_urls(feed_server: FeedServer) -> None:
    feed_server.serve("/new", FEED)
    url = feed_server.serve("/old", "", status=301, headers={"Location": "/new"})
    assert FeedFetcher().fetch(url) == FEED


@pytest.mark.parametrize(
    ("location", "problem"),
    [
        ("file:///etc/passwd", "Redirection to url 'file:///etc/passwd' is not allowed"),
        ("ftp://127.0.0.1/feed", "redirects to another scheme"),
        ("http://example.com/feed", "only https:// URLs are fetched"),
    ],
)
def test_refuses_a_redirect_elsewhere(feed_server: FeedServer, location: str, problem: str) -> None:
    url = feed_server.serve("/old", "", status=302, headers={"Location": location})
    with pytest.raises(FetchError, match=problem):
        FeedFetcher().fetch(url)


def test_stops_after_three_redirects(feed_server: FeedServer) -> None:
    for hop in range(1, 6):
        feed_server.serve(f"/{hop}", "", status=302, headers={"Location": f"/{hop + 1}"})
    with pytest.raises(FetchError, match="HTTP 302"):
        FeedFetcher().fetch(feed_server.url("/1"))
    assert [path for path, _ in feed_server.requests] == ["/1", "/2", "/3", "/4"]


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate no trust store holds."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(FEED.encode())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/feed"
    server.shutdown()
    server.server_close()


def test_refuses_a_certificate_it_cannot_verify(https_server: str) -> None:
    with pytest.raises(FetchError, match="CERTIFICATE_VERIFY_FAILED"):
        FeedFetcher(timeout=5).fetch(https_server)


def test_writes_ip_sets_through_the_shared_writer(wafv2: Any) -> None:
    summary = wafv2.create_ip_set(
        Name="tor-v4", Scope="REGIONAL", IPAddressVersion="IPV4", Addresses=[]
    )["Summary"]
    writer = ip_set_writer(wafv2, summary["ARN"], protected_cidrs=["185.220.101.0/24"])
    assert writer.ref == IpSetRef("tor-v4", summary["Id"], "REGIONAL")
    change = writer.replace(["171.25.193.77/32", "185.220.101.4/32"])
    assert change.added == {"171.25.193.77/32"}
    assert change.refused == {"185.220.101.4/32"}
    assert writer.addresses() == {"171.25.193.77/32"}
