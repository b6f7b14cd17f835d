"""Benchmark the HTML report: render time and file size for runs of 1k, 10k and 100k operations.

The report promises that a run of 100,000 operations still opens in a browser in a few
seconds; this measures the two things that decide it (how long rendering takes and how big
the page is) on synthetic results folders with the real schema (wire messages included),
and, where Chromium is installed, how long a headless browser takes to load and paint it.

Prints a table and writes JSON to --out (default splitbrain-bench/report.json in the temp folder).
Run: .venv/bin/python bench/report.py [--sizes 1000,10000,100000] [--no-browser]
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from analysis.records import open_text, stored  # noqa: E402
from analysis.report.html import render_folder  # noqa: E402
from bench.output import default_out, write_json  # noqa: E402
from tests.report.synthetic import make_run  # noqa: E402


def browser_seconds(report: Path, work: Path) -> float | None:
    """Wall time for headless Chromium to load the page and take a screenshot (None if absent)."""
    exe = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if exe is None:
        return None
    t0 = time.perf_counter()
    subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--no-first-run", f"--user-data-dir={work / 'profile'}",
                    f"--screenshot={work / 'shot.png'}", "--window-size=1400,2000", report.resolve().as_uri()],
                   capture_output=True, timeout=300, check=False)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000", help="operation counts, comma separated")
    ap.add_argument("--kind", default="invalid", choices=("valid", "invalid", "raft"))
    ap.add_argument("--no-browser", action="store_true", help="skip the headless-browser load time")
    ap.add_argument("--out", default=default_out("report"))
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    rows = []
    with tempfile.TemporaryDirectory(prefix="sb-report-bench-") as tmp:
        for n in sizes:
            folder = Path(tmp) / f"run-{n}"
            clients = 5 if n <= 1000 else 20
            t0 = time.perf_counter()
            make_run(folder, ops=n, kind=args.kind, clients=clients)
            gen_s = time.perf_counter() - t0
            trace_bytes = stored(folder / "trace.jsonl").stat().st_size
            with open_text(folder / "trace.jsonl") as fh:
                trace_records = sum(1 for _ in fh)
            t0 = time.perf_counter()
            out = render_folder(folder)
            render_s = time.perf_counter() - t0
            html = out.read_text(encoding="utf-8")
            note = "all operations drawn" if "showing all" in html else "sampled"
            load_s = None if args.no_browser else browser_seconds(out, folder)
            rows.append({"operations": n, "clients": clients, "trace_records": trace_records,
                         "trace_mb": round(trace_bytes / 1e6, 2), "render_s": round(render_s, 3),
                         "report_kb": round(out.stat().st_size / 1024, 1), "drawing": note,
                         "browser_s": None if load_s is None else round(load_s, 2),
                         "generate_s": round(gen_s, 2)})
    head = f"{'operations':>10} {'trace recs':>10} {'trace MB':>9} {'render s':>9} {'report KB':>10} " \
           f"{'browser s':>9}  drawing"
    print(head)
    print("-" * len(head))
    for r in rows:
        b = "-" if r["browser_s"] is None else f"{r['browser_s']:.2f}"
        print(f"{r['operations']:>10,} {r['trace_records']:>10,} {r['trace_mb']:>9.1f} {r['render_s']:>9.2f} "
              f"{r['report_kb']:>10.1f} {b:>9}  {r['drawing']}")
    result = {"benchmark": "report", "kind": args.kind, "python": platform.python_version(),
              "machine": platform.machine(), "rows": rows,
              "note": "synthetic folders from tests/report/synthetic.py; browser_s is headless Chromium "
                      "start + load + screenshot (includes browser start-up, about 1 s)"}
    print(f"wrote {write_json(args.out, result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
