"""Fetching a chat model that `hearth models add` was given as a URL or a model-hub name.

A source is a URL (`https://...`, `file://...`) or `owner/repo:file.gguf` on the model
hub (fetched with huggingface_hub, an optional package). The file lands in a folder the
caller owns, so a download that fails its checks leaves nothing behind.
"""

from __future__ import annotations

import re
import sys
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from hearth.errors import HearthError

HUB_REF = re.compile(r"(?P<repo>[\w.-]+/[\w.-]+):(?P<file>[\w./-]+\.gguf)")


def download_name(source: str) -> str | None:
    """The file name `source` downloads as; None if it is neither a hub name nor a URL."""
    hub = HUB_REF.fullmatch(source)
    if hub is not None:
        return Path(hub["file"]).name
    if "://" in source:
        return Path(urllib.parse.urlparse(source).path).name
    return None


def download(source: str, into: Path, *, progress: bool = True) -> Path:
    """Fetch `source` into the folder `into`, with a progress bar on stderr."""
    hub = HUB_REF.fullmatch(source)
    if hub is not None:
        try:
            from huggingface_hub import hf_hub_download
        except ImportError as e:  # pragma: no cover - install problem
            raise HearthError("downloading owner/repo:file needs huggingface_hub "
                              "(`pip install huggingface_hub`); or give a URL") from e
        try:
            return Path(hf_hub_download(hub["repo"], hub["file"], local_dir=into))
        except Exception as e:  # noqa: BLE001 - network, missing repo or file, no access
            raise HearthError(f"could not download {source} from the model hub ({e}); check "
                              "the name and the connection, or download it yourself and "
                              "`hearth models add` the file") from e
    dest = into / "download.gguf"
    try:
        with urllib.request.urlopen(source, timeout=60) as response, dest.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            bar = _progress(total, Path(urllib.parse.urlparse(source).path).name, progress)
            while chunk := response.read(1 << 20):
                out.write(chunk)
                bar(len(chunk))
            bar(0, True)
    except (OSError, ValueError) as e:
        raise HearthError(f"could not download {source}: {e}") from e
    return dest


def _progress(total: int | None, label: str, show: bool) -> Callable[..., None]:
    if not show:
        return lambda n, done=False: None
    try:
        from tqdm import tqdm
    except ImportError:
        return lambda n, done=False: None
    bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
               file=sys.stderr)

    def update(n: int, done: bool = False) -> None:
        bar.update(n)
        if done:
            bar.close()

    return update
