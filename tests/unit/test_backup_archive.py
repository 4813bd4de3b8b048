"""The archive format on its own: every corruption of the file is refused, never half-read."""
import io
import os
import secrets
import struct

import pytest

from formwarden.backup.archive import HEADER_SIZE, ArchiveError, ArchiveReader, ArchiveWriter, Header, read_header

CHUNK = 4096  # small chunks, so a few rows make many


def make_archive(rows=2000, chunk=CHUNK, data_key=None, archive_id=None):
    data_key = data_key or os.urandom(32)
    archive_id = archive_id or secrets.token_hex(16)
    header = Header(archive_id=archive_id, key_id="b1", wrapped={"kid": "b1", "nonce": "00" * 12, "ct": "00" * 48}, created_at="2026-12-02T00:00:00Z")
    out = io.BytesIO()
    w = ArchiveWriter(out, header, data_key, chunk_size=chunk)
    w.begin_part("customers", ["id", "name"])
    for i in range(0, rows, 100):
        w.write_rows([[j, f"客户{j}" + os.urandom(8).hex()] for j in range(i, i + 100)])
    w.end_part()
    w.begin_part("events", ["seq"])
    w.write_rows([[1], [2]])
    w.end_part()
    w.finish({"archive_id": archive_id, "parts": w.parts, "counts": {p["name"]: p["rows"] for p in w.parts}})
    return out.getvalue(), data_key


def read_all(blob, data_key):
    src = io.BytesIO(blob)
    reader = ArchiveReader(src, data_key, read_header(src))
    rows = []
    manifest = None
    for event, value in reader.read():
        if event == "rows":
            rows.extend(value)
        elif event == "manifest":
            manifest = value
    return rows, manifest


def chunk_spans(blob):
    """(offset, length) of every chunk including its 4-byte length word."""
    spans, pos = [], HEADER_SIZE
    while True:
        (word,) = struct.unpack(">I", blob[pos:pos + 4])
        size = word & 0x7FFFFFFF
        spans.append((pos, 4 + size))
        pos += 4 + size
        if word & 0x80000000:
            return spans


def test_round_trip_and_fast_manifest():
    blob, key = make_archive()
    rows, manifest = read_all(blob, key)
    assert len(rows) == 2002 and rows[5][0] == 5 and rows[5][1].startswith("客户5")
    assert manifest["counts"] == {"customers": 2000, "events": 2}
    src = io.BytesIO(blob)
    assert ArchiveReader(src, key, read_header(src)).manifest()["counts"]["events"] == 2
    assert len(chunk_spans(blob)) > 5


def test_no_plaintext_in_the_file():
    blob, _ = make_archive()
    assert "客户".encode() not in blob and b"customers" not in blob[HEADER_SIZE:]


def test_a_flipped_bit_in_any_chunk_is_refused():
    blob, key = make_archive()
    for offset, length in chunk_spans(blob)[::3]:
        bad = bytearray(blob)
        bad[offset + 4 + length // 2 - 2] ^= 0x01
        with pytest.raises(ArchiveError) as err:
            read_all(bytes(bad), key)
        assert err.value.code == "chunk_damaged"


@pytest.mark.parametrize("cut", [1, 30, 5000, -30])
def test_truncation_is_refused(cut):
    blob, key = make_archive()
    short = blob[:cut] if cut > 0 and cut < HEADER_SIZE else blob[:cut] if cut < 0 else blob[:HEADER_SIZE + cut]
    with pytest.raises(ArchiveError):
        read_all(short, key)


def test_dropping_the_final_chunk_and_trailer_is_refused():
    blob, key = make_archive()
    offset, _ = chunk_spans(blob)[-1]
    with pytest.raises(ArchiveError) as err:
        read_all(blob[:offset], key)
    assert err.value.code == "truncated"


def test_two_swapped_chunks_are_refused():
    blob, key = make_archive()
    spans = chunk_spans(blob)
    (a, la), (b, lb) = spans[2], spans[3]
    swapped = blob[:a] + blob[b:b + lb] + blob[a:a + la] + blob[b + lb:]
    with pytest.raises(ArchiveError) as err:
        read_all(swapped, key)
    assert err.value.code == "chunk_damaged"


def test_a_chunk_from_another_archive_is_refused_even_under_the_same_key():
    key = os.urandom(32)
    blob, _ = make_archive(data_key=key)
    other, _ = make_archive(data_key=key)
    (a, la), (b, lb) = chunk_spans(blob)[2], chunk_spans(other)[2]
    spliced = blob[:a] + other[b:b + lb] + blob[a + la:]
    with pytest.raises(ArchiveError) as err:
        read_all(spliced, key)
    assert err.value.code == "chunk_damaged"


def test_appended_data_is_refused():
    blob, key = make_archive()
    with pytest.raises(ArchiveError):
        read_all(blob + b"extra", key)
    with pytest.raises(ArchiveError):
        src = io.BytesIO(blob + b"x" * 24)
        ArchiveReader(src, key, read_header(src)).manifest()


def test_the_wrong_data_key_is_refused():
    blob, _ = make_archive()
    with pytest.raises(ArchiveError) as err:
        read_all(blob, os.urandom(32))
    assert err.value.code == "chunk_damaged"


def test_a_dropped_middle_chunk_is_refused():
    blob, key = make_archive()
    a, la = chunk_spans(blob)[4]
    with pytest.raises(ArchiveError):
        read_all(blob[:a] + blob[a + la:], key)


def test_not_an_archive():
    with pytest.raises(ArchiveError) as err:
        read_header(io.BytesIO(b"PK\x03\x04" + b"\x00" * HEADER_SIZE))
    assert err.value.code == "not_an_archive"


def test_a_manifest_that_disagrees_with_the_parts_is_refused():
    """Someone holding the data key rebuilds an archive whose manifest lists other counts."""
    key = os.urandom(32)
    archive_id = secrets.token_hex(16)
    header = Header(archive_id=archive_id, key_id="b1", wrapped={"kid": "b1", "nonce": "00" * 12, "ct": "00" * 48}, created_at="2026-12-02T00:00:00Z")
    out = io.BytesIO()
    w = ArchiveWriter(out, header, key, chunk_size=CHUNK)
    w.begin_part("customers", ["id"])
    w.write_rows([[1], [2]])
    w.end_part()
    forged = [dict(w.parts[0], rows=3)]
    w.finish({"archive_id": archive_id, "parts": forged})
    with pytest.raises(ArchiveError) as err:
        read_all(out.getvalue(), key)
    assert err.value.code == "manifest_mismatch"


@pytest.mark.parametrize("body", [b"[]", b'{"format": 1, "key": "abc", "archive_id": "00"}',
                                  b'{"format": 1, "key": {"kid": "b1"}}', b"not json"])
def test_a_damaged_key_block_is_a_clear_error(body):
    from formwarden.backup.archive import MAGIC

    block = (MAGIC + struct.pack(">I", len(body)) + body).ljust(HEADER_SIZE, b"\0")
    with pytest.raises(ArchiveError) as err:
        read_header(io.BytesIO(block))
    assert err.value.code in ("header_damaged", "unsupported_format")


def test_every_byte_of_the_key_block_is_accounted_for():
    """Flips in the padding, re-cased hex digits, an impossible creation time or respaced JSON
    were accepted: the key block is read only in the exact bytes the writer produces."""
    blob, _key = make_archive(rows=10)
    header = read_header(io.BytesIO(blob))
    assert header.encode() == blob[:HEADER_SIZE]
    block = blob[:HEADER_SIZE]
    body_end = block.rstrip(b"\0").__len__()
    damaged = []
    for pos in list(range(body_end - 40, HEADER_SIZE, 97)) + [HEADER_SIZE - 1]:
        damaged.append(block[:pos] + bytes([block[pos] ^ 0x01]) + block[pos + 1:])
    text = block[:body_end].decode()
    for old, new in (('"kid": "b1"', '"kid": "B1"'), ("2026-12-02T00:00:00Z", "2026-13-40T00:00:00Z"),
                     ("2026-12-02T00:00:00Z", "1999-12-02T00:00:00Z"), (", ", ",  "), ('"format": 1', '"format": 1.0')):
        changed = text.replace(old, new, 1).encode()
        damaged.append(changed + block[len(changed):] if len(changed) <= len(text) else changed.ljust(HEADER_SIZE, b"\0"))
    upper = text.replace(header.archive_id, header.archive_id.upper()).encode()
    damaged.append(upper + block[len(upper):])
    for bad in damaged:
        if bad == block:
            continue
        with pytest.raises(ArchiveError) as err:
            read_header(io.BytesIO(bad + blob[HEADER_SIZE:]))
        assert err.value.code in ("header_damaged", "not_an_archive", "unsupported_format")
