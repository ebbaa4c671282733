"""Downloading dumps and their published .CHECKSUM from data.binance.vision."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx

from include.history.dumps.errors import DumpError, DumpNotFound
from include.history.dumps.read import CHUNK
from include.history.dumps.verify import _optional, parse_checksum
from include.platform.binance_rest.client import tls_context


def _progress(total: int | None, desc: str, unit: str = "B", *, show: bool = True):
    from tqdm import tqdm

    # Drawn only on a terminal: a disabled bar does nothing.
    disable = not (show and sys.stderr.isatty())
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, leave=False, disable=disable)


def http_client() -> httpx.Client:
    """The client dumps and their .CHECKSUM files are fetched with (data.binance.vision
    redirects; a month's zip takes a while), on the process's one TLS context."""
    return httpx.Client(timeout=120, follow_redirects=True, verify=tls_context())


def download(
    url: str, folder: Path, client: httpx.Client, *, require_checksum: bool = True
) -> tuple[Path, str | None]:
    """Fetch a dump into folder; return its path and the sha256 its .CHECKSUM publishes.

    The digest is None only when ``require_checksum`` is False and no usable one was published.
    """
    name = url.rsplit("/", 1)[-1]
    target = folder / name
    with client.stream("GET", url) as response:
        if response.status_code == 404:
            raise DumpNotFound(f"{url}: not found (HTTP 404): is the day published yet?")
        if response.status_code != 200:
            raise DumpError(f"{url}: HTTP {response.status_code}")
        size = int(response.headers.get("content-length") or 0) or None
        with _progress(size, name) as bar, target.open("wb") as out:
            for chunk in response.iter_bytes(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
    return target, _optional(lambda: published_sha256(url, client), require_checksum)


def published_sha256(url: str, client: httpx.Client) -> str:
    """The sha256 in the .CHECKSUM beside a dump URL; DumpError when missing or unreadable."""
    name = url.rsplit("/", 1)[-1]
    side = f"{name}.CHECKSUM"
    try:
        response = client.get(url + ".CHECKSUM")
    except httpx.HTTPError as err:
        raise DumpError(f"{side}: unreadable ({type(err).__name__}: {err})") from err
    if response.status_code == 404:
        raise DumpError(f"{side}: not found (HTTP 404) at {url}.CHECKSUM")
    if response.status_code != 200:
        raise DumpError(f"{side}: unreadable (HTTP {response.status_code})")
    return parse_checksum(response.text, name)
