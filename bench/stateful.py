"""The long run of the stateful test across features (tests/integration/test_stateful_seams.py):

    .venv/bin/python bench/stateful.py --steps 10000 --seed 7 [--database-url postgresql://…]

Seeded (the same seed replays the same runs) and resumable: what Hypothesis finds is kept in
bench/.stateful-db/, replayed first on the next run. Prints steps, distinct step pairs, invariant
checks and the wall time; the exit code is pytest's.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--state", default=str(ROOT / "bench" / ".stateful-db"))
    args = parser.parse_args()
    env = {**os.environ, "FW_STATEFUL_STEPS": str(args.steps), "FW_STATEFUL_DB": args.state}
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    else:
        env.pop("DATABASE_URL", None)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                           f"--hypothesis-seed={args.seed}", "tests/integration/test_stateful_seams.py"],
                          cwd=ROOT, env=env, check=False)
    print(f"wall time {time.monotonic() - started:.0f} s, seed {args.seed}, state in {args.state}")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
