"""Terminal output: verdicts in colour, explanations as plain sentences."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

STYLE = {"valid": "bold green", "invalid": "bold red", "unknown": "bold yellow"}
WORD = {"valid": "VALID", "invalid": "INVALID", "unknown": "UNKNOWN"}


def console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def verdict_text(verdict: str) -> Text:
    return Text(WORD.get(verdict, verdict.upper()), style=STYLE.get(verdict, "bold"))


def print_check(result: dict[str, Any]) -> None:
    c = console()
    head = Text("linearizability ")
    head.append_text(verdict_text(result["verdict"]))
    head.append(f"  model={result['model']}  ops={result['operations']}  states={result['states']}"
                f"  time={result['elapsed_s']:.3f}s")
    if "file" in result:
        head.append(f"  file={result['file']}")
    c.print(head)
    for s in result.get("explanation", []):
        c.print(f"  - {s}")
