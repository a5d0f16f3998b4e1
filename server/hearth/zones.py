"""Time zones by IANA name: a person's, or the machine's own when they set none."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC_ZONE = ZoneInfo("UTC")


def zone_named(name: str) -> ZoneInfo | None:
    """The zone with this IANA name, or None when zoneinfo does not know it."""
    # ZoneInfo also opens relative file paths ("../x"): only plain names are asked.
    if not name or name.startswith(("/", ".")) or ".." in name or "\\" in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


@functools.cache
def local_zone() -> ZoneInfo:
    """The machine's zone, by name ($TZ, /etc/localtime's link, /etc/timezone), else UTC.

    Only a named zone will do: it is what a person's profile shows as their time zone.
    """
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        target = str(localtime.resolve())
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    try:
        candidates.append(Path("/etc/timezone").read_text().strip())
    except OSError:
        pass
    for name in candidates:
        if (zone := zone_named(name)) is not None:
            return zone
    return UTC_ZONE
