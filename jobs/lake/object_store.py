"""Small objects on the lakehouse's object store (obstore: the Rust ``object_store`` delta-rs uses).

What is not a Delta table but must live beside the tables when the lakehouse is ``s3a://...``:
the dataset leases (a conditional PUT is the only lock several machines share) and the listing
of dataset folders. Endpoint, region, credentials and addressing come from the standard AWS
variables, read the same way by delta-rs (``AWS_ENDPOINT_URL``, ``AWS_REGION``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ALLOW_HTTP``,
``AWS_VIRTUAL_HOSTED_STYLE_REQUEST``); nothing is hard-coded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlparse


@dataclass(frozen=True)
class StoredObject:
    data: bytes
    etag: str


def split_uri(uri: str) -> tuple[str, str]:
    """``(bucket, key)`` of ``s3a://bucket/key`` (or ``s3://``)."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("s3", "s3a") or not parsed.netloc:
        raise ValueError(f"not an object store URI: {uri!r}")
    return parsed.netloc, parsed.path.strip("/")


STORE_PROBLEMS = (
    (r"NoSuchBucket", "has no such bucket"),
    (
        r"SignatureDoesNotMatch|InvalidAccessKeyId|AccessDenied|\b403\b",
        "refused the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or the profile or role in use)",
    ),
    (r"Connection refused|connect error|dns error|timed out", "cannot be reached"),
)
"""What an S3 error's text says, most specific first (an error document that names its code wins
over a ``403`` that may appear in any request id, port or time in the same text)."""


def store_problem(text: str) -> str | None:
    """What an object store's error text says is wrong (:data:`STORE_PROBLEMS`), or None."""
    return next((why for pattern, why in STORE_PROBLEMS if re.search(pattern, text)), None)


@lru_cache(maxsize=8)
def reachable(bucket: str) -> bool:
    """Check once per process that the bucket answers with these credentials: an
    :class:`ObjectStoreError` in one line, naming the endpoint and what is wrong, instead of an
    S3 error document (successes only are cached)."""
    import os

    import obstore

    try:
        obstore.list_with_delimiter(_store(bucket), None)
    except Exception as exc:
        from jobs.core.errors import ObjectStoreError

        text = str(exc)
        why = store_problem(text)
        endpoint = os.environ.get("AWS_ENDPOINT_URL", "AWS S3")
        if endpoint.startswith("http://") and os.environ.get("AWS_ALLOW_HTTP", "").lower() != "true":
            why = "is a plain-HTTP endpoint: set AWS_ALLOW_HTTP=true to use it"
        detail = why or "failed: " + " ".join(text.split())[:200]
        raise ObjectStoreError(f"object store {endpoint}, bucket {bucket!r}: {detail}") from None
    return True


@lru_cache(maxsize=8)
def _store(bucket: str) -> Any:
    from obstore.store import S3Store

    return S3Store(bucket)


def list_folders(uri: str) -> list[str]:
    """The names of the "folders" directly under ``uri``."""
    import obstore

    bucket, key = split_uri(uri)
    reachable(bucket)
    listed = obstore.list_with_delimiter(_store(bucket), key or None)
    return [p.rstrip("/").rsplit("/", 1)[-1] for p in listed["common_prefixes"]]


@dataclass(frozen=True)
class ListedObject:
    uri: str
    size: int
    etag: str


def list_matching(pattern: str) -> list[ListedObject]:
    """The objects whose ``s3a://bucket/key`` matches ``pattern`` (``*``, ``?``, ``[...]`` as in a
    shell glob, within one path segment), sorted by key."""
    import fnmatch

    import obstore

    bucket, key = split_uri(pattern)
    reachable(bucket)
    fixed = re.split(r"[*?\[]", key, maxsplit=1)[0]
    prefix = fixed.rsplit("/", 1)[0] if "/" in fixed else ""
    matcher = re.compile(fnmatch.translate(key).replace(".*", "[^/]*"))
    found = [
        ListedObject(
            f"s3a://{bucket}/{meta['path']}", int(meta["size"]), str(meta.get("e_tag") or meta["last_modified"])
        )
        for batch in obstore.list(_store(bucket), prefix or None)
        for meta in batch
        if matcher.fullmatch(meta["path"])
    ]
    return sorted(found, key=lambda o: o.uri)


def object_size(uri: str) -> int:
    """The object's size in bytes (one HEAD request)."""
    import obstore

    bucket, key = split_uri(uri)
    return int(obstore.head(_store(bucket), key)["size"])


def read_head(uri: str, length: int) -> bytes:
    """The first ``length`` bytes of an object (fewer if it is shorter)."""
    import obstore

    bucket, key = split_uri(uri)
    size = object_size(uri)
    if size == 0:
        return b""
    return bytes(obstore.get_range(_store(bucket), key, start=0, end=min(length, size)))


def read_object(uri: str) -> StoredObject | None:
    """The object's bytes and ETag, or None when there is none."""
    import obstore

    bucket, key = split_uri(uri)
    try:
        got = obstore.get(_store(bucket), key)
    except FileNotFoundError:
        return None
    return StoredObject(bytes(got.bytes()), str(got.meta["e_tag"]))


def create_object(uri: str, data: bytes) -> str | None:
    """Write ``uri`` only if it does not exist (``If-None-Match: *``): its ETag, or None if it did."""
    import obstore
    from obstore.exceptions import AlreadyExistsError

    bucket, key = split_uri(uri)
    reachable(bucket)
    try:
        return str(obstore.put(_store(bucket), key, data, mode="create")["e_tag"])
    except AlreadyExistsError:
        return None


def replace_object(uri: str, data: bytes, etag: str) -> str | None:
    """Overwrite ``uri`` only if it still has ``etag`` (``If-Match``): the new ETag, or None."""
    import obstore
    from obstore.exceptions import PreconditionError

    bucket, key = split_uri(uri)
    try:
        return str(obstore.put(_store(bucket), key, data, mode={"e_tag": etag})["e_tag"])
    except (PreconditionError, FileNotFoundError):
        return None


def delete_object(uri: str) -> None:
    import obstore

    bucket, key = split_uri(uri)
    obstore.delete(_store(bucket), key)


def copy_object(source: str, target: str) -> None:
    """Copy ``source`` to ``target`` in one bucket on the server (no bytes through this process);
    a target left by an earlier attempt with the same size is kept (a retried publish)."""
    import obstore

    bucket, source_key = split_uri(source)
    target_bucket, target_key = split_uri(target)
    if target_bucket != bucket:
        raise ValueError(f"copy across buckets: {source} -> {target}")
    try:
        existing = obstore.head(_store(bucket), target_key)
    except FileNotFoundError:
        existing = None
    if existing is not None:
        if int(existing["size"]) == int(obstore.head(_store(bucket), source_key)["size"]):
            return
        raise FileExistsError(f"{target} exists with another size; refusing to overwrite a labels file")
    obstore.copy(_store(bucket), source_key, target_key)  # checked absent above; S3 has no copy-if-absent
