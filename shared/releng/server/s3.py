"""The `s3` transport: a bucket (AWS S3, Cloudflare R2, MinIO, any S3-compatible store) as the server root, via boto3.

Objects cannot be renamed and S3 has no symlink, so the folder operations releng.server.transport names are kept
with conditional writes instead (docs/update-server.md "S3 and R2"):
- a folder is a key prefix; `mkdir` creates the marker object `<rel>/` with `If-None-Match: *`, so it is atomic and
  still doubles as the lock of transport.lock();
- every `put_file` and `write_bytes` is a create-only write (`If-None-Match: *`): an object under `releases/<v>/` is
  never replaced; the same bytes again are a no-op (the stored sha256 equals ours), other bytes are refused;
- `replace_bytes` (what transport.write_atomic uses here) replaces a manifest or the history under optimistic locking:
  `If-Match: <the ETag this connection read>`, or `If-None-Match: *` when it read no object; a 412 means someone
  else wrote first and nothing was written;
- `releases/latest` is a small pointer object whose body is the version (metadata `releng-link`);
- a folder "rename" (rollback's quarantine) copies every object, then deletes the originals.
Uploads above PART bytes are multipart with PARALLEL parts in flight and resume: an unfinished upload of the same key
is found again (ListMultipartUploads) and only the parts missing or differing (size, MD5 ETag) are sent.
Every part and single-part object carries its SHA-256 (`x-amz-checksum-sha256`), which the service checks on upload.
Credentials come only from boto3's own chain (environment, profile, instance role): never from the config, never
printed. Throttling (503 SlowDown) is retried by botocore's adaptive retry mode with backoff.
"""

from __future__ import annotations

import base64
import hashlib
import posixpath
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from releng.server.transport import ProgressHook, Stat, TransportError, Upload, check_rel

PART = 16 << 20  # multipart part size; also the size above which an upload is multipart
PARALLEL = 8  # parts in flight at once
LINK = "releng-link"  # metadata key of a pointer object (releases/latest)
SHA = "releng-sha256"  # metadata key: the whole object's sha256 (hex), as publish-release computed it
IMMUTABLE, FRESH = "public, max-age=31536000, immutable", "no-cache"  # Cache-Control per object kind


def cache_control(rel: str) -> str:
    """Release files never change (long max-age, immutable); everything else (manifests, latest, history,
    rollback log) must be revalidated every time (no-cache: the CDN and clients use the ETag)."""
    parts = rel.split("/")
    return IMMUTABLE if len(parts) >= 3 and parts[0] == "releases" and not parts[1].startswith(".") else FRESH


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def _code(e: BaseException) -> str:
    return str(getattr(e, "response", {}).get("Error", {}).get("Code", ""))


class S3Transport:
    """An update server that is a bucket (and optional key prefix); paths are relative to the prefix."""

    objects = True  # releng.server.layout publishes in place (no .incoming folder, no rename)

    def __init__(self, name: str, *, bucket: str, prefix: str = "", endpoint_url: str | None = None,
                 region: str | None = None, base_url: str, timeout: float = 20.0) -> None:
        import boto3  # type: ignore[import-untyped]
        from botocore.config import Config  # type: ignore[import-untyped]

        self.name, self.bucket, self.base_url = name, bucket, base_url
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.bytes_sent = 0
        self.progress: ProgressHook | None = None
        self._etags: dict[str, str | None] = {}  # rel -> ETag last read (None: read as absent), for If-Match
        self._lock = threading.Lock()
        config = Config(retries={"max_attempts": 8, "mode": "adaptive"}, connect_timeout=timeout,
                        read_timeout=max(timeout, 60), max_pool_connections=PARALLEL * 2,
                        s3={"addressing_style": "path"} if endpoint_url else None,
                        request_checksum_calculation="when_required", response_checksum_validation="when_required")
        self.s3 = boto3.session.Session().client("s3", endpoint_url=endpoint_url, region_name=region, config=config)
        self._check_bucket()

    def _check_bucket(self) -> None:
        """One request up front, so that wrong credentials or a missing bucket are one clear error (exit 2)."""
        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except Exception as e:
            raise self._error(e, "cannot open the bucket") from None

    def _error(self, e: BaseException, what: str) -> TransportError:
        code = _code(e)
        if code in ("404", "NoSuchBucket"):
            return TransportError(f"{what}: bucket {self.bucket!r} does not exist", self.name)
        if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return TransportError(f"{what}: access denied (check the credentials boto3 finds: environment, "
                                  "profile or instance role)", self.name)
        if type(e).__name__ in ("NoCredentialsError", "PartialCredentialsError"):
            return TransportError(f"{what}: no credentials (set them for boto3: environment, profile or instance "
                                  "role; never in the config)", self.name)
        return TransportError(f"{what}: {code or type(e).__name__}: {str(e).splitlines()[0][:200]}", self.name)

    def _key(self, rel: str) -> str:
        """The object key of `rel`; a trailing "/" names a folder's marker object."""
        folder = rel.endswith("/")
        return self.prefix + check_rel(rel[:-1] if folder else rel) + ("/" if folder else "")

    def url(self, rel: str) -> str:
        return f"{self.base_url.rstrip('/')}/{check_rel(rel)}"

    # --- reading ------------------------------------------------------------------------------------------------

    def _head(self, rel: str) -> dict[str, Any] | None:
        try:
            return dict(self.s3.head_object(Bucket=self.bucket, Key=self._key(rel)))
        except Exception as e:
            if _code(e) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._error(e, f"cannot stat {rel}") from None

    def _is_prefix(self, rel: str) -> bool:
        key = self._key(rel) + "/" if rel else self.prefix
        try:
            r = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=key, MaxKeys=1)
        except Exception as e:
            raise self._error(e, f"cannot list {rel or '/'}") from None
        return bool(r.get("KeyCount") or r.get("Contents"))

    def lstat(self, rel: str) -> Stat | None:
        if rel == "":
            return Stat(0, True, False, 0.0)
        head = self._head(rel)
        if head is None:
            self._etags[rel] = None
            return Stat(0, True, False, 0.0) if self._is_prefix(rel) else None
        self._etags.setdefault(rel, head["ETag"])
        link = LINK in (head.get("Metadata") or {})
        return Stat(int(head["ContentLength"]), False, link, head["LastModified"].timestamp())

    def stat(self, rel: str) -> Stat | None:
        st = self.lstat(rel)
        if st is not None and st.is_link:
            target = self.readlink(rel)
            return self.lstat(posixpath.join(posixpath.dirname(rel), target)) if target else None
        return st

    def listdir(self, rel: str) -> list[str]:
        key = self._key(rel) + "/" if rel else self.prefix
        names: set[str] = set()
        try:
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=key,
                                                                           Delimiter="/"):
                names.update(p["Prefix"][len(key):].rstrip("/") for p in page.get("CommonPrefixes") or [])
                names.update(o["Key"][len(key):] for o in page.get("Contents") or [])
        except Exception as e:
            raise self._error(e, f"cannot list {rel or '/'}") from None
        names.discard("")  # the folder's own marker object
        return sorted(names)

    def read_bytes(self, rel: str, limit: int = 1 << 20) -> bytes:
        try:
            r = self.s3.get_object(Bucket=self.bucket, Key=self._key(rel))
        except Exception as e:
            if _code(e) in ("404", "NoSuchKey"):
                self._etags[rel] = None
                raise FileNotFoundError(rel) from None
            raise self._error(e, f"cannot read {rel}") from None
        if int(r["ContentLength"]) > limit:
            r["Body"].close()
            raise TransportError(f"{rel} is larger than {limit} bytes", self.name)
        self._etags[rel] = r["ETag"]
        return bytes(r["Body"].read())

    def hash_file(self, rel: str) -> tuple[int, str]:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self._key(rel))["Body"]
        except Exception as e:
            raise self._error(e, f"cannot read {rel}") from None
        h, size = hashlib.sha256(), 0
        for block in body.iter_chunks(4 << 20):
            h.update(block)
            size += len(block)
        return size, h.hexdigest()

    def stored(self, rel: str) -> tuple[int, str] | None:
        """(size, sha256) the server stores for an object (its metadata; checked by the service on upload)."""
        head = self._head(rel)
        if head is None:
            return None
        return int(head["ContentLength"]), str((head.get("Metadata") or {}).get(SHA, ""))

    # --- writing ------------------------------------------------------------------------------------------------

    def _put(self, rel: str, data: bytes, meta: Mapping[str, str] | None = None, **cond: str) -> str:
        """One PutObject carrying its SHA-256 and Cache-Control; returns the new ETag. `cond`: IfNoneMatch/IfMatch."""
        digest = hashlib.sha256(data).digest()
        r = self.s3.put_object(Bucket=self.bucket, Key=self._key(rel), Body=data, ChecksumSHA256=_b64(digest),
                               CacheControl=cache_control(rel), Metadata={SHA: digest.hex(), **(meta or {})}, **cond)
        self.bytes_sent += len(data)
        return str(r["ETag"])

    def mkdir(self, rel: str) -> bool:
        try:
            self._put(rel + "/", b"", IfNoneMatch="*")
        except Exception as e:
            if _code(e) in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                return False
            raise self._error(e, f"cannot create {rel}/") from None
        return True

    def write_bytes(self, rel: str, data: bytes) -> None:
        try:
            self._etags[rel] = self._put(rel, data, IfNoneMatch="*")
        except Exception as e:
            raise self._error(e, f"cannot write {rel}") from None

    def replace_bytes(self, rel: str, data: bytes) -> None:
        """Replace `rel` only if it is still what this connection read (If-Match), or still absent."""
        if rel not in self._etags:
            self.lstat(rel)  # never read here: lock on what is there now
        etag = self._etags.get(rel)
        cond = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            self._etags[rel] = self._put(rel, data, None, **cond)
        except Exception as e:
            self._etags.pop(rel, None)
            if _code(e) in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                raise TransportError(f"{rel} was changed by another writer since it was read (HTTP 412): nothing "
                                     "was written; rerun to retry from the new state", self.name) from None
            raise self._error(e, f"cannot write {rel}") from None

    def replace_link(self, target: str, rel: str) -> None:
        """Point the pointer object `rel` (releases/latest) at `target`: one PUT, readers see old or new."""
        try:
            self._etags[rel] = self._put(rel, target.encode("utf-8") + b"\n", {LINK: target})
        except Exception as e:
            raise self._error(e, f"cannot write {rel}") from None

    def symlink(self, target: str, rel: str) -> None:
        try:
            self._put(rel, target.encode("utf-8") + b"\n", {LINK: target}, IfNoneMatch="*")
        except Exception as e:
            raise self._error(e, f"cannot write {rel}") from None

    def readlink(self, rel: str) -> str | None:
        head = self._head(rel)
        return None if head is None else (head.get("Metadata") or {}).get(LINK)

    def put_file(self, local: Path, rel: str, sha256: str | None = None) -> Upload:
        """Create `rel` from `local` (never replacing an object): the same bytes already there are a no-op.

        `sha256`: the digest the caller expects (publish-release has it from the artifacts document). It is stored
        as the object's metadata up front and the file is hashed while its parts go up, instead of in a pass before;
        a file that does not hash to it is never completed (the Upload's sha256 tells the caller)."""
        from releng import files

        total = local.stat().st_size
        if sha256 is None or total <= PART:
            total, sha = files.sha256_file(local)
            if sha256 is not None and sha != sha256:
                return Upload(0, total, sha)  # not what the caller expects: nothing is created
        else:
            sha = sha256
        have = self.stored(rel)
        if have is not None:
            if have == (total, sha):
                return Upload(0, total, sha)
            raise TransportError(f"{rel} already exists with different bytes (objects are never replaced)", self.name)
        try:
            if total <= PART:
                data = local.read_bytes()
                self._progress(rel, 0, total)
                self._put(rel, data, IfNoneMatch="*")
                self._progress(rel, total, total)
                return Upload(total, total, hashlib.sha256(data).hexdigest())
            sent, actual = self._multipart(local, rel, total, sha)
            return Upload(sent, total, actual)
        except TransportError:
            raise
        except Exception as e:
            if _code(e) in ("PreconditionFailed", "412") and self.stored(rel) == (total, sha):
                return Upload(0, total, sha)  # another publisher of the same input completed it first
            raise self._error(e, f"cannot upload {rel}") from None

    def _progress(self, rel: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(rel, done, total)

    def _multipart(self, local: Path, rel: str, total: int, sha: str) -> tuple[int, str]:
        """Upload (or resume) `local` in parts; (bytes sent, the sha256 the file had while sent)."""
        from releng import files

        key = self._key(rel)
        upload_id, stored = self._resumable(key)
        if upload_id is None:
            upload_id = self.s3.create_multipart_upload(
                Bucket=self.bucket, Key=key, ChecksumAlgorithm="SHA256", CacheControl=cache_control(rel),
                Metadata={SHA: sha})["UploadId"]
        count = (total + PART - 1) // PART
        done = {"bytes": 0}
        etags: dict[int, tuple[str, str]] = {}

        def send(n: int) -> int:
            with open(local, "rb") as f:
                f.seek((n - 1) * PART)
                data = f.read(PART)
            checksum = _b64(hashlib.sha256(data).digest())
            md5 = hashlib.md5(data, usedforsecurity=False).hexdigest() if n in stored else ""
            if stored.get(n) == (len(data), md5):  # this part went up before an interruption: keep it
                etags[n] = (f'"{md5}"', checksum)
                sent = 0
            else:
                r = self.s3.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=data,
                                        ChecksumSHA256=checksum)
                etags[n] = (str(r["ETag"]), checksum)
                sent = len(data)
            with self._lock:
                done["bytes"] += len(data)
                self.bytes_sent += sent
                self._progress(rel, done["bytes"], total)
            return sent

        self._progress(rel, 0, total)
        with ThreadPoolExecutor(PARALLEL + 1) as pool:
            whole = pool.submit(files.sha256_file, local)  # the file as sent, hashed beside the parts
            sent = sum(pool.map(send, range(1, count + 1)))
            actual = whole.result()[1]
        if actual != sha:  # never completed: the object does not exist, the caller reports the changed file
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            return sent, actual
        parts = [{"PartNumber": n, "ETag": etags[n][0], "ChecksumSHA256": etags[n][1]} for n in range(1, count + 1)]
        self.s3.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                          MultipartUpload={"Parts": parts}, IfNoneMatch="*")
        return sent, sha

    def _resumable(self, key: str) -> tuple[str | None, dict[int, tuple[int, str]]]:
        """The newest unfinished multipart upload of `key` and its stored parts (number -> size, MD5)."""
        r = self.s3.list_multipart_uploads(Bucket=self.bucket, Prefix=key)
        ups = sorted((u for u in r.get("Uploads") or [] if u["Key"] == key), key=lambda u: u["Initiated"])
        if not ups:
            return None, {}
        upload_id = ups[-1]["UploadId"]
        parts: dict[int, tuple[int, str]] = {}
        for page in self.s3.get_paginator("list_parts").paginate(Bucket=self.bucket, Key=key, UploadId=upload_id):
            for p in page.get("Parts") or []:
                parts[int(p["PartNumber"])] = (int(p["Size"]), str(p["ETag"]).strip('"'))
        return upload_id, parts

    # --- moving and removing ------------------------------------------------------------------------------------

    def _copy(self, src: str, dst: str) -> None:
        self.s3.copy({"Bucket": self.bucket, "Key": src}, self.bucket, dst)  # managed: multipart above 8 MiB

    def posix_rename(self, src: str, dst: str) -> None:
        try:
            self._copy(self._key(src), self._key(dst))
            self.s3.delete_object(Bucket=self.bucket, Key=self._key(src))
        except Exception as e:
            raise self._error(e, f"cannot move {src} to {dst}") from None

    def rename_noreplace(self, src: str, dst: str) -> None:
        """A folder: copy every object under `src/` to `dst/`, and only then delete the originals."""
        if self.lstat(dst) is not None:
            raise TransportError(f"{dst} already exists", self.name)
        head = self._head(src)
        if head is not None:  # a single object
            return self.posix_rename(src, dst)
        old, new = self._key(src) + "/", self._key(dst) + "/"
        try:
            keys = [o["Key"] for page in self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=old) for o in page.get("Contents") or []]
            with ThreadPoolExecutor(PARALLEL) as pool:
                list(pool.map(lambda k: self._copy(k, new + k[len(old):]), keys))
            for i in range(0, len(keys), 1000):
                self.s3.delete_objects(Bucket=self.bucket,
                                       Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]], "Quiet": True})
        except Exception as e:
            raise self._error(e, f"cannot move {src} to {dst}") from None
        return None

    def remove(self, rel: str) -> None:
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=self._key(rel))
        except Exception as e:
            raise self._error(e, f"cannot remove {rel}") from None
        self._etags.pop(rel, None)

    def rmdir(self, rel: str) -> None:
        self.remove(rel + "/")

    def close(self) -> None:
        self.s3.close()
