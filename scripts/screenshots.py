"""Screenshots of the web client for the README, at phone and laptop size.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

Starts `hearth serve` (default models) on a fresh data dir with a small demo household:
an owner, a second character, a conversation and a few facts. Then Debian's Chromium
(headless, through Playwright; no browser download) logs in and takes each screen:
login, gallery, chat, character editor, memory panel, and a call after one spoken turn
(the fake microphone plays a sentence the server's own Piper voice said). Writes
`<screen>-<size>.png` into the output folder.
"""

from __future__ import annotations

import argparse
import base64
import shutil
import struct
import tempfile
import wave
import zlib
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from benchkit import ROOT, hearth_cli, hearth_server
from playwright.sync_api import sync_playwright

SIZES = {"phone": {"width": 390, "height": 844}, "laptop": {"width": 1280, "height": 800}}
OWNER, PASSWORD = "Sam", "a long demo password"
SPOKEN = "What should I cook tonight?"
TURN_TIMEOUT_S = 300  # one spoken turn on a busy small CPU

HISTORY = [
    ("user", "I finally repotted the fig tree on the balcony."),
    ("assistant", "Good! Did the roots look healthy, or was it badly root-bound?"),
    ("user", "Root-bound, a bit. I gave it a bigger pot and some fresh compost."),
    ("assistant", "It will thank you by spring. Keep it out of the afternoon wind for a week."),
    ("user", "Will do. My sister Lena visits on Saturday, by the way."),
    ("assistant", "Lovely! Is she the one who bakes? You could show her the fig."),
]
FACTS = ["Has a fig tree on the balcony", "Sister: Lena, visits on Saturday",
         "Prefers vegetarian food"]
SECOND_CHARACTER = {
    "name": "Captain Mirelle",
    "description": "A retired ship's captain who tells long stories about the northern seas.",
    "personality": "gruff, warm, curious",
    "first_mes": "Pull up a chair. The kettle is on.",
}


def seed(api: httpx.Client) -> tuple[int, int]:
    """A demo household: (the default character's id, a conversation with history)."""
    character = api.get("/api/characters").json()[0]["id"]
    api.post("/api/characters", json=SECOND_CHARACTER).raise_for_status()
    conversation = api.post("/api/conversations", json={"character_id": character}).json()["id"]
    day = "2026-11-28T18:{:02d}:00Z"
    api.post(f"/api/conversations/{conversation}/import", json={"messages": [
        {"role": role, "content": text, "created_at": day.format(i * 2)}
        for i, (role, text) in enumerate(HISTORY)]}).raise_for_status()
    for fact in FACTS:
        api.post("/api/facts", json={"character_id": character, "text": fact})
    return character, conversation


def spoken_wav(api: httpx.Client, path: Path) -> None:
    """The sentence in the default voice ("alloy" maps to it), then silence ending the turn."""
    r = api.post("/v1/audio/speech", json={"model": "tts-1", "voice": "alloy", "input": SPOKEN,
                                           "response_format": "pcm"}, timeout=120)
    r.raise_for_status()
    rate = 24_000  # `pcm` is 24 kHz 16-bit mono, like OpenAI's
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(rate) + r.content + bytes(4 * rate))  # 0.5 s, speech, 2 s


def log_in(page: Any, url: str) -> None:
    page.goto(url + "/")
    page.fill("#login-name", OWNER)
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_selector("#characters .character")


def settle(page: Any) -> None:
    page.wait_for_load_state("networkidle")
    page.evaluate("document.activeElement?.blur()")  # no focus ring or caret in the picture
    page.wait_for_timeout(300)


def shoot(page: Any, out: Path, name: str) -> None:
    settle(page)
    (out / name).write_bytes(small_png(page.context.browser, page.screenshot()))
    print(f"{name}: {(out / name).stat().st_size // 1024} KB")  # noqa: T201


PIXELS_JS = """async (png) => {
  const image = await createImageBitmap(await (await fetch('data:image/png;base64,' + png)).blob());
  const canvas = new OffscreenCanvas(image.width, image.height);
  const g = canvas.getContext('2d');
  g.drawImage(image, 0, 0);
  const data = g.getImageData(0, 0, image.width, image.height).data;
  let bytes = '';
  for (let i = 0; i < data.length; i += 0x8000) {
    bytes += String.fromCharCode.apply(null, data.subarray(i, i + 0x8000));
  }
  return [image.width, image.height, btoa(bytes)];
}"""


def small_png(browser: Any, png: bytes) -> bytes:
    """The screenshot with 256 colours (a UI has few; text edges go to the nearest one):
    about a third of the size. The browser decodes it, so no imaging library is needed."""
    page = browser.new_page()
    try:
        width, height, b64 = page.evaluate(PIXELS_JS, base64.b64encode(png).decode())
    finally:
        page.close()
    rgb = np.frombuffer(base64.b64decode(b64), np.uint8).reshape(-1, 4)[:, :3].astype(np.int32)
    keys = rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2]
    colours, pixels, counts = np.unique(keys, return_inverse=True, return_counts=True)
    palette = colours[np.argsort(-counts)[:256]]
    as_rgb = lambda k: np.stack([k >> 16, k >> 8 & 255, k & 255], axis=-1)  # noqa: E731
    nearest = np.concatenate([  # each colour's closest palette entry, a slice at a time
        ((as_rgb(part)[:, None, :] - as_rgb(palette)[None]) ** 2).sum(-1).argmin(1)
        for part in np.array_split(colours, max(1, len(colours) // 4096))])
    rows = nearest[pixels].astype(np.uint8).reshape(height, width)
    raw = np.hstack([np.zeros((height, 1), np.uint8), rows]).tobytes()  # filter 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0))
            + chunk(b"PLTE", as_rgb(palette).astype(np.uint8).tobytes())
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def screens(browser: Any, url: str, size: str, character: int, conversation: int,
            out: Path) -> None:
    context = browser.new_context(viewport=SIZES[size])
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(url + "/")
    page.wait_for_selector("#login-view:not([hidden])")
    page.fill("#login-name", OWNER)
    shoot(page, out, f"login-{size}.png")
    log_in(page, url)
    shoot(page, out, f"gallery-{size}.png")

    page.goto(f"{url}/#/chat/{conversation}")
    page.wait_for_selector("#messages .message")
    page.wait_for_selector("#facts .fact", state="attached")
    shoot(page, out, f"chat-{size}.png")
    if not page.locator("#memory").is_visible():  # on a laptop it is beside the chat
        page.click("#toggle-memory")
        page.locator("#memory").scroll_into_view_if_needed()
        shoot(page, out, f"memory-{size}.png")

    page.goto(f"{url}/#/character/{character}")
    page.wait_for_selector("#editor-view:not([hidden]) #f-name")
    page.wait_for_function("document.querySelector('#f-name').value !== ''")
    shoot(page, out, f"editor-{size}.png")
    context.close()


def call_screen(browser: Any, url: str, size: str, conversation: int, out: Path) -> None:
    """A call after one spoken turn: transcript, reply, state and latency."""
    context = browser.new_context(viewport=SIZES[size])
    context.set_default_timeout(30_000)
    page = context.new_page()
    log_in(page, url)
    page.goto(f"{url}/#/chat/{conversation}")
    page.wait_for_selector("#messages .message")
    page.click("#call")
    try:
        page.wait_for_function(
            "/\\d+ ms/.test(document.querySelector('#call-latency').textContent)",
            timeout=TURN_TIMEOUT_S * 1000)
        page.wait_for_function(
            "document.querySelector('#call-status').dataset.state === 'listening'",
            timeout=TURN_TIMEOUT_S * 1000)
    except Exception:  # noqa: BLE001 - a slow turn still gives a picture of the call
        print("the spoken turn did not finish in time; taking the call as it is")  # noqa: T201
    shoot(page, out, f"call-{size}.png")
    page.click("#call")
    context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("Chromium is not installed: `sudo apt-get install chromium`")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hearth-screens-") as tmp:
        data_dir = Path(tmp) / "data"
        # `hearth users init` with a password: the owner's API token.
        token = hearth_cli("users", "init", OWNER, "--password", "--data-dir", str(data_dir),
                           stdin=PASSWORD + "\n")
        with hearth_server(data_dir) as server:
            url = server.url
            with httpx.Client(base_url=url, timeout=60, headers={
                    "Authorization": f"Bearer {token}"}) as api, sync_playwright() as p:
                character, conversation = seed(api)
                wav = Path(tmp) / "spoken.wav"
                spoken_wav(api, wav)
                browser = p.chromium.launch(executable_path=chromium, args=[
                    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                    f"--use-file-for-fake-audio-capture={wav}%noloop",
                    "--autoplay-policy=no-user-gesture-required", "--hide-scrollbars"])
                for size in SIZES:
                    screens(browser, url, size, character, conversation, args.out)
                for size in SIZES:  # each call in a conversation of its own
                    call_conversation = api.post(
                        "/api/conversations", json={"character_id": character}).json()["id"]
                    api.post(f"/api/conversations/{call_conversation}/import", json={
                        "messages": [{"role": role, "content": text,
                                      "created_at": f"2026-11-28T18:0{i}:00Z"}
                                     for i, (role, text) in enumerate(HISTORY[-2:])]},
                    ).raise_for_status()
                    call_screen(browser, url, size, call_conversation, args.out)
                browser.close()
    total = sum(f.stat().st_size for f in args.out.glob("*.png"))
    print(f"{args.out}: {total // 1024} KB in all")  # noqa: T201


if __name__ == "__main__":
    main()
