"""``splitbrain run`` and ``splitbrain replay``."""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from splitbrain.commands import Command
from splitbrain.errors import EXIT_USAGE, VERDICT_EXIT, UsageError, input_errors
from splitbrain.plugin_args import add_plugin_argument, load_plugin_args

if TYPE_CHECKING:
    from cluster.session import Launcher


def _run_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="scenario name (see 'splitbrain list') or a scenario .toml/.json file")
    p.add_argument("--seed", type=int, help="random seed (default: the scenario's)")
    p.add_argument("--flaw", action="append", metavar="FLAW", help="switch a flaw on (repeatable); replaces the scenario's flaws")
    p.add_argument("--no-flaws", action="store_true", help="run the correct design (switch every flaw off)")
    p.add_argument("--time-limit", type=float, metavar="S", help="wall-clock limit in seconds")
    p.add_argument("--duration", type=int, metavar="MS", help="simulated duration in milliseconds")
    p.add_argument("--engine", default="sim", choices=("sim", "ray"),
                   help="sim: deterministic simulator (default); ray: Ray actors over gRPC, real processes and faults")
    p.add_argument("--ray-address", metavar="ADDR", help="with --engine ray: join this Ray cluster instead of starting one")
    p.add_argument("--spread", action="store_true",
                   help="with --engine ray --ray-address: place the node actors across the cluster's machines; "
                        "their servers then listen on their Ray node's address, not 127.0.0.1 (docs/runtime.md)")
    p.add_argument("--metrics-port", type=int, metavar="P",
                   help="with --engine ray: serve aggregated Prometheus metrics on 127.0.0.1:P during the run")
    p.add_argument("--amqp-url", metavar="URL",
                   help="with --engine ray, queue-broker scenarios: use this RabbitMQ instead of a private one "
                        "(broker crash/pause faults are then not applied)")
    p.add_argument("--kafka-bootstrap", metavar="HOST:PORT",
                   help="with --engine ray, log-broker scenarios: use this Kafka cluster instead of a private Tansu")
    p.add_argument("--store", metavar="DIR", help="results store (default: ./store or $SPLITBRAIN_STORE)")
    p.add_argument("--no-save", action="store_true", help="do not write a results folder")
    p.add_argument("--json", action="store_true", help="print results as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    add_plugin_argument(p)
    p.add_argument("--predict", metavar="ANSWER",
                   help="predict the outcome first: valid, invalid, invalid:ANOMALY (e.g. invalid:stale-read) or "
                        "fault:K; graded from the run, saved in the results folder and your progress file "
                        "(see 'splitbrain show NAME' for the question)")


def replay_command(sc: Any, name_arg: str, engine: str = "sim", plugins: list[str] | None = None) -> str:
    parts = ["splitbrain", "run", name_arg, "--seed", str(sc.seed)]
    if engine != "sim":
        parts += ["--engine", engine]
    for plugin in plugins or ():
        parts += ["--plugin", plugin]
    if sc.flaws:
        for f in sc.flaws:
            parts += ["--flaw", f]
    else:
        parts.append("--no-flaws")
    return " ".join(shlex.quote(x) for x in parts)


def vectors_root(store: str | None) -> Path:
    """Where a run exports what a later command reads: the pipeline's searchable vector
    store, for ``splitbrain query``."""
    from scenarios.results import store_root

    return (Path(store) if store else store_root()) / "vectors"


def launcher(args: argparse.Namespace) -> Launcher:
    """The engine the flags ask for."""
    if args.engine == "ray":
        from cluster.runtime.launch import RayLauncher, RayOptions

        return RayLauncher(RayOptions(address=args.ray_address, metrics_port=args.metrics_port,
                                      amqp_url=args.amqp_url, kafka_bootstrap=args.kafka_bootstrap,
                                      spread=args.spread))
    from cluster.sim.session import SimLauncher

    return SimLauncher()


def _run_run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except input_errors() as e:
        sys.stderr.write(f"splitbrain: error: {e}\n")
        return EXIT_USAGE


def _run(args: argparse.Namespace) -> int:
    import json

    from analysis.records import json_default
    from scenarios.results import check_store, write_run
    from scenarios.runner import effective, run_scenario
    from scenarios.spec import load
    from splitbrain.terminal import print_run_summary

    if args.engine == "sim" and (args.ray_address or args.metrics_port or args.amqp_url or args.kafka_bootstrap):
        raise UsageError("--ray-address, --metrics-port, --amqp-url and --kafka-bootstrap need --engine ray")
    if args.spread and (args.engine != "ray" or not args.ray_address):
        raise UsageError("--spread needs --engine ray and --ray-address (a cluster to spread over)")
    from scenarios.plugins import with_plugins

    cli_plugins = load_plugin_args(args)
    lesson_sc = with_plugins(load(args.name), cli_plugins)
    if not args.no_save:
        check_store(Path(args.store) if args.store else None)  # before the run spends its time
    from scenarios.flawfit import flaw_flags, inert_flaws

    flaws = flaw_flags(no_flaws=args.no_flaws, flaws=args.flaw)
    sc = effective(lesson_sc, seed=args.seed, flaws=flaws, time_limit_s=args.time_limit, duration_ms=args.duration)
    predicted = None
    if args.predict is not None:
        from scenarios.predict import parse_prediction

        predicted = parse_prediction(args.predict, sc)
        if predicted.fault is not None and args.engine != "sim":
            raise UsageError("--predict fault:K is graded by rerunning without fault K in the simulator; "
                             "predict valid, invalid or invalid:ANOMALY on --engine ray")
    for notice in inert_flaws(sc):
        sys.stderr.write(notice.line() + "\n")
    progress = None
    bar = None
    if not args.quiet and not args.json and sys.stderr.isatty():
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        unit = "sim ms" if args.engine == "sim" else "ms"
        verb = "simulating" if args.engine == "sim" else "running on ray"
        bar = Progress(TextColumn(f"{verb} {{task.fields[name]}}"), BarColumn(),
                       TextColumn(f"{{task.completed:.0f}}/{{task.total:.0f}} {unit}"), TimeElapsedColumn(),
                       transient=True)
        task = bar.add_task("sim", total=sc.duration_ms, name=sc.name)
        bar.start()

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done)

    export_dir = None if args.no_save else vectors_root(args.store)
    try:
        # Ray prints worker-death notices (expected: crashes are the point) on stdout;
        # keep stdout for the result (``--json`` must stay parseable).
        with contextlib.redirect_stdout(sys.stderr):
            outcome = run_scenario(sc, launcher(args), progress=progress, export_dir=export_dir)
    finally:
        if bar is not None:
            bar.stop()
    prediction = None if predicted is None else _Prediction(lesson_sc, sc, predicted, outcome, args.engine)
    run_dir: Path | None = None
    if not args.no_save:
        root = Path(args.store) if args.store else None
        extra = {"prediction.json": prediction.document} if prediction is not None else None
        run_dir = write_run(outcome, root=root, extra=extra)
    if prediction is not None:
        prediction.record(run_dir)
    name_arg = args.name
    if args.json:
        print(json.dumps({"scenario": sc.name, "seed": sc.seed, "verdict": outcome.verdict,
                          "checkers": outcome.results, "stats": outcome.stats, "coverage": outcome.coverage,
                          "prediction": prediction.document if prediction is not None else None,
                          "dir": str(run_dir) if run_dir else None}, indent=2, sort_keys=True, default=json_default))
    else:
        print_run_summary(outcome, run_dir, replay_command(sc, name_arg, args.engine, args.plugin))
        if prediction is not None:
            from splitbrain.terminal import print_prediction

            print_prediction(prediction.document, prediction.progress_line)
    return VERDICT_EXIT[outcome.verdict]


class _Prediction:
    """A graded ``--predict``: its ``prediction.json`` document, and the progress record."""

    def __init__(self, lesson_sc: Any, sc: Any, predicted: Any, outcome: Any, engine: str) -> None:
        from scenarios.predict import judge
        from scenarios.progress import Progress, ProgressError

        self.judged = judge(lesson_sc, sc, predicted, outcome)
        self.sc = sc
        self.engine = engine
        self.progress: Progress | None = None
        self.progress_line = self.judged.note
        if self.judged.lesson is not None:
            try:
                self.progress = Progress.load()
            except ProgressError as e:
                sys.stderr.write(f"splitbrain: warning: {e}; this prediction is not recorded\n")
                self.progress_line = "not recorded (the progress file cannot be read)"
        self.document = self.judged.document(sc, engine, recorded=self.progress is not None)

    def record(self, run_dir: Path | None) -> None:
        from scenarios.progress import ProgressError

        if self.progress is None or self.judged.lesson is None:
            return
        g = self.judged.grade
        first = self.progress.record(self.judged.lesson, str(g.predicted), g.word, seed=self.sc.seed,
                                     engine=self.engine, run_dir=str(run_dir) if run_dir else None)
        try:
            self.progress.save()
        except ProgressError as e:
            sys.stderr.write(f"splitbrain: warning: {e}\n")
            self.progress_line = "not recorded (the progress file cannot be written)"
            return
        state = self.progress.state(self.judged.lesson)
        self.progress_line = (f"recorded in {self.progress.path}: "
                              + ("your first prediction for this lesson, which counts" if first else
                                 f"a later attempt (the first counts; this lesson stays {state})"))


def _replay_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", nargs="?", help="a results folder (default: store/latest)")
    add_plugin_argument(p)


def _replay_run(args: argparse.Namespace) -> int:
    try:
        return _replay(args)
    except input_errors() as e:
        sys.stderr.write(f"splitbrain: error: {e}\n")
        return EXIT_USAGE


def _replay(args: argparse.Namespace) -> int:
    import hashlib

    from analysis.records import history_jsonl
    from scenarios.results import load_run
    from scenarios.runner import simulate
    from splitbrain.terminal import console

    load_plugin_args(args)
    run = load_run(args.run_dir)  # loads the plugins the run was made with (its plugins/ folder)
    sc = run.scenario
    engine = run.engine
    if engine != "sim":
        raise UsageError(f"{run.dir}: this run used the {engine} engine (real processes, real time); only "
                         f"simulator runs replay byte for byte. Rerun it with: splitbrain run {sc.name} "
                         f"--seed {sc.seed} --engine {engine}")
    sim, _ = simulate(sc)
    new = history_jsonl(sim.history).encode()
    old = run.history_path.read_bytes()
    c = console()
    same = new == old
    h_old, h_new = hashlib.sha256(old).hexdigest()[:16], hashlib.sha256(new).hexdigest()[:16]
    if same:
        c.print(f"[bold green]identical[/bold green]: replaying {sc.name} seed {sc.seed} reproduced the history "
                f"byte for byte ({len(old)} bytes, sha256 {h_old}).")
        return 0
    c.print(f"[bold red]different[/bold red]: the replayed history differs (sha256 {h_old} recorded vs {h_new} now). "
            "The code changed since the run, or the run was stopped by its time limit.")
    return 1


COMMANDS = [
    Command("run", "run a named failure scenario in the simulator, check it, save a results folder",
            "splitbrain run raft-leader-partition --seed 7\n"
            "splitbrain run raft-leader-partition --seed 7 --flaw leader_reads_without_quorum\n"
            "splitbrain run raft-follower-reads --no-flaws   # the correct twin\n"
            "splitbrain run raft-split-brain-reads --engine ray   # real Ray actors over gRPC",
            _run_configure, _run_run),
    Command("replay", "re-run a simulator run from its seed and say whether the history is identical",
            "splitbrain replay store/latest", _replay_configure, _replay_run),
]
