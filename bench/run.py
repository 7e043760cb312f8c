"""Every benchmark, one after the other: ``make bench`` (full, writes docs/PERFORMANCE.md) or
``make bench-quick`` (small sizes, prints only; CI runs it so the benchmarks never rot).

    python -m bench.run [--quick]
"""

from __future__ import annotations

import subprocess
import sys
import time

from bench import common

BENCHMARKS = ("process", "ingest", "lists")


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    started = time.perf_counter()
    for name in BENCHMARKS:
        print(f"\n=== bench.{name}{' (quick)' if quick else ''} ===", flush=True)
        done = subprocess.run(  # noqa: S603 - our own benchmarks
            [sys.executable, "-m", f"bench.{name}", *(["--quick"] if quick else [])],
            cwd=common.ROOT,
            check=False,
        )
        if done.returncode:
            raise SystemExit(f"bench.{name} failed (exit {done.returncode})")
    print(f"\nall benchmarks took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
