#!/usr/bin/env python3
"""Overwrite churn, a row of bench/run.sh: one file, ROUNDS rounds of a
random 4 KiB write followed by a truncate to a random length, all within
10 MiB. It exists because a filesystem whose per-file metadata keeps its
history (deleted extent records, tombstones) slows down as a file ages,
which no fio row shows: the cost per 1,000 rounds at the end must equal the
cost at the start.

    churn.py PATH ROUNDS SEED

Prints one JSON object: seconds per 1,000 rounds for the first and the last
1,000 (first_1k, last_1k) and for every 1,000 (per_1k). PATH is created
(truncated if it exists) and removed at the end.
"""
import json
import os
import random
import sys
import time

BLOCK = 4096
SPAN = 2560  # blocks: 10 MiB


def main():
    if len(sys.argv) != 4:
        print("usage: churn.py PATH ROUNDS SEED", file=sys.stderr)
        return 2
    path, rounds, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if rounds < 1000 or rounds % 1000:
        print("churn.py: ROUNDS must be a positive multiple of 1000", file=sys.stderr)
        return 2
    rng = random.Random(seed)
    data = bytes(rng.randrange(256) for _ in range(BLOCK))
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    per = []
    try:
        t = time.monotonic()
        for i in range(1, rounds + 1):
            os.pwrite(fd, data, rng.randrange(SPAN) * BLOCK)
            os.ftruncate(fd, rng.randrange(SPAN) * BLOCK)
            if i % 1000 == 0:
                now = time.monotonic()
                per.append(round(now - t, 4))
                t = now
    finally:
        os.close(fd)
        os.unlink(path)
    print(json.dumps({"rounds": rounds, "seed": seed, "first_1k": per[0], "last_1k": per[-1],
                      "per_1k": per}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
