#!/usr/bin/env python3
"""Checks a bench/run.sh results.json, so that the harness cannot rot.

Used by the ctest entry bench.smoke after `run.sh --quick --only smoke`: it
asserts that the file parses, that every goal row of the project exists with
a number (so dynamicfs and native both ran every workload family), that the
ratios are consistent with the samples, and that the chart was drawn. It
does not judge whether goals are met: the smoke sizes are far too small.

    check_results.py RESULTS_JSON [--no-chart]
"""
import json
import math
import os
import sys

ROWS = ["seq_write", "seq_read", "randread_4k_16j", "randwrite_fdatasync_4k_16j",
        "randwrite_fdatasync_4k_16f", "create", "stat_warm", "unlink", "create_vs_passthrough",
        "rename_vs_passthrough", "unlink_vs_passthrough", "create_vs_memfs",
        "stat_warm_vs_memfs", "rename_vs_memfs", "unlink_vs_memfs", "churn_vs_native",
        "churn_flat", "every_row_passthrough", "every_row_mergerfs", "rss_1m_files"]
# Rows whose measure is "value", not "ratio".
VALUE_ROWS = {"rss_1m_files", "churn_flat", "every_row_passthrough", "every_row_mergerfs"}
FAMILIES = ["seq", "randread", "randwrite", "meta", "realwork", "memory", "churn"]


def fail(msg):
    print(f"check_results: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        print("usage: check_results.py RESULTS_JSON [--no-chart]", file=sys.stderr)
        return 2
    path = args[0]
    try:
        with open(path) as f:
            res = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{path} does not parse: {e}")

    for key in ("machine", "workloads", "target_rows", "targets"):
        if key not in res:
            fail(f"missing top-level key '{key}'")
    m = res["machine"]
    for key in ("nproc", "mem_total_mib", "kernel", "bench_fs_type", "date", "mode"):
        if key not in m:
            fail(f"machine facts lack '{key}'")

    rows = {r["name"]: r for r in res["target_rows"]}
    for name in ROWS:
        r = rows.get(name)
        if r is None:
            fail(f"target row '{name}' is missing")
        value = r.get("value") if name in VALUE_ROWS else r.get("ratio")
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 or (
                value == 0 and not name.startswith("every_row_")):
            errs = [e for e in res.get("errors", []) if e["target"] in ("dynamicfs", "native")]
            fail(f"target row '{name}' has no measured value ({value!r}); "
                 f"dynamicfs/native errors: {errs[:3]}")
        if not isinstance(r.get("met"), bool) or "goal" not in r:
            fail(f"target row '{name}' lacks goal/met")
        if m["mode"] == "smoke" and r.get("smoke") is not True:
            fail(f"target row '{name}' of a smoke run is not marked smoke")

    families = {w["family"] for w in res["workloads"].values()}
    for fam in FAMILIES:
        if fam not in families:
            fail(f"no workload of family '{fam}' produced a sample")
    for name, w in res["workloads"].items():
        for t, r in w["results"].items():
            s = r["samples"]
            if not s or not (r["min"] <= r["median"] <= r["max"]):
                fail(f"{name}/{t}: inconsistent samples/median {r}")
        ratio = w["ratios"].get("dynamicfs/native")
        if ratio is not None:
            d, n = w["results"]["dynamicfs"]["median"], w["results"]["native"]["median"]
            want = d / n if w["higher_is_better"] else n / d
            if abs(ratio - want) > 1e-9 * max(1.0, want):
                fail(f"{name}: dynamicfs/native ratio {ratio} != {want}")

    if "--no-chart" not in sys.argv:
        chart = os.path.join(os.path.dirname(path), "chart.png")
        with open(chart, "rb") as f:
            if f.read(8) != b"\x89PNG\r\n\x1a\n":
                fail(f"{chart} is not a PNG")
    print(f"check_results: ok: {len(ROWS)} target rows, {len(res['workloads'])} workloads "
          f"({m['mode']} run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
