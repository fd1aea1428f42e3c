"""Shared helpers for the benchmark scripts: paired alternating-block timing, statistics, tables, environment.

Every script sets OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS to "1" itself, before it
imports numpy (and before it imports this module), so BLAS runs on one thread everywhere.

Timing method (`paired_blocks`): the candidates run in blocks of N calls each; every block runs all
candidates back to back, and the order alternates from block to block (A B, B A, A B, ...), so slow
drifts of a shared machine hit every candidate alike. Reported per candidate: the median over blocks of
the per-call time. Ratios are taken block by block (candidate / baseline within one block, i.e. measured
side by side) and summarized by their median and their min–max over blocks.

Clock: by default the process CPU time (`time.process_time`), because on a shared machine wall time
mostly measures how long the scheduler kept this process waiting; `--clock wall` uses `perf_counter`.
Either way BLAS is single-threaded, so CPU time and wall time agree on an idle machine.

Page faults: with glibc's default malloc, a freed block of more than 128 KiB (a float64 784×30 weight
gradient is 188 KB) is handed back to the kernel (munmap, or a trim of the heap top) and the next
allocation faults its pages in again: tens of minor page faults and ~100 µs of system time per step,
depending on the heap's history. The tables therefore show minor page faults per call, and
`--malloc no-trim` (mallopt through ctypes: fixed mmap threshold 32 MiB, trim threshold 1 GiB) removes
that cost to show the pure compute + Python overhead. The default is glibc's behaviour, what users get.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import gc
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run from a checkout without `pip install -e .`: use the working tree
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np

__all__ = [
    "CLOCKS",
    "REPO_ROOT",
    "BlockResult",
    "base_parser",
    "block_settings",
    "calibrate",
    "clock",
    "fmt_ratio",
    "fmt_us",
    "load_revision",
    "median",
    "minor_faults",
    "paired_blocks",
    "print_environment",
    "print_table",
    "set_clock",
    "source_fingerprint",
    "tune_malloc",
    "verdict",
]

median = statistics.median
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
_clock = CLOCKS["cpu"]
_malloc_mode = "default"


def tune_malloc() -> bool:
    """glibc only: keep freed large blocks in the heap (no munmap / trim), so reallocations do not fault."""
    global _malloc_mode
    import ctypes
    import ctypes.util
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        ok = bool(libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)) and bool(libc.mallopt(m_trim_threshold, 1 << 30))
    except (OSError, AttributeError):
        ok = False
    _malloc_mode = "no-trim (mallopt)" if ok else "default (mallopt unavailable)"
    return ok


def set_clock(name: str) -> None:
    """Select the clock used by every timing helper: 'cpu' (process CPU time) or 'wall'."""
    global _clock
    _clock = CLOCKS[name]


def clock() -> float:
    """The selected clock's current reading, in seconds."""
    return _clock()


class BlockResult:
    """Per-call seconds of each candidate, one entry per block (blocks are aligned across candidates)."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        self.per_call: dict[str, list[float]] = {n: [] for n in names}
        self.faults: dict[str, list[float]] = {n: [] for n in names}  # minor page faults per call

    def faults_per_call(self, name: str) -> float:
        return median(self.faults[name])

    def median(self, name: str) -> float:
        return median(self.per_call[name])

    def ratios(self, name: str, baseline: str) -> list[float]:
        """candidate / baseline, block by block (each pair measured side by side)."""
        return [a / b for a, b in zip(self.per_call[name], self.per_call[baseline])]

    def ratio(self, name: str, baseline: str) -> tuple[float, float, float]:
        """(median, min, max) over blocks of the block-wise ratio name / baseline."""
        r = self.ratios(name, baseline)
        return median(r), min(r), max(r)


def minor_faults() -> int:
    """Minor page faults of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _run_block(fn: Callable[[], object], n: int) -> tuple[float, float]:
    """(seconds, minor page faults) per call of `fn` over n back-to-back calls (gc stays enabled)."""
    f0, t0 = minor_faults(), _clock()
    for _ in range(n):
        fn()
    t1, f1 = _clock(), minor_faults()
    return (t1 - t0) / n, (f1 - f0) / n


def calibrate(fns: Sequence[Callable[[], object]], target_s: float, min_n: int = 1, max_n: int = 100_000) -> int:
    """Calls per block so that the slowest of `fns` takes about `target_s` per block (also warms them up)."""
    slowest = 0.0
    for fn in fns:
        fn()  # warm-up: first-call costs (imports, caches, allocator) are not part of a step
        n, t = 1, 0.0
        while True:
            t = _run_block(fn, n)[0] * n
            if t >= 0.02 or n >= max_n:
                break
            n *= 4
        slowest = max(slowest, t / n)
    return int(min(max_n, max(min_n, round(target_s / slowest)))) if slowest > 0 else max_n


def paired_blocks(candidates: dict[str, Callable[[], object]], blocks: int, n: int,
                  collect: bool = True) -> BlockResult:
    """Time every candidate in `blocks` alternating blocks of `n` calls; see the module docstring.

    With `collect`, gc.collect() runs (untimed) before each candidate's block so that each starts from the
    same collector state; automatic collection stays enabled during the timed calls.
    """
    names = list(candidates)
    result = BlockResult(names)
    for block in range(blocks):
        order = names if block % 2 == 0 else names[::-1]
        for name in order:
            if collect:
                gc.collect()
            seconds, faults = _run_block(candidates[name], n)
            result.per_call[name].append(seconds)
            result.faults[name].append(faults)
    return result


def load_revision(rev: str) -> object:
    """The `tinygrad_nn` package as it was at git revision `rev`, imported beside the working tree's under the
    name ``tinygrad_nn_before`` (its imports are relative), to time "before" and "after" in the same run."""
    import importlib
    import subprocess
    import tempfile
    root = Path(tempfile.mkdtemp(prefix="tinygrad_nn_before_"))
    archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", rev, "tinygrad_nn"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    (root / "tinygrad_nn").rename(root / "tinygrad_nn_before")
    sys.path.insert(0, str(root))
    try:
        return importlib.import_module("tinygrad_nn_before")
    finally:
        sys.path.remove(str(root))


# ---- formatting ------------------------------------------------------------------------------------
def fmt_us(seconds: float, digits: int = 1) -> str:
    return f"{seconds * 1e6:,.{digits}f}"


def fmt_ratio(stats: tuple[float, float, float]) -> str:
    med, lo, hi = stats
    return f"{med:.3f} [{lo:.2f}–{hi:.2f}]"


def verdict(value: float, target: float, aim: float | None = None) -> str:
    """'ok' / 'MISS' against a ≤ target, with '(aim met)' when also ≤ aim."""
    if value > target:
        return f"MISS (target ≤ {target:g})"
    if aim is not None and value <= aim:
        return f"ok (≤ {target:g}; aim ≤ {aim:g} met)"
    return f"ok (≤ {target:g}" + (f"; aim ≤ {aim:g} not met)" if aim is not None else ")")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]], title: str | None = None) -> None:
    """A plain aligned text table (first column left-aligned, the others right-aligned)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

    if title:
        print(f"\n{title}")
    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))


def print_environment() -> None:
    """Python, numpy, BLAS threads (threadpoolctl when installed), relevant env vars, CPU count and load."""
    clock_name = next(k for k, v in CLOCKS.items() if v is _clock)
    print(f"date {_dt.datetime.now():%Y-%m-%d %H:%M}  clock {clock_name}  python {platform.python_version()}  "
          f"numpy {np.__version__}  cpus {os.cpu_count()}  gc {'on' if gc.isenabled() else 'off'}")
    env = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                          "OPENBLAS_CORETYPE", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")
           if os.environ.get(k) is not None}
    print("env " + "  ".join(f"{k}={v}" for k, v in env.items()) + f"  malloc {_malloc_mode}")
    try:
        from threadpoolctl import threadpool_info
        for info in threadpool_info():
            print(f"blas {info.get('internal_api')} {info.get('version')} arch={info.get('architecture')} "
                  f"threads={info.get('num_threads')}")
    except ImportError:
        print("blas: (pip install threadpoolctl to show the BLAS library and its thread count)")
    print(f"tinygrad_nn source: {source_fingerprint()}")
    if hasattr(os, "getloadavg"):
        load = os.getloadavg()
        note = "  (machine busy: expect noise)" if load[0] > 0.5 * (os.cpu_count() or 1) else ""
        print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}{note}")


def source_fingerprint() -> str:
    """A short hash and the newest modification time of tinygrad_nn/*.py: which engine version was measured."""
    import hashlib
    files = sorted((REPO_ROOT / "tinygrad_nn").glob("*.py"))
    digest = hashlib.sha1(b"".join(f.read_bytes() for f in files)).hexdigest()[:10]
    newest = max(f.stat().st_mtime for f in files)
    return f"sha1 {digest} (newest file {_dt.datetime.fromtimestamp(newest):%Y-%m-%d %H:%M:%S})"


def base_parser(description: str, blocks: int = 7) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short run (fewer and shorter blocks)")
    parser.add_argument("--blocks", type=int, default=None,
                        help=f"alternating blocks per side (default {blocks}; 3 with --quick)")
    parser.add_argument("--block-seconds", type=float, default=None,
                        help="target seconds per block and side (default 0.25; 0.05 with --quick)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                        help="cpu: process CPU time (default; robust on a shared machine); wall: perf_counter")
    parser.add_argument("--malloc", choices=["default", "no-trim"], default="default",
                        help="no-trim: stop glibc from returning freed large blocks to the kernel (no page faults)")
    return parser


def block_settings(args: argparse.Namespace, blocks: int = 7) -> tuple[int, float]:
    """(blocks, seconds per block) from the common options; also selects the clock and the malloc mode."""
    set_clock(args.clock)
    if args.malloc == "no-trim":
        tune_malloc()
    n_blocks = args.blocks if args.blocks is not None else (3 if args.quick else blocks)
    seconds = args.block_seconds if args.block_seconds is not None else (0.05 if args.quick else 0.25)
    return n_blocks, seconds

