#!/usr/bin/env python3
"""The table of bench/replication.sh from its results.json: medians per N,
the fan-out ratios t(1->N) / t(1->1), and the stall runs."""
import json
import statistics
import sys

r = json.load(open(sys.argv[1]))
runs = r["runs"]


def med(rows, key):
    vals = [x["run"][key] for x in rows if x["run"].get(key) is not None]
    return statistics.median(vals) if vals else float("nan")


fan = [x for x in runs if x["phase"] == "fanout"]
counts = sorted({x["n"] for x in fan})
print(f"{r['mib']} MiB image, every link {r['rate']}, {r['cores']} cores; medians of repeats")
print(f"{'1->N':>5} {'seconds':>8} {'ratio':>6} {'seed sent':>10} {'from peers':>11} "
      f"{'max no-peer s':>14} {'CPU s/GiB':>10} {'cores busy':>11}")
base = None
result = {}
for n in counts:
    rows = [x for x in fan if x["n"] == n]
    t = med(rows, "seconds")
    if n == 1:
        base = t
    ratio = t / base if base else float("nan")
    result[n] = ratio
    print(f"{n:>5} {t:>8.2f} {ratio:>6.2f} {med(rows, 'seed_sent_images'):>9.2f}x "
          f"{med(rows, 'from_peers_share'):>10.0%} {max(x['run']['max_no_peer_seconds'] for x in rows):>14.1f} "
          f"{med(rows, 'cpu_seconds_per_gib'):>10.2f} {med(rows, 'cpu_busy'):>10.0%}")
stalls = [x for x in runs if x["phase"] == "stalls"]
if stalls:
    m = statistics.median(x["run"]["seconds"] for x in stalls)
    bad = [x for x in stalls
           if x["run"]["seconds"] > 1.5 * m or x["run"]["max_no_peer_seconds"] > 2.0]
    worst = max(x["run"]["seconds"] for x in stalls)
    print(f"stalls: {len(stalls)} runs of 1->4, median {m:.2f} s, worst {worst:.2f} s, "
          f"stalls (> 1.5x median or > 2 s with no peer): {len(bad)}")
for phase, what in (("unshaped", "hybrid torrent"), ("unshaped_v1", "--hashes v1")):
    un = [x for x in runs if x["phase"] == phase]
    if un:
        t = med(un, "seconds")
        print(f"unshaped 1->1, {what}: {t:.2f} s ({r['mib'] * 1.048576 / t:.0f} MB/s), "
              f"CPU {med(un, 'cpu_seconds_per_gib'):.2f} s per GiB received")
goals = {4: 1.2, 8: 1.3}
for n, g in goals.items():
    if n in result:
        print(f"goal 1->{n} <= {g}: {'met' if result[n] <= g else 'MISSED'} ({result[n]:.2f})")
