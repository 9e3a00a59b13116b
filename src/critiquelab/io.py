"""Atomic file writes (as readable as the umask allows), JSONL reading with clear errors, and
stable hashing."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from critiquelab.errors import UsageError

_UMASK_LOCK = threading.Lock()


def umask() -> int:
    """The process umask (reading it means setting it, hence the lock)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def temp_dir(parent: str | Path, prefix: str, suffix: str = ".tmp") -> Path:
    """A fresh directory in `parent` with the mode mkdir would give (mkdtemp gives 0700), so
    a group the umask lets read can read what is renamed into place from it."""
    path = Path(tempfile.mkdtemp(dir=parent, prefix=prefix, suffix=suffix))
    path.chmod(0o777 & ~umask())
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write bytes so that readers see the old file or the whole new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~umask())  # mkstemp's 0600 would hide the file from the group
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_jsonl(path: str | Path, records: Iterable[dict]) -> int:
    """Atomically write records as JSONL; returns how many were written."""
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def iter_jsonl(stream: TextIO, source: str = "<stdin>") -> Iterator[dict]:
    """Yield JSON objects from a JSONL stream; a bad line raises UsageError naming it."""
    for lineno, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise UsageError(f"{source}:{lineno}: not valid JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise UsageError(f"{source}:{lineno}: expected a JSON object")
        yield obj


def read_jsonl(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    with path.open(encoding="utf-8") as f:
        return list(iter_jsonl(f, str(path)))


def require_field(obj: dict, field: str, kind: type, where: str) -> Any:
    """Return obj[field] if present and of the right type, else raise UsageError naming it."""
    if field not in obj:
        raise UsageError(f"{where}: missing field '{field}'")
    value = obj[field]
    if not isinstance(value, kind):
        raise UsageError(f"{where}: field '{field}' must be {kind.__name__}")
    return value


def stable_hash(obj: Any, length: int = 16) -> str:
    """Hex digest of a JSON-serialisable object, stable across runs and machines."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def ensure_writable_dir(path: str | Path) -> Path:
    """Create path if needed and check it is writable, else raise UsageError."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-probe"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise UsageError(f"cannot write to {path}: {e.strerror or e}") from None
    return path
