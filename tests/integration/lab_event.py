#!/usr/bin/env python3
"""KEY of the last EVENT line in FILE, a `replicate follow|publish --json`
log: `lab_event.py FILE EVENT KEY [GENERATION]` (only lines of that
generation when given). Prints nothing when there is none; booleans print
as True/False. Used by the lab-sync tests and bench/replication_lab.sh."""
import json
import sys


def main():
    path, event, key = sys.argv[1:4]
    generation = int(sys.argv[4]) if len(sys.argv) > 4 else None
    value = ""
    try:
        lines = open(path)
    except OSError:
        lines = []
    for line in lines:
        try:
            d = json.loads(line)
        except ValueError:  # a line still being written
            continue
        if d.get("event") != event:
            continue
        if generation is not None and d.get("generation") != generation:
            continue
        value = d.get(key, "")
    print(value)


if __name__ == "__main__":
    main()
