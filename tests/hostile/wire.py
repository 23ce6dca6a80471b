"""Talking to the server like a device or a client does: raw sockets, nothing else."""

from __future__ import annotations

import socket
import time


def send_stream(port: int, chunks: tuple[bytes, ...], linger_s: float = 0.3) -> tuple[int, bytes]:
    """Connect, send each chunk (a short pause between), read what comes back, close.

    Returns the local port (ingest errors name it as the remote) and the bytes the server answered.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        local = sock.getsockname()[1]
        answer = b""
        for chunk in chunks:
            if chunk:
                sock.sendall(chunk)
            answer += _read_for(sock, linger_s)
        return local, answer


def send_datagram(port: int, data: bytes, wait_s: float = 0.5) -> tuple[int, bytes]:
    """One UDP datagram; the answer if one comes within ``wait_s``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(wait_s)
        sock.sendto(data, ("127.0.0.1", port))
        try:
            answer = sock.recv(65536)
        except TimeoutError:
            answer = b""
        return sock.getsockname()[1], answer


def _read_for(sock: socket.socket, seconds: float) -> bytes:
    data = b""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break
        data += chunk
    return data


def http(port: int, raw: bytes, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP exchange: status, headers (lower-case names) and body; (0, {}, b"") if none came."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            data += chunk
            head, separator, body = data.partition(b"\r\n\r\n")
            length = _content_length(head) if separator else None
            if length is not None and len(body) >= length:
                break
    return parse_response(data)


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value.strip())
    return None


def parse_response(data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the first response in ``data``."""
    if not data.startswith(b"HTTP/"):
        return 0, {}, data
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = headers.get("content-length")
    if length is not None and length.isdigit():
        body = body[: int(length)]
    return status, headers, body
