#!/usr/bin/env python3
"""Turns one bench/run.sh run into results: results.json, a table and a chart.

It exists so that the shell harness only measures and appends raw samples
(OUT/samples.jsonl, one JSON object per sample or failure) while everything
derived -- medians, spread, ratios between targets, the project's goal rows --
is computed in one place from those samples, never typed in by hand.

    report.py OUT_DIR

Reads OUT_DIR/machine.json and OUT_DIR/samples.jsonl; writes
OUT_DIR/results.json, OUT_DIR/table.txt (also printed), OUT_DIR/table.md and
OUT_DIR/chart.png (skipped with a warning when matplotlib is missing).

Every ratio is a speed ratio, "higher is better": for throughput and ops/s it
is target/reference, for elapsed seconds it is reference_time/target_time.
"""
import json
import os
import statistics
import sys

TARGETS = ["native", "memfs", "passthrough", "mergerfs", "dynamicfs", "dynamicfs_r2"]
SHORT = {"native": "native", "memfs": "memfs", "passthrough": "passthru", "mergerfs": "mergerfs",
         "dynamicfs": "dynamicfs", "dynamicfs_r2": "dfs-2rep"}
# Presentation order; workloads not listed here are appended in sample order.
ORDER = [
    "seq_write", "seq_read",
    "randread_4k_1j", "randread_4k_16j",
    "randwrite_fdatasync_4k_1j", "randwrite_fdatasync_4k_16j", "randwrite_fdatasync_4k_16f",
    "create_1t", "stat_warm_1t", "stat_cold_1t", "readdir_1t", "rename_1t", "unlink_1t",
    "create_8t", "stat_warm_8t", "stat_cold_8t", "readdir_8t", "rename_8t", "unlink_8t",
    "tar_x", "git_status_first", "git_status", "rm_rf",
    "rss_idle", "rss_peak_1m_files", "rss_after_1m_files",
    "churn_first_1k", "churn_last_1k",
]
# The project's goals, one row each: name, workload it is read from, the
# speed ratio judged, goal (ratio >= goal).
GOALS = [
    ("seq_write", "seq_write", "dynamicfs/native", 0.8),
    ("seq_read", "seq_read", "dynamicfs/native", 0.9),
    ("randread_4k_16j", "randread_4k_16j", "dynamicfs/native", 0.8),
    ("randwrite_fdatasync_4k_16j", "randwrite_fdatasync_4k_16j", "dynamicfs/native", 0.5),
    ("randwrite_fdatasync_4k_16f", "randwrite_fdatasync_4k_16f", "dynamicfs/native", 0.5),
    ("create", "create_8t", "dynamicfs/native", 1.0),
    ("stat_warm", "stat_warm_8t", "dynamicfs/native", 0.5),
    ("unlink", "unlink_8t", "dynamicfs/native", 0.3),
    ("create_vs_passthrough", "create_8t", "dynamicfs/passthrough", 1.5),
    ("rename_vs_passthrough", "rename_8t", "dynamicfs/passthrough", 1.5),
    ("unlink_vs_passthrough", "unlink_8t", "dynamicfs/passthrough", 1.5),
    ("create_vs_memfs", "create_8t", "dynamicfs/memfs", 0.7),
    ("stat_warm_vs_memfs", "stat_warm_8t", "dynamicfs/memfs", 0.7),
    ("rename_vs_memfs", "rename_8t", "dynamicfs/memfs", 0.7),
    ("unlink_vs_memfs", "unlink_8t", "dynamicfs/memfs", 0.7),
    ("churn_vs_native", "churn_last_1k", "dynamicfs/native", 1 / 3),
]
# Rows where dynamicfs is judged against both FUSE peers (>= 1.0 each).
PEER_PAIRS = ["dynamicfs/passthrough", "dynamicfs/mergerfs"]
RSS_GOAL_MIB = 256.0
RATIO_PAIRS = [("dynamicfs", "native"), ("dynamicfs", "passthrough"), ("dynamicfs", "mergerfs"),
               ("dynamicfs", "memfs"), ("passthrough", "native"), ("mergerfs", "native"),
               ("dynamicfs_r2", "native"), ("dynamicfs_r2", "passthrough"),
               ("dynamicfs_r2", "mergerfs")]


def load(out):
    with open(os.path.join(out, "machine.json")) as f:
        machine = json.load(f)
    samples, errors = [], []
    with open(os.path.join(out, "samples.jsonl")) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            rec = json.loads(line)
            (errors if "error" in rec else samples).append(rec)
    return machine, samples, errors


def speed_ratio(w, a, b):
    ra, rb = w["results"].get(a), w["results"].get(b)
    if not ra or not rb or not ra["median"] or not rb["median"]:
        return None
    if w["higher_is_better"]:
        return ra["median"] / rb["median"]
    return rb["median"] / ra["median"]


def aggregate(samples, errors, mode):
    workloads = {}
    for s in samples:
        w = workloads.setdefault(s["workload"], {
            "family": s["family"], "unit": s["unit"],
            "higher_is_better": s["higher_is_better"], "results": {}, "errors": {}})
        r = w["results"].setdefault(s["target"], {"samples": [], "notes": []})
        r["samples"].append(s["value"])
        if s.get("note") and s["note"] not in r["notes"]:
            r["notes"].append(s["note"])
    for e in errors:
        if e["workload"] in workloads:
            workloads[e["workload"]]["errors"][e["target"]] = e["error"]
    for name, w in workloads.items():
        for r in w["results"].values():
            v = r["samples"]
            r["median"] = statistics.median(v)
            r["min"], r["max"] = min(v), max(v)
            r["spread_pct"] = round(100.0 * (r["max"] - r["min"]) / r["median"], 1) if r["median"] else 0.0
            r["n"] = len(v)
        w["smoke"] = mode == "smoke"
        if name.startswith("rss_"):
            w["ratios"] = {}  # memory is judged in absolute MiB, not against native
        else:
            w["ratios"] = {f"{a}/{b}": speed_ratio(w, a, b) for a, b in RATIO_PAIRS}
    order = [n for n in ORDER if n in workloads] + [n for n in workloads if n not in ORDER]
    return {n: workloads[n] for n in order}


def goal_rows(workloads, machine):
    rows = []
    for name, wl, pair, goal in GOALS:
        w = workloads.get(wl)
        ratio = w["ratios"].get(pair) if w else None
        row = {"name": name, "workload": wl, "metric": f"{pair} speed ratio",
               "ratio": ratio, "goal": goal, "comparison": ">=",
               "met": ratio is not None and ratio >= goal, "missing": ratio is None,
               "smoke": machine["mode"] == "smoke"}
        if wl.endswith("_8t"):
            w1 = workloads.get(wl[:-3] + "_1t")
            row["ratio_1t"] = w1["ratios"].get(pair) if w1 else None
        rows.append(row)
    # The churn row stays flat: the last 1,000 rounds cost at most 1.5x the first.
    w = workloads.get("churn_last_1k")
    w0 = workloads.get("churn_first_1k")
    first = (w0 or {}).get("results", {}).get("dynamicfs", {}).get("median")
    last = (w or {}).get("results", {}).get("dynamicfs", {}).get("median")
    growth = last / first if first and last else None
    rows.append({"name": "churn_flat", "workload": "churn_last_1k",
                 "metric": "dynamicfs last/first 1,000 rounds (time)", "value": growth,
                 "goal": 1.5, "comparison": "<=", "met": growth is not None and growth <= 1.5,
                 "missing": growth is None, "smoke": machine["mode"] == "smoke"})
    # Every row against both FUSE peers, one summary row each.
    for pair in PEER_PAIRS:
        judged = [(n, w["ratios"].get(pair)) for n, w in workloads.items()
                  if w["ratios"].get(pair) is not None]
        behind = [n for n, r in judged if r < 1.0]
        rows.append({"name": f"every_row_{pair.split('/')[1]}", "workload": "*",
                     "metric": f"rows with {pair} >= 1.0", "value": len(judged) - len(behind),
                     "rows": len(judged), "behind": behind, "goal": len(judged),
                     "comparison": "all", "met": bool(judged) and not behind,
                     "missing": not judged, "smoke": machine["mode"] == "smoke"})
    w = workloads.get("rss_peak_1m_files")
    r = w["results"].get("dynamicfs") if w else None
    value = r["median"] if r else None
    rows.append({"name": "rss_1m_files", "workload": "rss_peak_1m_files",
                 "metric": "dynamicfs daemon VmHWM (MiB) after creating the files",
                 "value": value, "files": machine["params"]["rss_files"],
                 "goal": RSS_GOAL_MIB, "comparison": "<=",
                 "met": value is not None and value <= RSS_GOAL_MIB, "missing": value is None,
                 "smoke": machine["mode"] == "smoke"})
    return rows


def fmt_num(v):
    if v is None:
        return "-"
    if v >= 10000:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def fmt_ratio(v):
    return "-" if v is None else f"{v:.2f}"


def table(workloads, rows, present, machine):
    """Rows of cells: workload, unit, each target's median ±spread, ratios."""
    header = ["workload", "unit"] + [SHORT[t] for t in present] + [
        "dfs/nat", "dfs/pt", "dfs/mfs", "dfs/mem", "pt/nat", "mfs/nat", "goals"]
    goals = {}
    for _, wl, pair, g in GOALS:
        goals.setdefault(wl, []).append((pair, g))
    lines = []
    for name, w in workloads.items():
        cells = [name, w["unit"]]
        for t in present:
            r = w["results"].get(t)
            if r:
                cell = fmt_num(r["median"])
                if r["n"] > 1:
                    cell += f" ±{r['spread_pct']:.0f}%"
                if any(n.startswith("buffered: O_DIRECT") for n in r["notes"]):
                    cell += " b"
                if any("capped at" in n for n in r["notes"]):
                    cell += " c"
            else:
                cell = "FAIL" if t in w["errors"] else "-"
            cells.append(cell)
        ra = w["ratios"]
        cells += [fmt_ratio(ra.get("dynamicfs/native")), fmt_ratio(ra.get("dynamicfs/passthrough")),
                  fmt_ratio(ra.get("dynamicfs/mergerfs")), fmt_ratio(ra.get("dynamicfs/memfs")),
                  fmt_ratio(ra.get("passthrough/native")), fmt_ratio(ra.get("mergerfs/native"))]
        if name == "rss_peak_1m_files":
            v = w["results"].get("dynamicfs", {}).get("median")
            cells.append(f"<={RSS_GOAL_MIB:.0f} {'ok' if v is not None and v <= RSS_GOAL_MIB else 'MISS'}")
        else:
            parts = []
            for pair, g in goals.get(name, []):
                v = ra.get(pair)
                short = {"native": "nat", "passthrough": "pt", "memfs": "mem"}[pair.split("/")[1]]
                parts.append(f"{short}>={g:.2g} {'ok' if v is not None and v >= g else 'MISS'}")
            cells.append(", ".join(parts))
        lines.append(cells)
    return header, lines


def render_text(header, lines):
    widths = [max(len(str(c)) for c in col) for col in zip(header, *lines)]
    out = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths))]
    out.append("  ".join("-" * w for w in widths))
    for cells in lines:
        out.append("  ".join(str(c).ljust(w) for c, w in zip(cells, widths)))
    return "\n".join(out)


def render_md(header, lines):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for cells in lines:
        out.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(out)


def chart(workloads, rows, present, machine, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report.py: warning: matplotlib missing (apt-get install python3-matplotlib); no chart",
              file=sys.stderr)
        return False
    series = [(f"{t}/native", t) for t in ["dynamicfs", "dynamicfs_r2", "passthrough", "mergerfs"]
              if any(w["ratios"].get(f"{t}/native") is not None for w in workloads.values())]
    absent = [t for t in ["dynamicfs_r2", "passthrough", "mergerfs"] if t in present
              and t not in [s[1] for s in series]]
    names = [n for n, w in workloads.items() if w["ratios"]
             and any(w["ratios"].get(s) is not None for s, _ in series)]
    if not names:
        return False
    colors = {"dynamicfs": "#d62728", "dynamicfs_r2": "#ff9896", "passthrough": "#1f77b4",
              "mergerfs": "#2ca02c"}
    fig, ax = plt.subplots(figsize=(max(10, 0.62 * len(names) + 2), 6.2))
    width = 0.8 / len(series)
    for i, (key, t) in enumerate(series):
        xs, ys = [], []
        for j, n in enumerate(names):
            v = workloads[n]["ratios"].get(key)
            if v is not None:
                xs.append(j - 0.4 + width * (i + 0.5))
                ys.append(v)
        ax.bar(xs, ys, width, label=key, color=colors[t])
    goals = {g[1]: g[3] for g in GOALS if g[2] == "dynamicfs/native"}
    gx = [j for j, n in enumerate(names) if n in goals]
    for j in gx:
        ax.plot([j - 0.45, j + 0.45], [goals[names[j]]] * 2, color="black", lw=1.5, ls=":")
    ax.plot([], [], color="black", lw=1.5, ls=":", label="dynamicfs goal")
    ax.axhline(1.0, color="black", lw=1)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("speed ratio to native (log scale; > 1 = faster)")
    ax.set_title(f"dynamicfs vs FUSE peers, ratio to native {machine['bench_fs_type']} "
                 f"({machine['mode']} run, {machine['date'][:10]}, {machine['nproc']} cores)")
    for t in absent:
        ax.plot([], [], " ", label=f"{t}: not available")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.005, 1.0))
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main():
    if len(sys.argv) != 2:
        print("usage: report.py OUT_DIR", file=sys.stderr)
        return 2
    out = sys.argv[1]
    machine, samples, errors = load(out)
    workloads = aggregate(samples, errors, machine["mode"])
    rows = goal_rows(workloads, machine)
    present = [t for t in TARGETS if any(t in w["results"] or t in w["errors"] for w in workloads.values())
               or any(e["target"] == t for e in errors)]
    target_status = {}
    for t in present:
        errs = [e for e in errors if e["target"] == t]
        target_status[t] = {"samples": sum(len(w["results"].get(t, {}).get("samples", []))
                                           for w in workloads.values()),
                            "errors": [f"{e['workload']}: {e['error']}" for e in errs]}
    results = {"schema": 1, "machine": machine, "ratio_definition":
               "speed ratio, higher is better: a/b of throughput or ops/s, b/a of elapsed seconds",
               "targets": target_status, "workloads": workloads, "target_rows": rows,
               "errors": errors}
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)

    header, lines = table(workloads, rows, present, machine)
    text = render_text(header, lines)
    legend = ("medians of {r} repeats, ±spread = (max-min)/median; ratios are speed ratios "
              "(>1 = faster); b = buffered (O_DIRECT refused), c = file count capped (fd limit)"
              .format(r=machine["params"]["repeats"]))
    summary = [f"target rows ({machine['mode']} run):"]
    for r in rows:
        if r["name"] == "rss_1m_files":
            val = "missing" if r["missing"] else f"{r['value']:.0f} MiB ({r['files']} files)"
        elif r["name"] == "churn_flat":
            val = "missing" if r["missing"] else f"{r['value']:.2f}x"
        elif r["name"].startswith("every_row_"):
            val = "missing" if r["missing"] else f"{r['value']}/{r['rows']} rows"
            if r.get("behind"):
                val += "; behind: " + ", ".join(r["behind"])
        else:
            val = "missing" if r["missing"] else f"{r['ratio']:.2f}"
        goal = "all rows >= 1.0" if r["comparison"] == "all" else f"{r['comparison']} {r['goal']:.3g}"
        summary.append(f"  {r['name']:<28} {val:<24} goal {goal}  {'met' if r['met'] else 'NOT met'}")
    head = (f"dynamicfs benchmark, {machine['mode']} run, {machine['date']}, {machine['nproc']} cores, "
            f"{machine['mem_total_mib']} MiB, kernel {machine['kernel']}, native = "
            f"{machine['bench_fs_type']} on {machine['bench_fs_source']}")
    full = "\n".join([head, text, legend, ""] + summary)
    for t, st in target_status.items():
        if st["samples"] == 0:
            full += f"\n  {t}: no samples ({st['errors'][0] if st['errors'] else 'not run'})"
    print(full)
    with open(os.path.join(out, "table.txt"), "w") as f:
        f.write(full + "\n")
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(render_md(header, lines) + "\n\n" + legend + "\n")
    chart(workloads, rows, present, machine, os.path.join(out, "chart.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
