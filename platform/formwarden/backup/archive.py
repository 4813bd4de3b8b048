"""The archive file: a key block, then AES-256-GCM chunks, then a trailer. Streamed both ways.

    header   MAGIC, then a JSON key block padded to HEADER_SIZE: format, archive id, and the
             data key wrapped by a master key (with its id). Re-wrapping under a new master key
             rewrites only this block; the chunks are never re-encrypted.
    chunks   4-byte length (high bit: final chunk) + ciphertext. Chunk i is sealed with the
             archive's own random data key, nonce = i (a key never sees a nonce twice), and
             associated data = archive id, i and the final flag: a flipped bit, a reordered,
             dropped, spliced-in (from another archive) or missing final chunk fails to decrypt.
    trailer  where the manifest's first chunk starts, so a preview decrypts only the manifest;
             anything after it is refused.

Inside the chunks is a stream of frames (type, length, payload): P starts a part (its table
and columns), D carries part data (zlib-compressed lines, each a JSON array of rows), E ends a
part (rows, SHA-256 and size of the uncompressed lines), M holds the manifest (the last frame).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"FWBACKUP\x01\r\n\x00"
FORMAT = 1
HEADER_SIZE = 4096
CHUNK_SIZE = 1 << 20
_FINAL = 0x80000000
_TRAILER = struct.Struct(">4sQQ4s")
_FRAME = struct.Struct(">cI")
_AAD = b"formwarden-backup-chunk-v1"
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_HEX = re.compile(r"(?:[0-9a-f]{2})+")
_KID = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_CREATED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


class ArchiveError(RuntimeError):
    """The archive cannot be trusted or read; `problem` says what failed, for people."""

    def __init__(self, problem: str, code: str = "archive_invalid"):
        super().__init__(problem)
        self.problem = problem
        self.code = code


@dataclass
class Header:
    archive_id: str
    key_id: str
    wrapped: dict  # {"kid", "nonce", "ct"}: the data key sealed by master key `kid`
    created_at: str

    def encode(self) -> bytes:
        body = json.dumps({"format": FORMAT, "archive_id": self.archive_id, "key": self.wrapped,
                           "created_at": self.created_at}, sort_keys=True).encode()
        block = MAGIC + struct.pack(">I", len(body)) + body
        if len(block) > HEADER_SIZE:
            raise ArchiveError("the key block does not fit the header")
        return block.ljust(HEADER_SIZE, b"\x00")

    @classmethod
    def decode(cls, block: bytes) -> Header:
        """The key block, accepted only in the exact bytes the writer produces: every byte of the
        4,096 is accounted for (canonical JSON, zero padding, lowercase hex, a real creation
        time), so no flip anywhere in it goes unnoticed. The wrapped key's AAD binds the archive
        id and key id; the manifest (inside the authenticated chunks) confirms the creation time."""
        if len(block) < HEADER_SIZE or not block.startswith(MAGIC):
            raise ArchiveError("not a Formwarden backup archive (the file does not start with its header)",
                               "not_an_archive")
        block = block[:HEADER_SIZE]
        (size,) = struct.unpack(">I", block[len(MAGIC):len(MAGIC) + 4])
        start = len(MAGIC) + 4
        if start + size > HEADER_SIZE:
            raise ArchiveError("the archive's key block is damaged", "header_damaged")
        body = block[start:start + size]
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise ArchiveError("the archive's key block is damaged", "header_damaged") from None
        if not isinstance(data, dict):
            raise ArchiveError("the archive's key block is damaged", "header_damaged")
        if data.get("format") != FORMAT:
            raise ArchiveError(f"unsupported archive format version {data.get('format')!r} (this version reads {FORMAT})",
                               "unsupported_format")
        key, archive_id, created = data.get("key"), data.get("archive_id"), data.get("created_at")
        if (set(data) != {"format", "archive_id", "key", "created_at"} or not isinstance(key, dict)
                or set(key) != {"kid", "nonce", "ct"} or not isinstance(archive_id, str)
                or not (len(archive_id) == 32 and _HEX.fullmatch(archive_id))
                or not all(isinstance(key.get(k), str) for k in ("kid", "nonce", "ct"))
                or not _KID.fullmatch(key["kid"]) or not (len(key["nonce"]) == 24 and _HEX.fullmatch(key["nonce"]))
                or not _HEX.fullmatch(key["ct"]) or not _real_time(created)):
            raise ArchiveError("the archive's key block is damaged", "header_damaged")
        header = cls(archive_id=archive_id, key_id=key["kid"], wrapped=key, created_at=str(created))
        if header.encode() != block:  # spacing, key order, escapes or the padding differ from what was written
            raise ArchiveError("the archive's key block is damaged", "header_damaged")
        return header


def _real_time(value) -> bool:
    if not isinstance(value, str) or not _CREATED.fullmatch(value):
        return False
    try:
        when = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return False
    return dt.datetime(2020, 1, 1) <= when <= dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=1)


def check_created(header: Header, manifest: dict) -> None:
    """The key block's creation time is the manifest's (authenticated inside the chunks)."""
    stamp = str(manifest.get("created_at", ""))
    if stamp[:19] + "Z" != header.created_at:
        raise ArchiveError("the archive's key block does not match its manifest (its time was altered)",
                           "header_damaged")


def _nonce(index: int) -> bytes:
    return index.to_bytes(12, "big")


def _aad(archive_id: str, index: int, final: bool) -> bytes:
    return _AAD + bytes.fromhex(archive_id) + index.to_bytes(8, "big") + (b"\x01" if final else b"\x00")


class ArchiveWriter:
    """Write parts and a manifest into `out` (a binary file positioned at 0). Memory holds one
    chunk; `bytes_written` grows as chunks are sealed."""

    def __init__(self, out: BinaryIO, header: Header, data_key: bytes, chunk_size: int = CHUNK_SIZE):
        self.out, self.header, self.chunk_size = out, header, chunk_size
        self._aead = AESGCM(data_key)
        self._buf = bytearray()
        self._index = 0
        self._part: dict | None = None
        self.parts: list[dict] = []
        out.write(header.encode())
        self.bytes_written = HEADER_SIZE

    # chunks
    def _seal(self, plain: bytes, final: bool) -> None:
        ct = self._aead.encrypt(_nonce(self._index), plain, _aad(self.header.archive_id, self._index, final))
        self.out.write(struct.pack(">I", len(ct) | (_FINAL if final else 0)) + ct)
        self.bytes_written += 4 + len(ct)
        self._index += 1

    def _emit(self, kind: bytes, payload: bytes) -> None:
        self._buf += _FRAME.pack(kind, len(payload)) + payload
        while len(self._buf) > self.chunk_size:
            self._seal(bytes(self._buf[:self.chunk_size]), False)
            del self._buf[:self.chunk_size]

    # parts
    def begin_part(self, name: str, columns: list[str]) -> None:
        self._part = {"name": name, "columns": columns, "rows": 0, "bytes": 0, "sha": hashlib.sha256(),
                      "z": zlib.compressobj(1), "pending": bytearray()}
        self._emit(b"P", json.dumps({"name": name, "columns": columns}).encode())

    def write_rows(self, rows) -> None:
        part = self._part
        assert part is not None, "begin_part first"
        if not rows:
            return
        lines = _encode(rows).encode() + b"\n"  # one line per batch: a JSON array of rows
        part["rows"] += len(rows)
        part["bytes"] += len(lines)
        part["sha"].update(lines)
        part["pending"] += part["z"].compress(lines)
        if len(part["pending"]) >= 256 * 1024:
            self._emit(b"D", bytes(part["pending"]))
            part["pending"].clear()

    def end_part(self) -> dict:
        part = self._part
        assert part is not None
        tail = bytes(part["pending"]) + part["z"].flush()
        if tail:
            self._emit(b"D", tail)
        summary = {"name": part["name"], "rows": part["rows"], "bytes": part["bytes"],
                   "sha256": part["sha"].hexdigest()}
        self._emit(b"E", json.dumps(summary).encode())
        self.parts.append(summary)
        self._part = None
        return summary

    def finish(self, manifest: dict) -> None:
        """Seal the manifest in its own final chunk(s) and write the trailer."""
        if self._buf:
            self._seal(bytes(self._buf), False)
            self._buf.clear()
        manifest_offset, manifest_index = self.bytes_written, self._index
        self._emit(b"M", json.dumps(manifest, ensure_ascii=False, sort_keys=True).encode())
        self._seal(bytes(self._buf), True)
        self._buf.clear()
        self.out.write(_TRAILER.pack(b"FWBT", manifest_offset, manifest_index, b"FWBE"))
        self.bytes_written += _TRAILER.size


class ArchiveReader:
    """Read an archive from a seekable binary file; every chunk is authenticated before use."""

    def __init__(self, src: BinaryIO, data_key: bytes, header: Header):
        self.src, self.header = src, header
        self._aead = AESGCM(data_key)

    def _chunks(self, start_offset: int, start_index: int) -> Iterator[bytes]:
        self.src.seek(start_offset)
        index = start_index
        while True:
            raw = self.src.read(4)
            if len(raw) < 4:
                raise ArchiveError("the archive is truncated: it ends before its final chunk", "truncated")
            (word,) = struct.unpack(">I", raw)
            final, size = bool(word & _FINAL), word & ~_FINAL
            if size > CHUNK_SIZE * 4:
                raise ArchiveError(f"chunk {index} claims an impossible size", "chunk_damaged")
            ct = self.src.read(size)
            if len(ct) < size:
                raise ArchiveError("the archive is truncated: it ends inside a chunk", "truncated")
            try:
                plain = self._aead.decrypt(_nonce(index), ct, _aad(self.header.archive_id, index, final))
            except InvalidTag:
                raise ArchiveError(f"chunk {index} fails authentication (altered, reordered, or from another archive)",
                                   "chunk_damaged") from None
            yield plain
            index += 1
            if final:
                rest = self.src.read(_TRAILER.size + 1)
                if len(rest) != _TRAILER.size or rest[:4] != b"FWBT" or rest[-4:] != b"FWBE":
                    raise ArchiveError("unexpected data after the final chunk", "trailing_data")
                return

    def frames(self, start_offset: int = HEADER_SIZE, start_index: int = 0) -> Iterator[tuple[bytes, bytes]]:
        buf = bytearray()
        for plain in self._chunks(start_offset, start_index):
            buf += plain
            pos = 0
            while len(buf) - pos >= _FRAME.size:
                kind, size = _FRAME.unpack_from(buf, pos)
                if len(buf) - pos - _FRAME.size < size:
                    break
                start = pos + _FRAME.size
                yield kind, bytes(buf[start:start + size])
                pos = start + size
            del buf[:pos]
        if buf:
            raise ArchiveError("the archive ends inside a frame", "truncated")

    def manifest(self) -> dict:
        """Only the manifest (decrypts the last chunks): for previews and key checks."""
        self.src.seek(0, os.SEEK_END)
        end = self.src.tell()
        if end < HEADER_SIZE + _TRAILER.size:
            raise ArchiveError("the archive is truncated", "truncated")
        self.src.seek(end - _TRAILER.size)
        head, offset, index, tail = _TRAILER.unpack(self.src.read(_TRAILER.size))
        if head != b"FWBT" or tail != b"FWBE" or not HEADER_SIZE <= offset < end:
            raise ArchiveError("the archive is truncated or has data appended (no trailer)", "truncated")
        for kind, payload in self.frames(offset, index):
            if kind == b"M":
                return json.loads(payload)
        raise ArchiveError("the archive has no manifest", "no_manifest")

    def read(self) -> Iterator[tuple[str, object]]:
        """Walk the whole archive: ("part", {name, columns}), ("rows", [row, …]), ("end", summary)
        per part, then ("manifest", dict). Checks each part's row count, size and SHA-256 against
        its end frame and the manifest, and that nothing follows the manifest."""
        part: dict | None = None
        seen: list[dict] = []
        manifest = None
        for kind, payload in self.frames():
            if manifest is not None:
                raise ArchiveError("data after the manifest", "trailing_data")
            if kind == b"P":
                meta = json.loads(payload)
                part = {"meta": meta, "z": zlib.decompressobj(), "sha": hashlib.sha256(), "rows": 0, "bytes": 0,
                        "rest": b""}
                yield "part", meta
            elif kind == b"D" and part is not None:
                data = part["rest"] + part["z"].decompress(payload)
                cut = data.rfind(b"\n") + 1
                lines, part["rest"] = data[:cut], data[cut:]
                yield "rows", _rows(part, lines)
            elif kind == b"E" and part is not None:
                lines = part["rest"] + part["z"].flush()
                if lines:
                    yield "rows", _rows(part, lines)
                summary = json.loads(payload)
                got = {"name": part["meta"]["name"], "rows": part["rows"], "bytes": part["bytes"],
                       "sha256": part["sha"].hexdigest()}
                if got != summary:
                    raise ArchiveError(f"part {got['name']} does not match its own summary", "part_mismatch")
                seen.append(got)
                yield "end", got
                part = None
            elif kind == b"M" and part is None:
                manifest = json.loads(payload)
            else:
                raise ArchiveError("the archive's frames are out of order", "frames_out_of_order")
        if manifest is None:
            raise ArchiveError("the archive has no manifest", "no_manifest")
        listed = [{k: p[k] for k in ("name", "rows", "bytes", "sha256")} for p in manifest.get("parts", [])]
        if listed != seen:
            raise ArchiveError("the parts do not match the manifest (counts or SHA-256 differ, or a part is missing)",
                               "manifest_mismatch")
        yield "manifest", manifest


def _rows(part: dict, lines: bytes) -> list:
    part["sha"].update(lines)
    part["bytes"] += len(lines)
    rows = [row for line in lines.splitlines() for row in json.loads(line)]
    part["rows"] += len(rows)
    return rows


def read_header(src: BinaryIO) -> Header:
    src.seek(0)
    return Header.decode(src.read(HEADER_SIZE))


def rewrite_header(path, header: Header) -> None:
    """Replace the key block in place (same size): the chunks stay as they are."""
    with open(path, "r+b") as fh:
        fh.seek(0)
        fh.write(header.encode())
        fh.flush()
        os.fsync(fh.fileno())
