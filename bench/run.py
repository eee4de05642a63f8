"""Run the benchmarks: every bench/bench_*.py, or one (`make bench BENCH=http_health`).

Each benchmark runs in its own subprocess with a time bound and prints one JSON line per
configuration on stdout; those lines pass through unchanged, so `make bench > results.jsonl`
collects them. Progress and errors go to stderr. Exits non-zero if any benchmark failed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def discover(name: str | None) -> list[Path]:
    if name:
        path = HERE / f"bench_{name}.py"
        if not path.is_file():
            known = ", ".join(p.stem.removeprefix("bench_") for p in sorted(HERE.glob("bench_*.py")))
            raise SystemExit(f"no benchmark named {name!r} (known: {known})")
        return [path]
    return sorted(HERE.glob("bench_*.py"))


def run_one(path: Path, timeout: float) -> bool:
    print(f"bench: running {path.stem} (at most {timeout:.0f} s)", file=sys.stderr, flush=True)
    try:
        done = subprocess.run(
            [sys.executable, str(path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        # subprocess.run kills the benchmark; the benchmark's own cleanup did not get to run,
        # which is why each benchmark bounds its own time well inside this limit.
        print(f"bench: {path.stem} exceeded {timeout:.0f} s and was killed", file=sys.stderr)
        return False
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    ok = done.returncode == 0 and bool(lines)
    for line in lines:
        try:
            json.loads(line)
        except ValueError:
            print(f"bench: {path.stem} printed a line that is not JSON: {line[:200]}", file=sys.stderr)
            ok = False
            continue
        print(line, flush=True)
    if done.returncode != 0:
        print(f"bench: {path.stem} exited with {done.returncode}", file=sys.stderr)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", default=None, help="run only bench/bench_<name>.py")
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed per benchmark")
    args = parser.parse_args()
    results = [run_one(path, args.timeout) for path in discover(args.name or None)]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
