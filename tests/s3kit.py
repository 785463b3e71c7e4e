"""An S3-compatible object store for the tests: moto's standalone server (moto[server]) on 127.0.0.1.

Why moto: of what the package registries offer, it is the one S3 server that installs from PyPI alone (MinIO and
Garage ship as binaries outside them), and its 5.x server honours conditional writes (If-None-Match: * and If-Match
on PutObject and CompleteMultipartUpload) and multipart uploads. It does not verify x-amz-checksum-sha256 bodies
(a real store does), so tests never rely on that check. Objects are served at path-style URLs
(http://127.0.0.1:<port>/<bucket>/<key>) with a public-read bucket policy: check-update reads them over HTTP.
"""

from __future__ import annotations

import itertools
import json
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

KEY_ID, SECRET = "testing-key-id", "testing-secret"  # moto accepts any; fixed so that nothing depends on chance
_count = itertools.count()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Bucket:
    endpoint: str
    name: str
    client: Any

    @property
    def base_url(self) -> str:
        return f"{self.endpoint}/{self.name}"

    def spec(self, name: str = "bucket", **over: Any) -> dict[str, Any]:
        """A `servers[]` entry for this bucket (credentials come from the environment, as boto3 finds them)."""
        spec = {"name": name, "transport": "s3", "bucket": self.name, "endpoint_url": self.endpoint,
                "region": "us-east-1", "base_url": self.base_url}
        spec.update(over)
        return spec

    def keys(self) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name)
        return sorted(o["Key"] for page in pages for o in page.get("Contents") or [])

    def get(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.name, Key=key)["Body"].read())


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    """The endpoint URL of a session-wide moto server on 127.0.0.1."""
    server_mod = pytest.importorskip("moto.server")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(moto_s3: str, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A fresh public-read bucket, with boto3's environment credentials set for the test."""
    import boto3

    for var, value in (("AWS_ACCESS_KEY_ID", KEY_ID), ("AWS_SECRET_ACCESS_KEY", SECRET),
                       ("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_EC2_METADATA_DISABLED", "true")):
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1")
    name = f"updates-{next(_count)}"
    client.create_bucket(Bucket=name)
    client.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{name}/*"}]}))
    return Bucket(moto_s3, name, client)
