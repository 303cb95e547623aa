"""Artifact store: one interface over a local folder (default) and S3 (boto3).

Keys are '/'-separated paths below the store root. Reads and writes stream: nothing here
holds a whole object in memory. S3 credentials come from boto3's standard chain and are never
logged or put into URIs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import BinaryIO, Iterator
from urllib.parse import urlparse

from llammas_core.errors import ConfigError, InputError, IntegrityError
from llammas_core.secrets import refuse_userinfo

CHUNK = 8 << 20
# The S3 endpoint and region of the configured store, for every S3 client of this process and of its
# subprocesses (trainer, datatrove workers): an endpoint belongs to the S3 service, not to one URI, so a
# manifest URI handed from stage to stage (`s3://bucket/...`) is read through the same MinIO/Ceph/R2.
ENDPOINT_ENV, REGION_ENV = "LLAMMAS_S3_ENDPOINT_URL", "LLAMMAS_S3_REGION"


class Store(ABC):
    """A root under which stages write content-addressed folders."""

    uri: str
    endpoint_url: str | None = None  # S3 only: pass it on when opening other URIs (open_uri, read_manifest)

    def url(self, key: str) -> str:
        return f"{self.uri.rstrip('/')}/{key.lstrip('/')}"

    def key_of(self, url: str) -> str:
        """Inverse of url(): the key of a URI inside this store."""
        root = self.uri.rstrip("/") + "/"
        if not url.startswith(root):
            raise InputError(f"{url} is not inside the store {self.uri}")
        return url[len(root):]

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def open_read(self, key: str) -> contextlib.AbstractContextManager[BinaryIO]: ...

    @abstractmethod
    def open_write(self, key: str) -> contextlib.AbstractContextManager[BinaryIO]:
        """A writable stream; the object appears whole at close, or not at all."""

    @abstractmethod
    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        """(key, size) of every object below prefix, sorted by key."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> None: ...

    @abstractmethod
    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create the object only if no object has that key (atomic); False if one exists."""

    def delete(self, key: str) -> None:
        self.delete_prefix(key)

    def put_file(self, local_path: str | Path, key: str) -> None:
        """A copy, never a shared inode: later writes to the scratch file cannot change committed data."""
        with open(local_path, "rb") as src, self.open_write(key) as dst:
            shutil.copyfileobj(src, dst, CHUNK)

    def get_file(self, key: str, local_path: str | Path, size: int | None = None, sha256: str | None = None) -> Path:
        """Download to local_path; with size/sha256 the bytes are checked while they stream."""
        local_path = Path(local_path)
        local_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=local_path.parent, prefix=f".{local_path.name}.", suffix=".part")
        tmp = Path(tmp_name)  # one per download: ranks fetching the same file never share it
        digest, n = hashlib.sha256(), 0
        with self.open_read(key) as src, os.fdopen(fd, "wb") as dst:
            for chunk in iter(lambda: src.read(CHUNK), b""):
                digest.update(chunk)
                n += len(chunk)
                dst.write(chunk)
        try:
            check_digest(self.url(key), n, digest.hexdigest(), size, sha256)
        except IntegrityError:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, local_path)
        return local_path

    def read_json(self, key: str):
        with self.open_read(key) as f:
            return json.load(f)

    def write_json(self, key: str, obj) -> None:
        with self.open_write(key) as f:
            f.write(json.dumps(obj, indent=2, sort_keys=True, default=str).encode())

    def local_path(self, key: str) -> Path | None:
        """A path on this machine holding the object, when the store is local (no copy needed)."""
        return None


DEFAULT_UMASK = 0o022  # committed files 0644, folders 0755: a shared store is readable by the team


class LocalStore(Store):
    """A folder. Committed files and folders get their modes from `umask` (not the process's, nor
    mkstemp's 0600), so a store on a shared file system is readable by group and others by default."""

    def __init__(self, root: str | Path, create: bool = True, umask: int = DEFAULT_UMASK):
        self.root = Path(root).expanduser().resolve()
        self.umask = umask
        if create:  # not when only looking: a folder without its manifest would look like debris
            self._mkdirs(self.root)
        self.uri = self.root.as_uri()

    def _mkdirs(self, folder: Path) -> None:
        """mkdir -p, each folder it creates given 0777 & ~umask."""
        missing = []
        while not folder.is_dir():
            missing.append(folder)
            folder = folder.parent
        for path in reversed(missing):
            try:
                path.mkdir()
            except FileExistsError:
                continue
            os.chmod(path, 0o777 & ~self.umask)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents and path != self.root:
            raise InputError(f"key {key!r} escapes the store root")
        return path

    def local_path(self, key: str) -> Path:
        return self._path(key)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    @contextlib.contextmanager
    def open_read(self, key: str):
        path = self._path(key)
        if not path.is_file():
            raise InputError(f"{self.url(key)} does not exist")
        with open(path, "rb") as f:
            yield f

    @contextlib.contextmanager
    def open_write(self, key: str):
        path = self._path(key)
        self._mkdirs(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            os.fchmod(fd, 0o666 & ~self.umask)
            with os.fdopen(fd, "wb") as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def put_if_absent(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        for _ in range(3):  # a concurrent delete may remove the just-made empty folder
            try:
                self._mkdirs(path.parent)
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
            except FileNotFoundError:
                continue
            os.fchmod(fd, 0o666 & ~self.umask)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            try:  # link: the object appears with its content, and only if no object has the key
                os.link(tmp, path)
                return True
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp)
        raise InputError(f"cannot create {self.url(key)}: its folder keeps disappearing")

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        base = self._path(prefix)
        if base.is_file():
            yield prefix, base.stat().st_size
            return
        if not base.is_dir():
            return
        for path in sorted(p for p in base.rglob("*") if p.is_file() and not p.name.startswith(".")):
            yield path.relative_to(self.root).as_posix(), path.stat().st_size

    def delete_prefix(self, prefix: str) -> None:
        path = self._path(prefix)
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        for parent in path.parents:  # no empty folders left behind (S3 has none either)
            if parent == self.root or not parent.is_dir() or any(parent.iterdir()):
                break
            with contextlib.suppress(OSError):  # a concurrent writer may have just put a file there
                parent.rmdir()


class S3Store(Store):
    """s3://bucket/prefix through boto3; endpoint_url for MinIO, Ceph or R2."""

    def __init__(self, uri: str, endpoint_url: str | None = None, region: str | None = None):
        import boto3
        from botocore.config import Config

        parsed = urlparse(uri)
        self.bucket, self.prefix = parsed.netloc, parsed.path.strip("/")
        if not self.bucket:
            raise ConfigError(f"store URI {uri!r} names no bucket")
        self.uri = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        refuse_userinfo(endpoint_url, "store.endpoint_url")
        if endpoint_url:  # configured: every later S3 client, here and in subprocesses, uses it too
            os.environ[ENDPOINT_ENV] = endpoint_url
        if region:
            os.environ[REGION_ENV] = region
        endpoint_url = endpoint_url or s3_endpoint_url()
        region = region or os.environ.get(REGION_ENV) or None
        refuse_userinfo(endpoint_url, "store.endpoint_url")
        self.endpoint_url, self.region = endpoint_url, region
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(retries={"mode": "adaptive", "max_attempts": 8}),
        )

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key.lstrip('/')}" if self.prefix else key.lstrip("/")

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as e:
            if e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return False
            raise

    @contextlib.contextmanager
    def open_read(self, key: str):
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise InputError(f"{self.url(key)} does not exist") from None
            raise
        try:
            yield body
        finally:
            body.close()

    @contextlib.contextmanager
    def open_write(self, key: str):
        # Spool to a local temp file, then a managed (multipart) upload: bounded memory, and
        # the object appears only when the upload completes.
        with tempfile.TemporaryFile() as tmp:
            yield tmp
            tmp.seek(0)
            self.client.upload_fileobj(tmp, self.bucket, self._key(key))

    def put_file(self, local_path: str | Path, key: str) -> None:
        self.client.upload_file(str(local_path), self.bucket, self._key(key))

    def put_if_absent(self, key: str, data: bytes) -> bool:
        from botocore.exceptions import ClientError

        try:  # S3 conditional write (If-None-Match: *): exactly one of two racing writers wins
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, IfNoneMatch="*")
            return True
        except ClientError as e:
            if e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") in (409, 412):
                return False
            raise

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        # folder semantics, as for local stores: "a" lists "a/..." but not "ab"
        if prefix and self.exists(prefix):
            yield prefix, self.client.head_object(Bucket=self.bucket, Key=self._key(prefix))["ContentLength"]
            return
        full = self._key(prefix).rstrip("/") + "/" if prefix else self._key("")
        strip = len(self.prefix) + 1 if self.prefix else 0
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
            for obj in page.get("Contents", []):
                yield obj["Key"][strip:], obj["Size"]

    def delete_prefix(self, prefix: str) -> None:
        keys = [self._key(k) for k, _ in self.list(prefix)]
        for i in range(0, len(keys), 1000):
            self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]]}
            )


@contextlib.contextmanager
def local_copy(store: Store, key: str) -> Iterator[Path]:
    """A local path for the object: the file itself in a local store, else a temporary copy."""
    local = store.local_path(key)
    if local is not None:
        if not Path(local).is_file():
            raise InputError(f"{store.url(key)} does not exist")
        yield Path(local)
        return
    with tempfile.TemporaryDirectory(prefix="llammas-shard-") as tmp:
        yield store.get_file(key, Path(tmp) / Path(key).name)


def s3_endpoint_url() -> str | None:
    """The endpoint for an S3 client opened without one: the configured store's, else boto3's variables."""
    return (os.environ.get(ENDPOINT_ENV) or os.environ.get("AWS_ENDPOINT_URL_S3")
            or os.environ.get("AWS_ENDPOINT_URL") or None)


def check_digest(url: str, n: int, digest: str, size: int | None, sha256: str | None) -> None:
    if size is not None and n != size:
        raise IntegrityError(f"{url}: {n} bytes, the manifest says {size}: the committed file was changed or truncated")
    if sha256 is not None and digest != sha256:
        raise IntegrityError(f"{url}: sha256 {digest[:12]}..., the manifest says {sha256[:12]}...: the committed file was changed")


def open_store(uri: str, endpoint_url: str | None = None, region: str | None = None,
               umask: int = DEFAULT_UMASK) -> Store:
    """The store for a URI: file://path, a plain path, or s3://bucket/prefix."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        return S3Store(uri, endpoint_url=endpoint_url, region=region)
    if parsed.scheme == "file":
        path = parsed.netloc + parsed.path if parsed.netloc not in ("", "localhost") else parsed.path
        return LocalStore(path, umask=umask)
    if parsed.scheme == "":
        return LocalStore(uri, umask=umask)
    raise ConfigError(f"unsupported store URI scheme {parsed.scheme!r} in {uri!r} (use file:// or s3://)")


def open_uri(uri: str, endpoint_url: str | None = None) -> tuple[Store, str]:
    """(store, key) for any file URI, e.g. a manifest URI handed from one stage to the next."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        return S3Store(f"s3://{parsed.netloc}", endpoint_url=endpoint_url), parsed.path.lstrip("/")
    path = Path(parsed.path if parsed.scheme == "file" else uri).expanduser().resolve()
    return LocalStore(path.parent, create=False), path.name
