"""Connect to a configured update server: the one place that picks a transport implementation.

Kept apart from releng.server.transport (the model every implementation builds on), so that no module imports one
that imports it back: transport <- local, sftp, s3, pool <- connect.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from releng.server import pool
from releng.server.local import LocalTransport
from releng.server.transport import Transport


def open_server(spec: Mapping[str, Any], *, create: bool = True) -> Transport:
    """Connect to one configured server (a checked `servers[]` entry of update_server_config.json).

    A local root is created unless `create` is false (a dry run changes nothing: TransportError when it is missing).
    Inside releng.server.pool.reusing(), the connection already open to the same server is handed back instead.
    """
    return pool.opened(spec, lambda: _connect(spec, create))


def _connect(spec: Mapping[str, Any], create: bool) -> Transport:
    if spec["transport"] == "local":
        root = Path(spec["root"]).expanduser()
        if create:
            root.mkdir(parents=True, exist_ok=True)
        return LocalTransport(spec["name"], root, spec.get("base_url"))
    if spec["transport"] == "s3":
        from releng.server.s3 import S3Transport

        return S3Transport(spec["name"], bucket=spec["bucket"], prefix=spec.get("prefix") or "",
                           endpoint_url=spec.get("endpoint_url"), region=spec.get("region"),
                           base_url=spec["base_url"], timeout=float(spec.get("timeout", 20)))
    from releng.server.sftp import SftpTransport

    return SftpTransport(spec["name"], host=spec["host"], port=int(spec.get("port", 22)), user=spec["user"],
                         root=spec["root"], known_hosts=spec["known_hosts"], key_file=spec.get("key_file"),
                         base_url=spec["base_url"], timeout=float(spec.get("timeout", 20)))
