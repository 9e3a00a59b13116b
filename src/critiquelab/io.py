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


def share_tree(root: str | Path) -> None:
    """Give every file under root the mode the umask allows: libraries that write through a
    temporary file (safetensors in transformers and PEFT) leave it 0600."""
    mode = 0o666 & ~umask()
    for path in Path(root).rglob("*"):
        if path.is_file() and not path.is_symlink():
            path.chmod(mode)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write bytes so that readers see the old file or the whole new one, never a part. A path
    that cannot be written (a directory, no permission, a file where a folder should be)
    raises UsageError naming it."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"cannot write {path}: it is a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        os.fchmod(fd, 0o666 & ~umask())  # mkstemp's 0600 would hide the file from the group
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def json_line(record: Any) -> str:
    """One JSONL line, UTF-8 where it can be; a string that is not valid Unicode (a lone
    surrogate read from escaped JSON) is written escaped, so it round-trips."""
    line = json.dumps(record, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(record)
    return line


def write_jsonl(path: str | Path, records: Iterable[dict]) -> int:
    """Atomically write records as JSONL; returns how many were written."""
    lines = [json_line(r) for r in records]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def parse_json(text: str, where: str) -> Any:
    """json.loads with every way it can fail on bad input (syntax, an integer of more than
    4,300 digits, nesting too deep for the recursion limit) as one UsageError naming `where`."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"{where}: not valid JSON ({e.msg})") from None
    except ValueError as e:
        raise UsageError(f"{where}: not readable JSON ({e})") from None
    except RecursionError:
        raise UsageError(f"{where}: JSON nested too deeply") from None


def iter_jsonl(stream: TextIO, source: str = "<stdin>") -> Iterator[dict]:
    """Yield JSON objects from a JSONL stream; a bad line raises UsageError naming it."""
    for _, obj in numbered_jsonl(stream, source):
        yield obj


def numbered_jsonl(stream: TextIO, source: str) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSONL stream."""
    for lineno, line in _numbered_lines(stream, source):
        if not line.strip():
            continue
        obj = parse_json(line, f"{source}:{lineno}")
        if not isinstance(obj, dict):
            raise UsageError(f"{source}:{lineno}: expected a JSON object")
        yield lineno, obj


def _numbered_lines(stream: TextIO, source: str) -> Iterator[tuple[int, str]]:
    """(line number, line); bytes that are not UTF-8 raise UsageError naming the line."""
    lineno = 0
    lines = iter(stream)
    while True:
        try:
            line = next(lines)
        except StopIteration:
            return
        except UnicodeDecodeError:
            raise UsageError(f"{source}:{lineno + 1}: not UTF-8 text") from None
        lineno += 1
        yield lineno, line


def read_json(path: str | Path) -> Any:
    """A JSON file's content; an unreadable or malformed file raises UsageError naming it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot read ({e.strerror or e})") from None
    return parse_json(text, str(path))


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
