"""The .ekic container of the learned codec: round trips, and a clean ContainerError for every
foreign, truncated or corrupted input."""

from __future__ import annotations

import io
import json
import struct
import zlib

import pytest
from entropykit_compression.container import (
    FORMAT_VERSION,
    MAGIC,
    ContainerError,
    read_container,
    write_container,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from entropykit_shared.testing import assert_bad_input


def make_header(**extra):
    header = {
        "model": "mlicv2",
        "config": {"N": 64, "M": 128, "slices": 4, "flags": {"stm": True, "gsc": False}},
        "checkpoint_hash": "sha256:0123abcd",
        "height": 130,
        "width": 190,
        "latent_shape": [3, 4],
    }
    header.update(extra)
    return header


STRINGS = [[b"\x00\x01y-stream\xff"], [b"z"]]


def container_bytes(header=None, strings=None) -> bytes:
    buffer = io.BytesIO()
    write_container(buffer, header or make_header(), strings or STRINGS)
    return buffer.getvalue()


def raw_container(header_bytes: bytes, payload: bytes, version: int = FORMAT_VERSION) -> bytes:
    """A container assembled by hand with a VALID CRC, for the structural error paths."""
    body = MAGIC + struct.pack("<BI", version, len(header_bytes)) + header_bytes + payload
    return body + struct.pack("<I", zlib.crc32(body))


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 10, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


# --------------------------------------------------------------------------------- round trip


def test_round_trip_bytes_path_and_file(tmp_path):
    header = make_header(note="extra keys are kept", psnr=31.25)
    data = container_bytes(header)
    assert data.startswith(MAGIC)
    assert data[4] == FORMAT_VERSION
    assert read_container(data) == (header, STRINGS)
    assert read_container(bytearray(data)) == (header, STRINGS)

    path = tmp_path / "image.ekic"
    written = write_container(path, header, STRINGS)
    assert written == path.stat().st_size == len(data)
    assert read_container(path) == (header, STRINGS)
    assert read_container(str(path)) == (header, STRINGS)
    with path.open("rb") as fh:
        assert read_container(fh) == (header, STRINGS)


def test_layout_is_as_documented():
    data = container_bytes()
    magic, version, header_len = struct.unpack_from("<4sBI", data)
    assert (magic, version) == (b"EKIC", 1)
    header = json.loads(data[9 : 9 + header_len])
    assert header["stream_lengths"] == [len(s[0]) for s in STRINGS]
    payload = data[9 + header_len : -4]
    assert payload == b"".join(s[0] for s in STRINGS)
    assert struct.unpack("<I", data[-4:])[0] == zlib.crc32(data[:-4])


def test_file_object_is_read_from_its_position_and_empty_streams_survive():
    strings = [[b""], [b"abc"], [b""]]
    data = container_bytes(strings=strings)
    fh = io.BytesIO(b"prefix" + data)
    fh.seek(6)
    assert read_container(fh) == (make_header(), strings)


def test_tuple_latent_shape_reads_back_as_list():
    header, _ = read_container(container_bytes(make_header(latent_shape=(2, 2))))
    assert header["latent_shape"] == [2, 2]


@settings(max_examples=60, deadline=None)
@given(
    streams=st.lists(st.binary(max_size=64), min_size=1, max_size=5),
    config=st.dictionaries(
        st.text(max_size=8),
        st.one_of(st.integers(), st.text(max_size=8), st.booleans(), st.none()),
        max_size=4,
    ),
    size=st.tuples(st.integers(1, 10_000), st.integers(1, 10_000)),
)
def test_round_trip_property(streams, config, size):
    header = make_header(config=config, height=size[0], width=size[1], model="m\u00e9")
    strings = [[s] for s in streams]
    assert read_container(container_bytes(header, strings)) == (header, strings)


# ----------------------------------------------------------------------- corrupted / foreign


def test_every_single_byte_flip_raises():
    data = container_bytes()
    for position in range(len(data)):
        for mask in (0x01, 0xFF):
            corrupted = bytearray(data)
            corrupted[position] ^= mask
            with pytest.raises(ContainerError):
                read_container(bytes(corrupted))


def test_every_truncation_raises():
    data = container_bytes()
    for length in range(len(data)):
        with pytest.raises(ContainerError):
            read_container(data[:length])
    with pytest.raises(ContainerError, match="truncated"):
        read_container(data[:-1])
    with pytest.raises(ContainerError, match="truncated"):
        read_container(data[:6])


def test_foreign_files_are_rejected(tmp_path):
    message = "not an entropykit compressed image"
    assert_bad_input(read_container, png_bytes(), match=message, error=ContainerError)
    path = tmp_path / "photo.png"
    path.write_bytes(png_bytes())
    assert_bad_input(read_container, path, match=message, error=ContainerError)
    assert_bad_input(read_container, b"", match=message, error=ContainerError)
    assert_bad_input(read_container, b"GIF89a", match=message, error=ContainerError)
    assert issubclass(ContainerError, ValueError)


def test_foreign_stream_reads_only_the_prefix():
    class Recorder(io.BytesIO):
        requests: list[int]

        def read(self, size=-1):
            self.requests.append(size)
            return super().read(size)

    fh = Recorder(b"\x89PNG" + b"\0" * 100_000)
    fh.requests = []
    with pytest.raises(ContainerError, match="not an entropykit"):
        read_container(fh)
    assert fh.requests == [9]


def test_structural_errors_have_clear_messages():
    header = make_header()
    payload = b"".join(s[0] for s in STRINGS)
    good = dict(header, stream_lengths=[len(s[0]) for s in STRINGS])
    text = json.dumps(good).encode()
    assert read_container(raw_container(text, payload)) == (header, STRINGS)

    cases = [
        (raw_container(text, payload, version=2), "unsupported container version 2"),
        (raw_container(b"{not json", payload), "bad JSON header"),
        (raw_container(b"\xff\xfe", payload), "bad JSON header"),
        (raw_container(b"[1, 2]", payload), "not a JSON object"),
        (raw_container(b'{"a": NaN}', payload), "bad JSON header"),
        (raw_container(b"[" * 100_000 + b"]" * 100_000, payload), "bad JSON header"),
        (raw_container(json.dumps(header).encode(), payload), "stream_lengths"),
        (raw_container(text, payload + b"!"), "stream lengths do not match the payload"),
        (raw_container(text, payload[:-1]), "truncated"),
    ]
    missing = {k: v for k, v in good.items() if k != "checkpoint_hash"}
    cases.append((raw_container(json.dumps(missing).encode(), payload), "checkpoint_hash"))
    negative = dict(good, height=-3)
    cases.append((raw_container(json.dumps(negative).encode(), payload), "height"))
    for data, match in cases:
        assert_bad_input(read_container, data, match=match, error=ContainerError)

    crc_flip = bytearray(container_bytes())
    crc_flip[-1] ^= 0x10
    assert_bad_input(read_container, bytes(crc_flip), match="corrupted", error=ContainerError)
    payload_flip = bytearray(container_bytes())
    payload_flip[-6] ^= 0x10
    assert_bad_input(read_container, bytes(payload_flip), match="corrupted", error=ContainerError)


def test_absurd_header_length_is_rejected_without_allocating():
    data = MAGIC + struct.pack("<BI", FORMAT_VERSION, 0xFFFFFFFF) + b"{}" + b"\0" * 4
    assert_bad_input(read_container, data, match="header length field", error=ContainerError)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_only_raise_container_error(data):
    with pytest.raises(ContainerError):
        read_container(MAGIC + data)


# ---------------------------------------------------------------------------------- bad input


def test_write_bad_input_writes_nothing(tmp_path):
    path = tmp_path / "out.ekic"
    header = make_header()

    def check(h, s, match):
        assert_bad_input(write_container, path, h, s, match=match, untouched=tmp_path)

    check(header, [[b"a", b"b"]], "batch size 1")
    check(header, [], "non-empty list")
    check(header, [b"abc"], "exactly one bytes")
    check(header, [["text"]], "must be bytes")
    check(dict(header, stream_lengths=[1]), STRINGS, "sets it from the streams")
    check({k: v for k, v in header.items() if k != "model"}, STRINGS, "missing key 'model'")
    check(make_header(height=0), STRINGS, "'height' must be an integer > 0")
    check(make_header(width=True), STRINGS, "'width'")
    check(make_header(latent_shape=[]), STRINGS, "latent_shape")
    check(make_header(config=[1]), STRINGS, "'config' must be a JSON object")
    check(make_header(checkpoint_hash=None), STRINGS, "checkpoint_hash")
    check(make_header(extra={1, 2}), STRINGS, "JSON-serialisable")
    check(make_header(extra=float("nan")), STRINGS, "JSON-serialisable")
    check([("model", "x")], STRINGS, "header must be a dict")
    assert not path.exists()


def test_read_and_write_reject_other_argument_types():
    assert_bad_input(read_container, 12, match="path, bytes or a binary file")
    assert_bad_input(write_container, 12, make_header(), STRINGS, match="path or a binary file")
    assert_bad_input(read_container, io.StringIO("EKIC"), match="binary mode")
