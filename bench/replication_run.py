#!/usr/bin/env python3
"""One fan-out run of bench/replication.sh, summarised as one JSON object.

Reads the --json output of the seeder and of every receiver of the run:
the time until the last receiver verified its last piece (from the
`unix_time` of each receiver's "verified" line, against the run's start),
what the seeder sent as a multiple of the image, the share of the
receivers' bytes that came from other receivers, the longest time a
receiver had no peer, and CPU seconds per GiB received.
"""
import argparse
import json


def lines(path):
    out = []
    for raw in open(path):
        try:
            out.append(json.loads(raw))
        except ValueError:
            pass
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--started", type=float, required=True)
    ap.add_argument("--busy", type=float, required=True)
    ap.add_argument("--seed", required=True)
    ap.add_argument("fetches", nargs="+")
    a = ap.parse_args()
    done_at, from_seed, from_peers, zero_wait, cpu_per_gib = [], 0, 0, [], []
    seen = []
    total = 0
    for path in a.fetches:
        ls = lines(path)
        verified = [d for d in ls if d.get("event") == "verified"]
        final = [d for d in ls if d.get("event") == "done"]
        if not verified or not final:
            raise SystemExit(f"{path}: no verified/done line")
        v, f = verified[-1], final[-1]
        # unix_time: when it was verified; older builds print only the
        # seconds since their own start.
        done_at.append(v["unix_time"] - a.started if "unix_time" in v else v["time"])
        total = f["bytes_total"]
        from_seed += f.get("from_seed", 0)
        from_peers += f.get("from_peers", 0)
        zero_wait.append(f.get("max_no_peer_seconds", 0.0))
        seen.append(f.get("peers_seen", 0))
        if "cpu_seconds_per_gib" in f:
            cpu_per_gib.append(f["cpu_seconds_per_gib"])
    seed = [d for d in lines(a.seed) if d.get("event") != "listening"]
    sent = seed[-1]["uploaded"] if seed else 0
    suggested = seed[-1].get("suggestions_sent", 0) if seed else 0
    refused = seed[-1].get("requests_refused", 0) if seed else 0
    hidden = seed[-1].get("pieces_hidden", 0) if seed else 0
    intros = seed[-1].get("introductions", 0) if seed else 0
    received = from_seed + from_peers
    print(json.dumps({
        "seconds": max(done_at),
        "first_done": min(done_at),
        "seed_sent_images": sent / total if total else 0,
        "from_peers_share": from_peers / received if received else 0,
        "max_no_peer_seconds": max(zero_wait),
        "cpu_seconds_per_gib": max(cpu_per_gib) if cpu_per_gib else None,
        "cpu_busy": a.busy,
        "min_peers_seen": min(seen),
        "done_each": sorted(round(x, 2) for x in done_at),
        "seed_suggestions": suggested,
        "seed_refused": refused,
        "seed_hidden": hidden,
        "seed_introductions": intros,
    }))


if __name__ == "__main__":
    main()
