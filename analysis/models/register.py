"""Register models: register, cas-register (Knossos semantics), etcd, kv-register.

Two readings of a ``nil`` read exist in the wild and both are offered, named:

* Knossos (``register``, ``cas-register``): a read that returned ``nil`` constrains
  nothing, because Knossos keeps a crashed read's invocation value (``nil``).
* Strict (``etcd``, ``kv-register``): ``nil`` means "the key is absent", so a read of
  ``nil`` is legal only while nothing has been written.  This is what splitbrain's own
  key-value scenarios use.

``get``/``read`` and ``put``/``write`` are accepted as synonyms.  Values are compared by
type and value (:mod:`analysis.models.values`): a read of ``1`` never matches a write of
``true`` or of ``1.0``.

Besides the search, these models give the checker two linear-time shortcuts per key
(see :mod:`analysis.models.base`): :func:`_impossible` finds a read of a value that no
operation wrote, or one that returned before any write of its value began; and
:func:`_witness` proposes a linearization when every written value is distinct, which
the checker verifies before it would start a search.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from analysis.history import UNKNOWN, Operation
from analysis.models.base import (
    ILLEGAL,
    Impossible,
    Model,
    StepFn,
    by_key,
    register_model,
    step_from_compile,
)
from analysis.models.values import canonical, show

READS = frozenset({"read", "get"})
WRITES = frozenset({"write", "put"})
LISTED_STATES = 16  # an impossible read lists every state it could have seen, up to this many
_INF = float("inf")


def _as_pair(value: Any, op: Operation) -> tuple[Any, Any]:
    if isinstance(value, list | tuple) and len(value) == 2:
        return value[0], value[1]
    raise ValueError(f"cas needs [expected, new], got {show(value)} ({op.label()})")


def _fmt(v: Any) -> str:
    return show(v)


READ, WRITE, CAS, FAILED_CAS, LOOSE = range(5)
Fact = tuple[int, Any, Any]  # (kind, value observed, value written); UNKNOWN where none
_LOOSE: Fact = (LOOSE, UNKNOWN, UNKNOWN)


def _canon(v: Any) -> Any:
    t = type(v)
    return v if t is int or t is str or v is None else canonical(v)


class _Semantics:
    """What one register model means by each operation, in canonical values.

    Shared by ``compile``, ``prune`` and the two linear shortcuts, so that all four read
    an operation the same way.  :meth:`facts` classifies a partition's operations once;
    prune, the pre-check and the witness are called on the same list in turn, so the
    last classification is kept and reused.
    """

    def __init__(self, name: str, init: Any, *, strict_nil: bool, with_cas: bool, cas_bool_output: bool):
        self.name = name
        self.init = canonical(init)
        self.strict_nil = strict_nil
        self.with_cas = with_cas
        self.cas_bool_output = cas_bool_output
        self._last: tuple[list[Operation], int, list[Fact]] | None = None

    def failed_cas(self, op: Operation) -> bool:
        """A cas that executed and observed "the state is not the expected value"."""
        return self.cas_bool_output and op.f == "cas" and op.output is False

    def fact(self, op: Operation) -> Fact:
        """(kind, the value ``op`` saw when it took effect, the value it leaves)."""
        f = op.f
        if f in READS:
            out = op.output
            if out is UNKNOWN or (out is None and not self.strict_nil):
                return _LOOSE  # constrains no single value: unknown, or a nil read under Knossos
            return READ, _canon(out), UNKNOWN
        if f in WRITES:
            return WRITE, UNKNOWN, _canon(op.value)
        a, b = _as_pair(op.value, op)
        if self.cas_bool_output and op.output is False:
            return FAILED_CAS, _canon(a), UNKNOWN
        return CAS, _canon(a), _canon(b)

    def facts(self, ops: list[Operation]) -> list[Fact]:
        last = self._last
        if last is not None and last[0] is ops and last[1] == len(ops):
            return last[2]
        out: list[Fact] = []
        append = out.append
        strict = self.strict_nil
        for op in ops:
            f = op.f
            if f in READS:  # the common cases inline; the rest through fact()
                o = op.output
                t = type(o)
                if t is int or t is str:
                    append((READ, o, UNKNOWN))
                    continue
                if o is UNKNOWN or (o is None and not strict):
                    append(_LOOSE)
                    continue
            elif f in WRITES:
                v = op.value
                t = type(v)
                if t is int or t is str:
                    append((WRITE, UNKNOWN, v))
                    continue
            append(self.fact(op))
        self._last = (ops, len(ops), out)
        return out

    def compile(self, op: Operation, output: Any) -> StepFn:
        f = op.f
        if f in READS:
            if output is UNKNOWN or (output is None and not self.strict_nil):
                return _identity
            want = _canon(output)
            return lambda s: s if s == want else ILLEGAL
        if f in WRITES:
            v = _canon(op.value)
            return lambda s: v
        if f == "cas" and self.with_cas:
            a, b = _as_pair(op.value, op)
            a, b = _canon(a), _canon(b)
            if self.cas_bool_output and output is False:
                return lambda s: s if s != a else ILLEGAL
            return lambda s: b if s == a else ILLEGAL
        raise ValueError(f"model {self.name!r} has no operation {f!r} ({op.label()})")


def _identity(s: Any) -> Any:
    return s


def _make(
    name: str,
    summary: str,
    *,
    init: Any,
    strict_nil: bool,
    with_cas: bool,
    cas_bool_output: bool,
) -> Model:
    sem = _Semantics(name, init, strict_nil=strict_nil, with_cas=with_cas, cas_bool_output=cas_bool_output)
    start = sem.init

    def describe_op(op: Operation) -> str:
        key = f" {op.key}" if op.key is not None else ""
        out = op.output
        if op.f in READS:
            if out is UNKNOWN:
                return f"read{key} (outcome unknown)"
            return f"read{key} -> {_fmt(out)}"
        if op.f in WRITES:
            return f"write{key} {_fmt(op.value)}" + (" (outcome unknown)" if out is UNKNOWN else "")
        a, b = _as_pair(op.value, op)
        tail = " (outcome unknown)" if out is UNKNOWN else (" (compare failed)" if out is False else "")
        return f"cas{key} {_fmt(a)}->{_fmt(b)}{tail}"

    def prune(ops: list[Operation]) -> list[Operation]:
        """Drop indeterminate writes (and cas) whose new value nobody ever observes.

        Such an operation's only effect is to set the register to a value that no read
        returns and no cas expects, until the next write.  Placing it can therefore never
        make an operation legal that was not legal without it -- unless some operation
        observed "the value is *not* X", which only a cas with output False does; with one
        of those in the partition nothing is pruned.  Timeouts during partitions produce
        dozens of such writes on one key, and each multiplies the orders to search.
        """
        facts = sem.facts(ops)
        observed: set[Any] = {None}  # conservative: the initial "absent" state counts as observed
        pending = False
        for op, (kind, seen, _) in zip(ops, facts, strict=True):
            if kind == FAILED_CAS:
                return ops
            if seen is not UNKNOWN:
                observed.add(seen)
            if op.status == "info":
                pending = True
        if not pending:
            return ops
        kept = [
            op
            for op, (kind, _, new) in zip(ops, facts, strict=True)
            if op.status != "info" or new is UNKNOWN or new in observed
        ]
        return kept if len(kept) < len(ops) else ops

    fs = READS | WRITES | (frozenset({"cas"}) if with_cas else frozenset())
    return Model(
        name=name,
        summary=summary,
        init=lambda: start,
        step=step_from_compile(sem.compile),
        fs=fs,
        partition=by_key,
        describe_op=describe_op,
        describe_state=_fmt,
        read_only=lambda op: op.f in READS or sem.failed_cas(op),
        compile=sem.compile,
        prune=prune,
        impossible=lambda ops: _impossible(ops, sem),
        witness=lambda ops: _witness(ops, sem),
    )


# --- the linear pre-check ------------------------------------------------------------------


def _impossible(ops: list[Operation], sem: _Semantics) -> Impossible | None:
    """The first completed operation that observed a value no operation could have
    written by the time it returned.

    Any state an operation observes was left by the initial state or by a write (or cas)
    linearized before it, and so invoked before it returned.  Indeterminate writes count
    as writers (they may have happened); failed operations were dropped before this runs.
    """
    facts = sem.facts(ops)
    first_write: dict[Any, int] = {}
    for op, (_, _, new) in zip(ops, facts, strict=True):
        if new is not UNKNOWN:
            c = first_write.get(new)
            if c is None or op.call < c:
                first_write[new] = op.call
    start = sem.init
    for op, (kind, v, _) in zip(ops, facts, strict=True):
        if (kind != READ and kind != CAS) or op.status != "ok" or v == start:
            continue
        first = first_write.get(v)
        if first is not None and op.ret is not None and first < op.ret:
            continue
        ret = op.ret if op.ret is not None else -1
        if first is None:
            possible = {start, *first_write}
            reason = f"it observed {show(v)}, a value no operation wrote"
        else:
            possible = {start, *(w for w, c in first_write.items() if c < ret)}
            reason = f"it observed {show(v)} and returned before any write of {show(v)} began"
        return Impossible(op, reason, frozenset(possible) if len(possible) <= LISTED_STATES else None)
    return None


# --- the distinct-value witness ------------------------------------------------------------


def _witness(ops: list[Operation], sem: _Semantics) -> list[Operation] | None:
    """Propose a linearization when every value written to the register is distinct.

    This is the read-mapping case of Gibbons and Korach, where linearizability is
    decidable in O(n log n): each read is tied to the one write of its value, and the
    write with its reads (a *cluster*; with cas, a chain of clusters) must occupy one
    stretch of the order.  A chain whose operations all overlap can sit at any single
    instant they share (Golab et al.'s "backward zone"); one that cannot must span from
    its earliest return to its latest invocation (a "forward zone").  Forward zones are
    laid out at their own times and every other chain at an instant outside them.

    Returns None when the values are not distinct, or when the placement fails (the
    history may still be linearizable: the search decides).  The checker verifies what
    this returns, so a bug here could only cost speed, never a wrong "valid".
    """
    facts = sem.facts(ops)
    start = sem.init
    reads: dict[Any, list[Operation]] = {}
    writer: dict[Any, tuple[Operation, Any]] = {}  # value -> (its writer, the value a cas expects)
    loose: list[Operation] = []  # legal in any state here: nil reads (Knossos), failed cas
    for op, (kind, seen, new) in zip(ops, facts, strict=True):
        if kind == READ:
            rs = reads.get(seen)
            if rs is None:
                reads[seen] = [op]
            else:
                rs.append(op)
        elif kind == WRITE or kind == CAS:
            if new in writer or new == start:
                return None  # a value written twice: the clusters are ambiguous
            writer[new] = (op, seen)
        elif op.output is not UNKNOWN:
            loose.append(op)
    # Completed writers all took effect.  An indeterminate one takes effect only if its
    # value is needed: read by someone, or expected by a swap that took effect.
    included = {v: w for v, w in writer.items() if w[0].status == "ok"}
    todo = list(reads)
    todo += [w[1] for w in included.values() if w[1] is not UNKNOWN]
    while todo:
        v = todo.pop()
        if v == start or v in included:
            continue
        found = writer.get(v)
        if found is None:
            return None  # nobody wrote it: the pre-check reports this
        included[v] = found
        if found[1] is not UNKNOWN:
            todo.append(found[1])
    cas_from: dict[Any, tuple[Operation, Any]] = {}
    for v, (swap, expects) in included.items():
        if expects is not UNKNOWN:
            if expects in cas_from:
                return None  # two swaps out of one value: only one of them can see it
            cas_from[expects] = (swap, v)
    # One chain from each head -- the initial state and each plain write -- following
    # the swaps out of each value in turn.  Per chain: its operations in the order they
    # take in it, the latest invocation (lo), the earliest return (hi), and whether it
    # has a swap.
    chains: list[list[Operation | None]] = []
    los: list[float] = []
    his: list[float] = []
    swaps: list[bool] = []
    reached = 0
    heads: list[tuple[Operation | None, Any]] = [(None, start)]
    heads += [(head, hv) for hv, (head, expects) in included.items() if expects is UNKNOWN]
    for head, v in heads:
        chain: list[Operation | None] = [head]
        if head is None:
            lo: float = -1
            hi: float = -1
        else:
            reached += 1
            lo = head.call
            hi = _INF if head.ret is None else head.ret
        swapped = False
        while True:
            for r in reads.get(v, ()):
                chain.append(r)
                if r.call > lo:
                    lo = r.call
                if r.ret is not None and r.ret < hi:
                    hi = r.ret
            nxt = cas_from.get(v)
            if nxt is None:
                break
            swap, v = nxt
            chain.append(swap)
            swapped = True
            reached += 1
            if swap.call > lo:
                lo = swap.call
            if swap.ret is not None and swap.ret < hi:
                hi = swap.ret
        if head is None and len(chain) == 1:
            continue  # the initial state, never read
        chains.append(chain)
        los.append(lo)
        his.append(hi)
        swaps.append(swapped)
    if reached != len(included):
        return None  # a swap chain that starts from no write
    return _layout(chains, los, his, swaps, loose)


def _chain_points(chain: list[Operation | None], hi: float) -> list[float] | None:
    """Points in time for a forward zone: the head as late as it may be (the earliest
    return), each read as early as it may be after its value's write, each swap after
    the reads it must follow; None when one falls outside its operation's interval."""
    pts: list[float] = []
    cut = seg = hi
    for n, op in enumerate(chain):
        if op is None:
            pts.append(hi)
            continue
        if n == 0:
            p = hi
        elif op.f == "cas":
            p = op.call if op.call > seg else seg
            cut = seg = p
        else:
            p = op.call if op.call > cut else cut
            if p > seg:
                seg = p
        if p < op.call or (op.ret is not None and p > op.ret):
            return None
        pts.append(p)
    return pts


def _layout(
    chains: list[list[Operation | None]],
    los: list[float],
    his: list[float],
    swaps: list[bool],
    loose: list[Operation],
) -> list[Operation] | None:
    """Give every chain a place in time; return the operations in that order."""
    fixed: list[tuple[float, float, int]] = []  # forward zones: (start, end, chain)
    flexible: list[int] = []
    points: dict[int, list[float]] = {}
    for idx, chain in enumerate(chains):
        lo = los[idx]
        hi = his[idx]
        if lo < hi:
            flexible.append(idx)
        elif not swaps[idx]:
            fixed.append((hi, lo, idx))  # the write at hi, each read at max(its call, hi)
        else:
            pts = _chain_points(chain, hi)
            if pts is None:
                return None
            points[idx] = pts
            fixed.append((hi, max(pts), idx))
    fixed.sort()
    for k in range(1, len(fixed)):
        if fixed[k][0] <= fixed[k - 1][1]:
            return None  # two forward zones overlap
    anchors: list[tuple[float, int]] = [(a, idx) for a, _, idx in fixed]
    starts = [a for a, _, _ in fixed]
    for idx in flexible:
        x = los[idx] + 0.5
        k = bisect_right(starts, x) - 1
        if k >= 0 and fixed[k][1] > x:
            x = fixed[k][1] + 0.5
        if x >= his[idx]:
            return None  # no instant outside the forward zones fits it
        anchors.append((x, idx))
        points[idx] = [x] * len(chains[idx])
    anchors.sort()
    if not loose:
        out: list[Operation] = []
        for _, idx in anchors:
            chain = chains[idx]
            out.extend(chain[1:] if chain[0] is None else chain)  # type: ignore[arg-type]
        return out
    keyed: list[tuple[float, int, int, Operation]] = []
    for _, idx in anchors:
        chain = chains[idx]
        pts = points.get(idx) or _chain_points(chain, his[idx])
        if pts is None:
            return None
        for n, (p, op) in enumerate(zip(pts, chain, strict=True)):
            if op is not None:
                keyed.append((p, idx, n, op))
    for op in loose:
        keyed.append((op.call + 0.25, -1, 0, op))
    keyed.sort(key=_point)
    return [k[3] for k in keyed]


def _point(k: tuple[float, int, int, Operation]) -> tuple[float, int, int]:
    return k[0], k[1], k[2]


# --- the models ------------------------------------------------------------------------------


@register_model("register")
def register(init: Any = None) -> Model:
    return _make(
        "register",
        "read/write register; a nil read constrains nothing (Knossos)",
        init=init,
        strict_nil=False,
        with_cas=False,
        cas_bool_output=False,
    )


@register_model("cas-register")
def cas_register(init: Any = None) -> Model:
    return _make(
        "cas-register",
        "read/write/cas register; a failed cas did not happen; a nil read constrains nothing (Knossos)",
        init=init,
        strict_nil=False,
        with_cas=True,
        cas_bool_output=False,
    )


@register_model("etcd")
def etcd(init: Any = None) -> Model:
    return _make(
        "etcd",
        "Porcupine's etcd register: nil = absent, cas output true/false, timed-out reads unconstrained",
        init=init,
        strict_nil=True,
        with_cas=True,
        cas_bool_output=True,
    )


@register_model("kv-register")
def kv_register(init: Any = None) -> Model:
    return _make(
        "kv-register",
        "one register per key: get/put/cas, nil = absent (splitbrain's replicated KV)",
        init=init,
        strict_nil=True,
        with_cas=True,
        cas_bool_output=True,
    )

