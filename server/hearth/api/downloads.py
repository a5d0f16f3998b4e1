"""Download headers: a file named in any script survives the trip to the browser."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote


def ascii_fallback(filename: str) -> str:
    """The name in plain ASCII for old clients: accents dropped ("Éclair" -> "Eclair"),
    other letters gone; "character" when nothing is left ("나래.png" -> "character.png")."""
    stem, dot, suffix = filename.rpartition(".")
    if not dot:
        stem, suffix = filename, ""
    plain = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    plain = re.sub(r"[^A-Za-z0-9_-]+", "_", plain).strip("_") or "character"
    return f"{plain}{dot}{re.sub(r'[^A-Za-z0-9]+', '', suffix)}"


def attachment(filename: str) -> str:
    """Content-Disposition for a download named `filename` (RFC 6266): an ASCII `filename`
    and the exact name as UTF-8 in `filename*` (RFC 5987), which browsers prefer."""
    exact = quote(unicodedata.normalize("NFC", filename), safe="")
    return f"attachment; filename=\"{ascii_fallback(filename)}\"; filename*=UTF-8''{exact}"
