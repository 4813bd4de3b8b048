"""Backup target: an S3-compatible object store (AWS S3, MinIO, Ceph, OSS/COS S3 endpoints).

    FORMWARDEN_BACKUP_TARGETS="offsite=s3://bucket/prefix?endpoint_url=https://minio.example:9000&region=cn-north-1"

Credentials come from boto3's usual places (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a
profile, an instance role), never from the URL. Uploads go to a temporary key and are copied
into place only after the whole file is there; every copy is read back (size and SHA-256)
before the backup counts it."""
from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from formwarden.plugins import hookimpl

_PARTIAL = ".partial/"


class S3Target:
    def __init__(self, name: str, url: str):
        import boto3
        from botocore.config import Config

        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if not parts.netloc:
            raise ValueError(f"backup target {name}: an s3:// URL needs a bucket")
        self.name = name
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/") + "/" if parts.path.strip("/") else ""
        self.endpoint = query.get("endpoint_url")
        self._client = boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=query.get("region"),
            config=Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10, read_timeout=60))

    def describe(self) -> str:
        where = f" at {self.endpoint}" if self.endpoint else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"

    def _key(self, name: str) -> str:
        return self.prefix + name

    def put(self, local: Path, name: str) -> None:
        partial = self.prefix + _PARTIAL + name
        self._client.upload_file(str(local), self.bucket, partial)
        try:
            self._client.copy_object(Bucket=self.bucket, Key=self._key(name),
                                     CopySource={"Bucket": self.bucket, "Key": partial})
        finally:
            self._client.delete_object(Bucket=self.bucket, Key=partial)

    def stat(self, name: str) -> tuple[int, str]:
        body = self._client.get_object(Bucket=self.bucket, Key=self._key(name))["Body"]
        h = hashlib.sha256()
        size = 0
        for block in body.iter_chunks(1 << 20):
            h.update(block)
            size += len(block)
        return size, h.hexdigest()

    def fetch(self, name: str, dest: Path) -> None:
        self._client.download_file(self.bucket, self._key(name), str(dest))

    def names(self) -> list[str]:
        out = []
        for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                rest = item["Key"][len(self.prefix):]
                if "/" not in rest and rest.endswith(".fwb"):
                    out.append(rest)
        return sorted(out)

    def delete(self, name: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=self._key(name))

    def local_path(self, name: str) -> Path | None:
        return None


@hookimpl
def formwarden_backup_target_types():
    return {"s3": S3Target}
