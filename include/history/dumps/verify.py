"""Checksums: the sha256 a .CHECKSUM publishes, and a dump file checked against it."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from pathlib import Path

from include.history.dumps.errors import DumpError

logger = logging.getLogger(__name__)

UNVERIFIED = "refusing an unverified dump (--no-checksum / require_checksum=False imports it)"


def local_sha256(path: Path) -> str | None:
    """The sha256 in the .CHECKSUM beside a local file; None when there is none.

    Local dumps are often unzipped or copied without one, so only a present one is checked.
    """
    side = path.with_name(path.name + ".CHECKSUM")
    if not side.exists():
        return None
    try:
        text = side.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise DumpError(f"{side.name}: unreadable ({err})") from err
    return parse_checksum(text, path.name)


def parse_checksum(text: str, file_name: str) -> str:
    """The digest of a sha256sum line ('<64 hex>  <file>') that names file_name (or nothing)."""
    parts = text.split()
    named = parts[1].lstrip("*") if len(parts) == 2 else file_name
    if not 1 <= len(parts) <= 2 or not re.fullmatch(r"[0-9a-fA-F]{64}", parts[0]):
        raise DumpError(f"{file_name}.CHECKSUM: not in sha256sum format ('<64 hex>  <file>')")
    if named != file_name:
        raise DumpError(f"{file_name}.CHECKSUM: is the checksum of {named}, not of {file_name}")
    return parts[0].lower()


def _optional(read: Callable[[], str | None], required: bool) -> str | None:
    """read(), or, when not required, None with a warning instead of its DumpError."""
    try:
        return read()
    except DumpError as err:
        if required:
            raise DumpError(f"{err}: {UNVERIFIED}") from err
        logger.warning("%s: importing without checksum verification (--no-checksum)", err)
        return None


def verify_checksum(path: Path, expected: str | None) -> str:
    """The file's sha256, after checking it against the published one when there is one."""
    with path.open("rb") as handle:
        actual = hashlib.file_digest(handle, "sha256").hexdigest()
    if expected is not None and expected != actual:
        raise DumpError(
            f"{path.name}: checksum mismatch: the file's sha256 is {actual}, "
            f".CHECKSUM says {expected}"
        )
    return actual
