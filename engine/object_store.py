"""`ObjectDir`: a run directory under a prefix of an object store, `s3://bucket/prefix` (or any URL fsspec knows).

Credentials and the endpoint come from the store's usual environment, read by every process that opens the URL
(the job's driver and each worker, so set them on every node): for S3, botocore's `AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`, `AWS_PROFILE` and `AWS_ENDPOINT_URL` (another server than AWS:
MinIO, moto). Each file is one object written with one PUT, which the store applies whole or not at all: that is
the atomic write, and no temp objects are made. A store cannot append, so the journal is one object per finished
block, `progress/START.json` (`engine.journal`). Any failure of the store is a one-line `StorageError` naming the
URL: an unknown scheme, a missing backend (s3fs), an unreachable endpoint, a missing bucket, no credentials.
"""

from __future__ import annotations

import functools
import json
import os
import posixpath
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from frobnoscope.engine.errors import FrobError, first_sentence
from frobnoscope.engine.journal import JOURNAL_OBJECTS, journal_entries
from frobnoscope.engine.runs import json_text

TEMP_SUFFIXES = (".tmp", ".partial")
CONNECTION_ERRORS = {"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ClientConnectorError",
                     "ServerDisconnectedError"}


class StorageError(FrobError):
    """An object store URL that cannot be used: unknown, unreachable, no bucket, no credentials, no access."""


def _missing_bucket(error: BaseException) -> bool:
    return isinstance(error, FileNotFoundError) and "bucket" in str(error).lower()


def storage_problem(error: BaseException) -> str:
    """What went wrong with the store, and what to do, in a few words (for a one-line error)."""
    kind, text = type(error).__name__, first_sentence(error)
    if kind in CONNECTION_ERRORS or isinstance(error, (ConnectionError, TimeoutError)):
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        where = f"AWS_ENDPOINT_URL={endpoint}" if endpoint else "the store (for a server other than AWS set " \
                                                                "AWS_ENDPOINT_URL)"
        return f"cannot reach {where} ({text}); check that it is up and the address is right"
    if kind in ("NoCredentialsError", "PartialCredentialsError"):
        return "no credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
    if isinstance(error, PermissionError):
        return f"access denied ({text}); check the credentials and the bucket's permissions"
    if _missing_bucket(error):
        return f"the bucket does not exist ({text}); create it or fix the URL"
    return f"{kind}: {text}"


def _store_call(method):
    """Any failure of the store inside `method` becomes a one-line `StorageError` naming the URL."""
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except FrobError:
            raise
        except Exception as error:  # noqa: BLE001 - whatever the backend raises, as one line
            raise StorageError(f"{self.url}: {storage_problem(error)}") from None

    return call


def _options(protocol: str) -> dict:
    """fsspec options: for S3 no cached listings (workers add objects behind this process's back), and the endpoint
    botocore would read from the environment given explicitly, so that fsspec's cache of file systems (keyed by
    these options) never hands out one made for another endpoint."""
    if not protocol.startswith("s3"):
        return {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return {"use_listings_cache": False, **({"endpoint_url": endpoint} if endpoint else {})}


class ObjectDir:
    """The run directory `url` (`path` is the same URL). `fs` and `root`: the fsspec file system and the prefix."""

    def __init__(self, url: str):
        protocol, _, rest = url.partition("://")
        self.url = self.path = f"{protocol}://{rest.rstrip('/')}"
        self.options = _options(protocol)
        try:
            from fsspec import url_to_fs

            self.fs, root = url_to_fs(self.url, **self.options)
        except ImportError as error:
            extra = "'frobnoscope[s3]'" if protocol.startswith("s3") else f"the fsspec backend of {protocol}://"
            raise StorageError(f"{self.url}: {protocol}:// needs a backend that is not installed "
                               f"({first_sentence(error)}); install it with: pip install {extra}") from None
        except (ValueError, TypeError) as error:
            raise StorageError(f"{self.url} is not a URL of a store fsspec knows ({first_sentence(error)}); give a "
                               "directory or an object store URL such as s3://bucket/prefix") from None
        self.root = root.rstrip("/")
        if protocol.startswith("s3") and "/" not in self.root.strip("/"):
            raise StorageError(f"{self.url} names a bucket but no prefix; give s3://BUCKET/NAME (the run is written "
                               "under NAME/)")

    def __str__(self) -> str:
        return self.url

    def key(self, relative: str) -> str:
        return f"{self.root}/{relative}" if relative else self.root

    def url_of(self, relative: str) -> str:
        return f"{self.url}/{relative}"

    @_store_call
    def names(self) -> list[str]:
        """Names directly under the prefix ([] if there is nothing)."""
        try:
            return sorted({posixpath.basename(p.rstrip("/")) for p in self.fs.ls(self.root, detail=False)})
        except FileNotFoundError as error:
            if _missing_bucket(error):
                raise
            return []

    @_store_call
    def exists(self, relative: str) -> bool:
        return self.fs.isfile(self.key(relative))

    def read_bytes(self, relative: str) -> bytes | None:
        return self.read_many([relative])[relative]

    @_store_call
    def read_many(self, relatives: list[str]) -> dict[str, bytes | None]:
        """Each object's bytes (None where it is missing), fetched concurrently."""
        found = self.fs.cat([self.key(r) for r in relatives], on_error="return") if relatives else {}
        read = {}
        for relative in relatives:
            value = found.get(self.key(relative), FileNotFoundError(relative))
            if isinstance(value, Exception) and (not isinstance(value, FileNotFoundError) or _missing_bucket(value)):
                raise value
            read[relative] = None if isinstance(value, Exception) else value
        return read

    def write_bytes(self, relative: str, data: bytes) -> None:
        self.write_many({relative: data})

    @_store_call
    def write_many(self, files: Mapping[str, bytes]) -> None:
        """One PUT per object, concurrently."""
        if files:
            self.fs.pipe({self.key(relative): data for relative, data in files.items()})

    def write_json(self, relative: str, data) -> None:
        self.write_bytes(relative, json_text(data).encode())

    @_store_call
    def remove(self, relative: str) -> None:
        try:
            self.fs.rm_file(self.key(relative))
        except FileNotFoundError:
            pass

    def remove_temp_files(self) -> list[str]:
        """Remove what a job cut off left at the top level (its shared-storage marker); objects have no temp files."""
        stray = [name for name in self.names() if name.endswith(TEMP_SUFFIXES)]
        for name in stray:
            self.remove(name)
        return stray

    @_store_call
    def make_writable(self) -> None:
        """Write and delete a probe object: fails, as one line, on anything that would stop the job's writes."""
        self.fs.pipe_file(self.key(".write-test"), b"")
        self.fs.rm_file(self.key(".write-test"))

    @_store_call
    def size(self, relative: str = "") -> int:
        return self.fs.du(self.key(relative)) if self.fs.exists(self.key(relative)) else 0

    def zarr_store(self):
        """A zarr store of the prefix (its own asynchronous file system, configured the same way)."""
        from zarr.storage import FsspecStore

        return FsspecStore.from_url(self.url, storage_options=dict(self.options))

    # --- the journal: one object per finished block ------------------------------------------

    def _journal_name(self, start: int) -> str:
        return f"{JOURNAL_OBJECTS}/{start:012d}.json"

    @_store_call
    def journal_entries(self, payload: str | None = None) -> dict:
        keys = [k for k in self.fs.find(self.key(JOURNAL_OBJECTS)) if k.endswith(".json")]
        contents = self.fs.cat(keys, on_error="return") if keys else {}
        lines = [line for key in sorted(contents) if isinstance(contents[key], bytes)
                 for line in contents[key].decode(errors="replace").splitlines()]
        return journal_entries(lines, payload)

    @contextmanager
    def journal(self) -> Iterator[Callable[[dict], None]]:
        """`append(entry)`: writes the block's object (`entry["start"]` names it)."""
        yield lambda entry: self.write_bytes(self._journal_name(entry["start"]), (json.dumps(entry) + "\n").encode())

    def write_journal(self, entries: list[dict]) -> None:
        self.remove_journal()
        self.write_many({self._journal_name(e["start"]): (json.dumps(e) + "\n").encode() for e in entries})

    @_store_call
    def remove_journal(self) -> None:
        keys = self.fs.find(self.key(JOURNAL_OBJECTS))
        if keys:
            self.fs.rm(keys)
