"""The file format of the learned codec's compressed images (``.ekic``).

Layout (all integers little-endian)::

    offset  size  field
    0       4     magic b"EKIC"
    4       1     format version (uint8, currently 1)
    5       4     header length L (uint32)
    9       L     header: UTF-8 JSON object (see below)
    9+L     S     the entropy-coded streams, concatenated in order (S = sum of stream_lengths)
    9+L+S   4     CRC-32 (zlib.crc32, uint32) of bytes [0, 9+L+S)

Header keys (all required; further JSON keys are kept and returned unchanged):

* ``model`` (str): registry name of the model, e.g. ``"mlicv2"``.
* ``config`` (JSON object): the model configuration needed to rebuild the network.
* ``checkpoint_hash`` (str): hash of the weights; decoding with other weights gives garbage,
  so the decoder should compare it with its own checkpoint.
* ``height``, ``width`` (int > 0): the ORIGINAL image size in pixels (before padding); bpp and
  the final crop use it.
* ``latent_shape`` (list of int > 0): the padded latent shape the decoder needs (the ``shape``
  that compressai's ``decompress(strings, shape)`` takes).
* ``stream_lengths`` (list of int >= 0): written by :func:`write_container` (not by the caller):
  the byte length of each stream.

Streams follow compressai's ``strings`` layout: ``list[list[bytes]]``, one inner list per
entropy-coded tensor (e.g. ``[y_strings, z_strings]``) holding one ``bytes`` per batch element.
Only batch size 1 is supported (each inner list has exactly one element): one file holds one
image.

Every malformed input raises :class:`ContainerError` (a ``ValueError``) without reading more
than the file holds: the header length is checked against the file size before anything is
allocated, the stream lengths against the payload, and the CRC over everything.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

__all__ = ["FORMAT_VERSION", "MAGIC", "ContainerError", "read_container", "write_container"]

#: File signature of an entropykit compressed image.
MAGIC = b"EKIC"
#: Version of the layout written by :func:`write_container`; the only one :func:`read_container`
#: accepts.
FORMAT_VERSION = 1

_PREFIX = struct.Struct("<4sBI")  # magic, version, header length
_CRC = struct.Struct("<I")
_MIN_SIZE = _PREFIX.size + _CRC.size
_REQUIRED: dict[str, str] = {
    "model": "a non-empty string",
    "config": "a JSON object (dict)",
    "checkpoint_hash": "a string",
    "height": "an integer > 0 (original image height in pixels)",
    "width": "an integer > 0 (original image width in pixels)",
    "latent_shape": "a non-empty list of integers > 0",
}
_LENGTHS_KEY = "stream_lengths"


class ContainerError(ValueError):
    """A compressed-image file that cannot be read: foreign, truncated, corrupted or of an
    unsupported version."""


def _is_int(value: object, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _header_problem(header: Mapping[str, Any]) -> str | None:
    """What is wrong with the user part of a header, or None."""
    for key, what in _REQUIRED.items():
        if key not in header:
            return f"missing key {key!r} ({what})"
    model, config, digest = header["model"], header["config"], header["checkpoint_hash"]
    if not isinstance(model, str) or not model:
        return f"'model' must be {_REQUIRED['model']}, got {model!r}"
    if not isinstance(config, dict):
        return f"'config' must be {_REQUIRED['config']}, got {type(config).__name__}"
    if not isinstance(digest, str):
        return f"'checkpoint_hash' must be a string, got {digest!r}"
    for key in ("height", "width"):
        if not _is_int(header[key], 1):
            return f"{key!r} must be {_REQUIRED[key]}, got {header[key]!r}"
    shape = header["latent_shape"]
    if not isinstance(shape, list | tuple) or not shape or not all(_is_int(s, 1) for s in shape):
        return f"'latent_shape' must be {_REQUIRED['latent_shape']}, got {shape!r}"
    return None


def _check_strings(strings: object) -> list[bytes]:
    """The streams of a compressai ``strings`` list (batch size 1), flattened."""
    if not isinstance(strings, list | tuple) or not strings:
        raise ValueError(
            "strings must be a non-empty list with one list of bytes per entropy-coded tensor "
            f"(compressai's out['strings']), got {strings!r:.80}"
        )
    streams = []
    for i, per_tensor in enumerate(strings):
        if not isinstance(per_tensor, list | tuple) or len(per_tensor) != 1:
            got = len(per_tensor) if isinstance(per_tensor, list | tuple) else type(per_tensor)
            raise ValueError(
                f"strings[{i}] must be a list holding exactly one bytes object (batch size 1 "
                f"only; compress one image per file), got {got!r}"
            )
        stream = per_tensor[0]
        if not isinstance(stream, bytes | bytearray):
            raise ValueError(f"strings[{i}][0] must be bytes, got {type(stream).__name__}")
        streams.append(bytes(stream))
    return streams


def _pack(header: Mapping[str, Any], strings: object) -> bytes:
    if not isinstance(header, Mapping):
        raise ValueError(f"header must be a dict, got {type(header).__name__}")
    if _LENGTHS_KEY in header:
        raise ValueError(
            f"header must not contain {_LENGTHS_KEY!r}; write_container sets it from the streams"
        )
    problem = _header_problem(header)
    if problem is not None:
        raise ValueError(f"invalid header: {problem}")
    streams = _check_strings(strings)
    full = dict(header)
    full["latent_shape"] = list(full["latent_shape"])
    full[_LENGTHS_KEY] = [len(s) for s in streams]
    try:
        text = json.dumps(full, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"header must be JSON-serialisable (str, int, finite float, bool, None, lists and "
            f"dicts with str keys): {err}"
        ) from err
    encoded = text.encode("utf-8")
    if len(encoded) > 0xFFFFFFFF:
        raise ValueError(f"header is too large ({len(encoded)} bytes, limit 4 GiB)")
    body = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(encoded)) + encoded + b"".join(streams)
    return body + _CRC.pack(zlib.crc32(body))


def write_container(
    path_or_filelike: str | os.PathLike[str] | IO[bytes],
    header: Mapping[str, Any],
    strings: list[list[bytes]],
) -> int:
    """Write one compressed image.

    Everything is validated and assembled in memory before the destination is touched, so an
    invalid call writes nothing.

    Args:
        path_or_filelike: a file path (created or overwritten) or a binary file object opened
            for writing (written at its current position, not closed).
        header: the header keys listed in the module docstring, without ``stream_lengths``.
        strings: compressai's ``out["strings"]`` for ONE image: ``[[bytes], [bytes], ...]``.

    Returns:
        The number of bytes written (the file size; use it for bpp).

    Raises:
        ValueError: a header with missing/mistyped keys or non-JSON values, or ``strings`` not
            in the batch-size-1 compressai layout.
    """
    blob = _pack(header, strings)
    if isinstance(path_or_filelike, str | os.PathLike):
        Path(path_or_filelike).write_bytes(blob)
    elif hasattr(path_or_filelike, "write"):
        path_or_filelike.write(blob)
    else:
        raise ValueError(
            "path_or_filelike must be a path or a binary file object, got "
            f"{type(path_or_filelike).__name__}"
        )
    return len(blob)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _parse(data: bytes) -> tuple[dict[str, Any], list[list[bytes]]]:
    size = len(data)
    if size == 0:
        raise ContainerError("not an entropykit compressed image (empty file)")
    if size < len(MAGIC):
        if data == MAGIC[:size]:
            raise ContainerError(f"truncated file: {size} bytes, the format needs >= {_MIN_SIZE}")
        raise ContainerError("not an entropykit compressed image (no EKIC signature)")
    if data[: len(MAGIC)] != MAGIC:
        raise ContainerError("not an entropykit compressed image (no EKIC signature)")
    if size < _MIN_SIZE:
        raise ContainerError(f"truncated file: {size} bytes, the format needs >= {_MIN_SIZE}")
    _, version, header_len = _PREFIX.unpack_from(data)
    if version != FORMAT_VERSION:
        raise ContainerError(
            f"unsupported container version {version}; this entropykit reads version "
            f"{FORMAT_VERSION} (upgrade entropykit-compression, or the file is corrupted)"
        )
    if header_len > size - _MIN_SIZE:
        raise ContainerError(
            f"truncated or corrupted file: the header length field says {header_len} bytes "
            f"but only {size - _MIN_SIZE} bytes can follow"
        )
    # The CRC is checked after the structure so truncation gets its own message; until then
    # nothing is trusted beyond its bounds check.
    crc_ok = zlib.crc32(data[: -_CRC.size]) == _CRC.unpack_from(data, size - _CRC.size)[0]
    corrupted = "corrupted file: CRC-32 mismatch"

    start = _PREFIX.size
    try:
        header = json.loads(
            data[start : start + header_len].decode("utf-8"), parse_constant=_reject_constant
        )
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError/JSONDecodeError included
        raise ContainerError(corrupted if not crc_ok else f"bad JSON header: {err}") from None
    if not isinstance(header, dict):
        raise ContainerError(corrupted if not crc_ok else "bad JSON header: not a JSON object")
    lengths = header.pop(_LENGTHS_KEY, None)
    problem = _header_problem(header)
    if problem is None and (
        not isinstance(lengths, list) or not lengths or not all(_is_int(n, 0) for n in lengths)
    ):
        problem = f"{_LENGTHS_KEY!r} must be a non-empty list of integers >= 0"
    if problem is not None:
        raise ContainerError(corrupted if not crc_ok else f"bad header: {problem}")

    payload_start = start + header_len
    expected = payload_start + sum(lengths) + _CRC.size
    if size < expected:
        raise ContainerError(
            f"truncated file: {size} bytes, the header announces {expected} "
            f"({sum(lengths)} bytes of streams)"
        )
    if size > expected:
        raise ContainerError(
            corrupted
            if not crc_ok
            else f"stream lengths do not match the payload: the header announces {expected} "
            f"bytes in all, the file has {size}"
        )
    if not crc_ok:
        raise ContainerError(corrupted)
    strings: list[list[bytes]] = []
    offset = payload_start
    for n in lengths:
        strings.append([data[offset : offset + n]])
        offset += n
    return header, strings


def read_container(
    path_or_bytes: str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes],
) -> tuple[dict[str, Any], list[list[bytes]]]:
    """Read one compressed image written by :func:`write_container`.

    A path or file object is read in two steps: the 9-byte prefix first, and the rest only when
    it starts with the signature, so feeding a large foreign file costs no memory.

    Args:
        path_or_bytes: a file path, the file's bytes, or a binary file object (read from its
            current position to the end).

    Returns:
        ``(header, strings)``: the header as written (``stream_lengths`` removed) and the
        streams in compressai's layout ``[[bytes], [bytes], ...]`` (batch size 1).

    Raises:
        ContainerError: not an entropykit file ("not an entropykit compressed image"),
            unsupported version, truncated file, bad JSON header, stream lengths that do not
            match the payload, or a CRC mismatch ("corrupted").
        ValueError: an argument of another type. OSError: the path cannot be opened.
    """
    if isinstance(path_or_bytes, bytes | bytearray | memoryview):
        return _parse(bytes(path_or_bytes))
    if isinstance(path_or_bytes, str | os.PathLike):
        with open(path_or_bytes, "rb") as fh:
            return _read_stream(fh)
    if hasattr(path_or_bytes, "read"):
        return _read_stream(path_or_bytes)
    raise ValueError(
        "path_or_bytes must be a path, bytes or a binary file object, got "
        f"{type(path_or_bytes).__name__}"
    )


def _read_stream(fh: IO[bytes]) -> tuple[dict[str, Any], list[list[bytes]]]:
    prefix = fh.read(_PREFIX.size)
    if not isinstance(prefix, bytes):
        raise ValueError("the file object must be opened in binary mode ('rb')")
    if len(prefix) < _PREFIX.size or prefix[: len(MAGIC)] != MAGIC:
        return _parse(prefix)  # raises the foreign/truncated error
    return _parse(prefix + fh.read())
