"""Decoding bytes into text, and telling which history format a text is in.

Detection looks only at the first meaningful line, so it is cheap and its reasons are
easy to state in an error message:

* ``INFO  jepsen.util - ...``                    -> ``porcupine-etcd`` (a Jepsen log)
* ``{"...``                                      -> ``jsonl`` (splitbrain's native format)
* ``{:process ...}`` on one line, with ``:key``   -> ``porcupine-kv``
* otherwise ``[``, ``(`` or ``{`` after ``;`` comments -> ``edn`` (Jepsen/Knossos)

A JSON array (``[{"process": ...}]``) is recognised and refused with a hint, because
reading it as EDN would fail with a confusing message.  An empty or binary input is an
error here; :func:`analysis.formats.read_history` lets an *explicit* ``porcupine-etcd``
file be empty, because Porcupine ships such a file (a Jepsen run whose cluster never
started).
"""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path
from typing import BinaryIO

from analysis.history import HistoryError

#: The largest history read by default (``splitbrain check --max-input-size``).  A
#: history costs several times its size in memory once parsed, and a device such as
#: ``/dev/zero`` never ends, so reading has a limit.
MAX_INPUT_BYTES = 256 << 20
STDIN = "-"

_ETCD_LINE = re.compile(r"INFO\s+jepsen\.util\s+-\s")
_LOG_LINE = re.compile(r"(TRACE|DEBUG|INFO|WARN|ERROR)\s")
_KV_LINE = re.compile(r"\{:process\s.*:key\s.*\}\s*$")


def decode(data: bytes, source: str | None) -> str:
    """UTF-8 text of ``data``, or :class:`HistoryError` naming the first binary byte.

    NUL never occurs in a text history, so it is refused even though it is valid UTF-8:
    a file full of zeros (a truncated disk image, say) should not parse as "empty".
    """
    nul = data.find(b"\0")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        at = e.start if nul < 0 else min(nul, e.start)
        raise HistoryError(
            f"not a text history (binary data at byte {at})", source=source
        ) from None
    if nul >= 0:
        raise HistoryError(f"not a text history (binary data at byte {nul})", source=source)
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def _first_line(text: str, skip_comments: bool) -> str | None:
    for ln in text.splitlines():
        s = ln.strip()
        if not s or (skip_comments and s.startswith(";")):
            continue
        return s
    return None


def detect_text(text: str, source: str | None = None) -> str:
    """The format name of ``text``; :class:`HistoryError` when it cannot be told."""
    if "\0" in text:
        raise HistoryError(
            f"not a text history (binary data at character {text.index(chr(0))})", source=source
        )
    first = _first_line(text, skip_comments=False)
    if first is None:
        raise HistoryError("the file is empty (no events)", source=source)
    if _ETCD_LINE.match(first) or (_LOG_LINE.match(first) and "jepsen.util - " in text):
        return "porcupine-etcd"
    if re.match(r'\{\s*"', first):
        return "jsonl"
    if _KV_LINE.match(first):
        return "porcupine-kv"
    first_form = _first_line(text, skip_comments=True)
    if first_form is None:
        raise HistoryError(
            "cannot tell the format: the file holds only ';' comments", source=source
        )
    if re.match(r'\[\s*\{\s*"', text.lstrip()):
        raise HistoryError(
            "cannot tell the format: this looks like a JSON array; splitbrain's native "
            "format is JSON lines (one object per line)",
            source=source,
        )
    if first_form[0] in "[({":
        return "edn"
    shown = first if len(first) <= 60 else first[:57] + "..."
    raise HistoryError(
        f"cannot tell the format: the first line {shown!r} is not JSON lines, Jepsen EDN, "
        "or a Porcupine log (pass the format explicitly)",
        source=source,
    )


def _is_path_like(s: str) -> bool:
    if "\n" in s or not s:
        return False
    if os.path.exists(s):
        return True
    t = s.lstrip()
    return not (t[:1] in ("{", "[", "(", ";") or _ETCD_LINE.match(t))


def detect_format(path_or_text: str | os.PathLike[str] | bytes) -> str:
    """The format of a file (a :class:`~pathlib.Path`, or a ``str`` naming one) or of a
    text (a ``str`` with a newline or that starts like a history; or ``bytes``).

    Returns one of :data:`analysis.formats.FORMATS`; raises :class:`HistoryError`
    ("cannot tell the format", "the file is empty", "no such file", "not a text history").
    """
    if isinstance(path_or_text, bytes):
        return detect_text(decode(path_or_text, None))
    if isinstance(path_or_text, str) and not _is_path_like(path_or_text):
        return detect_text(path_or_text)
    path = Path(path_or_text)
    return detect_text(decode(read_bytes(path), str(path)), str(path))


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.0f} MiB" if n >= 1 << 20 else f"{n} bytes"


def _too_big(limit: int, source: str) -> HistoryError:
    return HistoryError(
        f"larger than the input limit of {_mib(limit)} (--max-input-size raises it)", source=source
    )


def _read_capped(f: BinaryIO, limit: int, source: str) -> bytes:
    data = f.read(limit + 1)
    if len(data) > limit:
        raise _too_big(limit, source)
    return data


_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_bytes(path: Path | str, *, max_bytes: int = MAX_INPUT_BYTES, allow_special: bool = False) -> bytes:
    """The file's bytes; every OS-level problem becomes a :class:`HistoryError`.

    ``"-"`` reads standard input.  Anything but a regular file (a FIFO, which blocks
    until a writer comes; ``/dev/zero``, which never ends) is refused unless
    ``allow_special``; whatever is read stops at ``max_bytes``.
    """
    source = str(path)
    if source == STDIN:
        return _read_capped(sys.stdin.buffer, max_bytes, "<stdin>")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise HistoryError("no such file", source=source) from None
    except OSError as e:
        raise HistoryError(f"cannot read the file: {e.strerror or e}", source=source) from None
    if stat.S_ISDIR(st.st_mode):
        raise HistoryError("is a directory, not a history file", source=source)
    if not stat.S_ISREG(st.st_mode):
        if not allow_special:
            kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
            raise HistoryError(
                f"is {kind}, not a regular file; pass --allow-special to read it anyway "
                "(or '-' to read standard input)",
                source=source,
            )
    elif st.st_size > max_bytes:
        raise _too_big(max_bytes, source)
    try:
        with open(path, "rb") as f:
            return _read_capped(f, max_bytes, source)
    except FileNotFoundError:
        raise HistoryError("no such file", source=source) from None
    except IsADirectoryError:
        raise HistoryError("is a directory, not a history file", source=source) from None
    except OSError as e:
        raise HistoryError(f"cannot read the file: {e.strerror or e}", source=source) from None
