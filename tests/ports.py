"""A free TCP port on 127.0.0.1 for a server a test starts (S3, Spark master, Airflow's API)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port the OS just handed out and released: free now, very likely still free at bind time."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
