"""Network probes of what users see: TLS certificates of public hostnames, Gatus's verdicts."""

from __future__ import annotations

import socket
import ssl
from datetime import UTC, datetime
from typing import Any

from automation.health.checks import CertificateInfo, GatusEndpoint


def split_host_port(target: str, default_port: int = 443) -> tuple[str, int]:
    """`host`, `host:port` or `[v6]:port`."""
    if target.startswith("["):
        host, _, rest = target[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    host, sep, port = target.rpartition(":")
    if sep and port.isdigit() and host:
        return host, int(port)
    return target, default_port


def fetch_certificate(
    hostname: str,
    port: int = 443,
    *,
    timeout: float = 5.0,
    cafile: str | None = None,
) -> CertificateInfo:
    """The certificate the server presents for `hostname` (SNI), read even if untrusted.

    The expiry is read without verification (an expired or self-signed certificate must still be
    reported), then a second, verifying handshake says whether clients would trust it.
    """
    from cryptography import x509

    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    der = _peer_certificate(unverified, hostname, port, timeout)
    if not der:
        raise ssl.SSLError(f"{hostname}:{port} presented no certificate")
    cert = x509.load_der_x509_certificate(der)
    trusted, trust_error = _verify(hostname, port, timeout, cafile)
    return CertificateInfo(
        hostname=hostname,
        not_after=cert.not_valid_after_utc,
        issuer=cert.issuer.rfc4514_string(),
        trusted=trusted,
        trust_error=trust_error,
    )


def _address(hostname: str) -> str:
    """Where to connect for `hostname`: names under `.localhost` are loopback by RFC 6761
    (section 6.3), as browsers resolve them, though glibc's resolver does not (the local
    environment's routes are `*.local.localhost`); any other name as DNS says."""
    if hostname == "localhost" or hostname.endswith(".localhost"):
        return "127.0.0.1"
    return hostname


def _peer_certificate(
    context: ssl.SSLContext, hostname: str, port: int, timeout: float
) -> bytes | None:
    with (
        socket.create_connection((_address(hostname), port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=hostname) as tls,
    ):
        return tls.getpeercert(binary_form=True)


def _verify(hostname: str, port: int, timeout: float, cafile: str | None) -> tuple[bool, str]:
    context = ssl.create_default_context(cafile=cafile)
    try:
        with (
            socket.create_connection((_address(hostname), port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=hostname),
        ):
            return True, ""
    except ssl.SSLCertVerificationError as exc:
        return False, exc.verify_message or str(exc)


def gatus_endpoints(base_url: str, *, timeout: float = 5.0) -> list[GatusEndpoint]:
    """Each endpoint's newest result, read with the Gatus client (automation/gatus.py)."""
    from automation.gatus import endpoint_list

    return [
        _gatus_endpoint(item) for item in endpoint_list(base_url, all_results=True, timeout=timeout)
    ]


def _gatus_endpoint(item: dict[str, Any]) -> GatusEndpoint:
    key = item.get("key") or f"{item.get('group', '')}_{item.get('name', '')}"
    results = item.get("results") or []
    if not results:
        return GatusEndpoint(key, None)
    newest = max(results, key=lambda r: str(r.get("timestamp", "")))
    failed = [c["condition"] for c in newest.get("conditionResults") or [] if not c.get("success")]
    detail = "; ".join(failed) or "; ".join(newest.get("errors") or [])
    return GatusEndpoint(key, bool(newest.get("success")), detail)


def loki_error_lines(base_url: str, service_label: str, *, timeout: float = 10.0) -> int:
    """Error lines of one service over 24 h, counted by Loki (LogQL instant query)."""
    import requests

    from automation.health.checks import ERROR_LINE

    label = service_label.replace("\\", "\\\\").replace('"', '\\"')
    pattern = "(?i)" + ERROR_LINE.pattern.replace("\\", "\\\\")
    query = f'sum(count_over_time({{service_name="{label}"}} |~ "{pattern}" [24h]))'
    response = requests.get(
        f"{base_url.rstrip('/')}/loki/api/v1/query", params={"query": query}, timeout=timeout
    )
    response.raise_for_status()
    result = response.json()["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def now_utc() -> datetime:
    return datetime.now(UTC)
