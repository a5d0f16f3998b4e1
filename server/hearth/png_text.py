"""PNG chunks, as character cards use them: read and verify, write, and find text.

A PNG is a signature followed by chunks (length, type, body, CRC) up to IEND.
Text lives in tEXt, zTXt (compressed) or iTXt (optionally compressed) chunks,
each starting with a keyword. Stdlib only; every error names what is wrong
with the file so a user can act on it.
"""

from __future__ import annotations

import struct
import zlib

from hearth.card_checks import describe_size
from hearth.errors import InvalidInput, TooLarge

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
_IMAGE_CHUNKS = (b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND")

Chunk = tuple[bytes, bytes]  # (type, body)


def is_png(raw: bytes) -> bool:
    return raw[:8] == PNG_SIGNATURE


def read_chunks(raw: bytes) -> list[Chunk]:
    """Walk and verify every chunk up to IEND (lengths, types, CRCs, IHDR first).

    Bytes after IEND are ignored (some tools append junk there).
    """
    if not is_png(raw):
        raise _bad_png("the PNG signature is missing")
    chunks: list[Chunk] = []
    pos = len(PNG_SIGNATURE)
    while not chunks or chunks[-1][0] != b"IEND":
        if pos + 12 > len(raw):
            raise _bad_png("the file ends before the IEND chunk (it is truncated)")
        length, ctype = struct.unpack(">I4s", raw[pos:pos + 8])
        if not ctype.isalpha():
            raise _bad_png(f"garbled chunk header at byte {pos}")
        end = pos + 12 + length
        if end > len(raw):
            raise _bad_png(
                f"the {ctype.decode()} chunk at byte {pos} is cut off (the file is truncated)"
            )
        body = raw[pos + 8:end - 4]
        if zlib.crc32(ctype + body) != struct.unpack(">I", raw[end - 4:end])[0]:
            raise _bad_png(
                f"the {ctype.decode()} chunk at byte {pos} has a bad checksum (the file is damaged)"
            )
        chunks.append((ctype, body))
        pos = end
    if chunks[0][0] != b"IHDR" or len(chunks[0][1]) != 13:
        raise _bad_png("it does not start with an IHDR header chunk")
    if not any(ctype == b"IDAT" for ctype, _ in chunks):
        raise _bad_png("it has no image data (IDAT chunk)")
    return chunks


def build_png(chunks: list[Chunk]) -> bytes:
    out = [PNG_SIGNATURE]
    for ctype, body in chunks:
        crc = zlib.crc32(ctype + body)
        out.append(struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", crc))
    return b"".join(out)


def image_size(chunks: list[Chunk]) -> tuple[int, int]:
    """(width, height) from the IHDR chunk `read_chunks` checked: known before any decoding."""
    width, height = struct.unpack(">II", chunks[0][1][:8])
    if width == 0 or height == 0:
        raise _bad_png("its header gives the image no width or height")
    return width, height


def image_only(chunks: list[Chunk]) -> list[Chunk]:
    """The chunks a browser needs to draw the image: the critical ones and transparency.
    Text (a card's own data among it), profiles, thumbnails and the rest are dropped."""
    return [c for c in chunks if c[0] in _IMAGE_CHUNKS]


def without_text(chunks: list[Chunk], keywords: tuple[str, ...]) -> list[Chunk]:
    """The chunks less any text chunk whose keyword (lower-cased) is in `keywords`."""
    return [c for c in chunks if _text_keyword(*c) not in keywords]


def find_text(
    chunks: list[Chunk], keywords: tuple[str, ...], max_bytes: int
) -> tuple[str, bytes] | None:
    """Return (keyword, raw text) of a text chunk for the first of `keywords` present.

    Compressed text is inflated to at most `max_bytes` (TooLarge beyond that).
    """
    found: dict[str, Chunk] = {}
    for ctype, body in chunks:
        keyword = _text_keyword(ctype, body)
        if keyword in keywords:
            found.setdefault(keyword, (ctype, body))
    for keyword in keywords:
        if keyword in found:
            return keyword, _text_value(*found[keyword], keyword, max_bytes)
    return None


def _bad_png(reason: str) -> InvalidInput:
    return InvalidInput(
        f"not a valid PNG: {reason}. Re-save the image with an image editor, "
        "or import the card's JSON instead"
    )


def _text_keyword(ctype: bytes, body: bytes) -> str | None:
    if ctype not in _TEXT_CHUNKS:
        return None
    keyword, sep, _ = body.partition(b"\0")
    return keyword.decode("latin-1").lower() if sep else None


def _text_value(ctype: bytes, body: bytes, keyword: str, max_bytes: int) -> bytes:
    """The text of a tEXt, zTXt or iTXt chunk (layouts per the PNG spec)."""
    rest = body.partition(b"\0")[2]
    if ctype == b"tEXt":
        return rest
    if ctype == b"zTXt":  # method byte, then zlib data
        return _inflate(rest[1:], keyword, max_bytes)
    # iTXt: compression flag, method, language\0, translated keyword\0, text
    if len(rest) < 2:
        raise _bad_png(f"the '{keyword}' iTXt chunk is malformed")
    compressed = rest[0] == 1
    parts = rest[2:].split(b"\0", 2)
    if len(parts) != 3:
        raise _bad_png(f"the '{keyword}' iTXt chunk is malformed")
    return _inflate(parts[2], keyword, max_bytes) if compressed else parts[2]


def _inflate(blob: bytes, keyword: str, max_bytes: int) -> bytes:
    # Bounded, so a small compressed chunk cannot expand into gigabytes.
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(blob, max_bytes + 1)
    except zlib.error:
        raise _bad_png(f"the '{keyword}' chunk's compressed text is damaged") from None
    if len(out) > max_bytes:
        raise TooLarge(
            f"the '{keyword}' chunk expands to more than {describe_size(max_bytes)}; "
            "this card is too large to import"
        )
    if not inflater.eof:
        raise _bad_png(f"the '{keyword}' chunk's compressed text is truncated")
    return out
