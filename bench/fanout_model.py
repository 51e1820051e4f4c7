#!/usr/bin/env python3
"""A model of the 1 -> N swarm of `dynamicfs replicate` (docs/fanout.md).

A fluid model: a 1 -> N fan-out ends when the slowest of four resources
has moved its share, plus a start-up and a tail:

  seed link       alpha(N) * S / U_seed     the seed sends alpha images
  receiver link   S / D                     each receiver takes in one image
  swarm upload    N * S / (U_seed + N * U)  all copies must be uploaded
  CPU             N * S * c / cores         only when receivers share cores

S image bytes, U/D payload rates of a port, c CPU seconds per byte per
receiver (receiving, hashing, writing and passing on), alpha(N) the seed's
duplication: 1.0 would be every piece sent once. alpha grows with N because
a receiver sometimes asks the seed for a piece another receiver is still
passing on; the fit below is alpha(N) = 1 + a * ln(N), from the measured
points. Start-up (connections, first pieces) and tail (the last pieces
reach the last receivers) are one constant t0.

  fanout_model.py RESULTS_JSON   fit to a bench/replication.sh run, print
                                 the model next to the measured N = 1..8 and
                                 the prediction for 30 and 100 receivers of
                                 a 50 GB image on 1 Gbit/s ports, each
                                 receiver with cores of its own.
"""
import json
import math
import statistics
import sys


def model(n, s, u_seed, u, d, alpha, c=0.0, cores=None, t0=0.0):
    terms = {
        "seed link": alpha * s / u_seed,
        "receiver link": s / d,
        "swarm upload": n * s / (u_seed + n * u),
    }
    if cores:
        terms["CPU"] = n * s * c / cores
    limit = max(terms, key=terms.get)
    return t0 + terms[limit], limit


def main():
    r = json.load(open(sys.argv[1]))
    runs = [x for x in r["runs"] if x["phase"] in ("fanout", "stalls")]
    s = r["mib"] * 2**20
    rate = float(r["rate"].rstrip("mbit")) * 1e6 / 8
    port = rate * 0.95  # TCP/IP headers: payload of a shaped port
    counts = sorted({x["n"] for x in runs})
    med = {n: {k: statistics.median(x["run"][k] for x in runs if x["n"] == n)
               for k in ("seconds", "seed_sent_images", "cpu_seconds_per_gib", "cpu_busy")}
           for n in counts}
    # alpha(N) = 1 + a ln N, least squares through the measured points.
    num = sum(math.log(n) * (med[n]["seed_sent_images"] - 1) for n in counts if n > 1)
    den = sum(math.log(n) ** 2 for n in counts if n > 1)
    a = num / den if den else 0.0
    # CPU seconds per received byte, from the busiest run (all cores).
    c = statistics.median(med[n]["cpu_seconds_per_gib"] for n in counts if n > 1) / 2**30
    t0 = med[1]["seconds"] - s / port
    print(f"fit: port payload {port / 1e6:.1f} MB/s, t0 {t0:.2f} s, alpha(N) = 1 + {a:.3f} ln N, "
          f"CPU {c * 2**30:.2f} s per GiB per receiver, {r['cores']} cores shared")
    print(f"{'N':>4} {'measured s':>11} {'model s':>8} {'limit':>14} {'measured/1':>11} {'model/1':>8}")
    base_m = med[1]["seconds"]
    base_p, _ = model(1, s, port, port, port, 1.0, c, r["cores"], t0)
    for n in counts:
        p, limit = model(n, s, port, port, port, 1 + a * math.log(n), c, r["cores"], t0)
        print(f"{n:>4} {med[n]['seconds']:>11.2f} {p:>8.2f} {limit:>14} "
              f"{med[n]['seconds'] / base_m:>11.2f} {p / base_p:>8.2f}")
    # A lab: 50 GB, 1 Gbit/s ports, every receiver its own cores, the
    # same duplication fit. EZIO's published figures on one gigabit switch:
    # 1 -> 1 675 s, 1 -> 32 1,143 s.
    s_lab = 50e9
    port_lab = 125e6 * 0.95
    base, _ = model(1, s_lab, port_lab, port_lab, port_lab, 1.0, t0=t0)
    print(f"\nprediction, 50 GB on 1 Gbit/s ports (receivers not sharing cores):")
    for n in (1, 8, 30, 32, 100):
        p, limit = model(n, s_lab, port_lab, port_lab, port_lab, 1 + a * math.log(n), t0=t0)
        print(f"  1 -> {n:<3} {p:7.0f} s  ({p / base:.2f} x 1 -> 1; limited by the {limit})")
    print("  EZIO (published): 1 -> 1 675 s, 1 -> 32 1,143 s (1.69 x)")


if __name__ == "__main__":
    main()
