#!/usr/bin/env python3
"""Renders compare.sh's results (JSON lines from warren-bench) as Markdown tables and writes
them into docs/benchmarks.md between the compare markers, leaving the rest of the file alone.

usage: render.py RESULTS.jsonl COMMAND WARREN_COMMIT (DOC.md | -)
"""
import datetime
import json
import os
import platform
import subprocess
import sys

BEGIN, END = "<!-- compare:begin -->", "<!-- compare:end -->"
BROKERS = ["warren", "rabbitmq", "mosquitto"]


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception:  # noqa: BLE001 - the header is best effort
        return ""


def machine():
    model = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    mem = sh("awk '/MemTotal/ {printf \"%.0f GiB\", $2/1048576}' /proc/meminfo")
    return f"{os.cpu_count()} vCPU {model}, {mem} RAM, Linux {platform.release()}"


def fmt_rate(x):
    return f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.0f}k" if x >= 1e3 else f"{x:.0f}"


def row(r):
    b, lat = r.get("broker") or {}, r["latency"]
    idle = r["options"]["idle"]
    lost = max(0, r["expected_total"] - r["consumed_total"])
    cells = [
        r["options"]["label"],
        r["broker_name"],
        fmt_rate(r["publish_rate"]),
        fmt_rate(r["consume_rate"]),
        f"{lat['p50_us']:.0f} / {lat['p99_us']:.0f} / {lat['p999_us']:.0f}" if lat["count"] else "-",
        f"{b.get('cpu_percent', 0):.0f} / {r.get('client_cpu_percent', 0):.0f}",
        f"{b.get('rss_peak_kib', 0) / 1024:.0f}",
        f"{b.get('rss_per_idle_kib', 0):.1f}" if idle else "-",
        f"{lost}/{r['errors']}",
    ]
    return "| " + " | ".join(cells) + " |"


def by_label(results):
    out = {}
    for r in results:
        out.setdefault(r["options"]["label"], {})[r["broker_name"]] = r
    return out


def rate(table, label, broker):
    r = table.get(label, {}).get(broker)
    return r["consume_rate"] if r and r["errors"] == 0 else None


def targets(table):
    """(target, measured, met) rows for the issue's targets that these runs can check."""
    rows = []

    def ratio(label, peer, want, floor=None):
        w, p = rate(table, label, "warren"), rate(table, label, peer)
        if w is None or not p:
            return
        text = f"{w / p:.2f}x {peer} ({fmt_rate(w)} vs {fmt_rate(p)})"
        rows.append((f"{label}: >= {want}x {peer}", text, w / p >= want))
        if floor:
            rows.append((f"{label}: >= {fmt_rate(floor)} msg/s", fmt_rate(w), w >= floor))

    ratio("amqp 1:1 16 B", "rabbitmq", 4, 500_000)
    ratio("amqp 1:1 1 KiB confirms, manual ack, prefetch 100", "rabbitmq", 3)
    for label, floor in [("mqtt qos0 1:1 16 B", 1.8e6), ("mqtt qos0 fan-out 1:10 16 B", 3.2e6),
                         ("mqtt qos1 1:1 16 B", 400e3), ("mqtt qos1 fan-out 1:10 16 B", 2.2e6)]:
        ratio(label, "mosquitto", 1.5, floor)
        ratio(label, "rabbitmq", 3)
    ratio("stomp 1:1 16 B", "rabbitmq", 3)
    for label in ["latency amqp 10k msg/s 16 B", "latency mqtt qos0 10k msg/s 16 B"]:
        r = table.get(label, {}).get("warren")
        if r:
            p99 = r["latency"]["p99_us"]
            floors = [(name, table.get(label, {}).get(name)) for name in ("relay", "relay-threads")]
            floors = [f"{name} {r['latency']['p99_us']:.0f} us" for name, r in floors if r]
            note = f" (floor: {', '.join(floors)})" if floors else ""
            rows.append((f"{label}: p99 < 90 us", f"{p99:.0f} us{note}", p99 < 90))
    for label, limit in [("idle mqtt 10,000 connections", 2), ("idle amqp 10,000 connections", 4),
                         ("idle stomp 10,000 connections", 4)]:
        r = table.get(label, {}).get("warren")
        if r and r.get("broker"):
            kib = r["broker"]["rss_per_idle_kib"]
            ok = kib <= limit and r["errors"] == 0
            rows.append((f"{label}: <= {limit} KiB each", f"{kib:.1f} KiB ({r['errors']} errors)", ok))
    many = rate(table, "amqp 1,000 queues, 1 consumer each, 16 B", "warren")
    one = rate(table, "amqp 4:1 one queue, 16 B", "warren")
    if many is not None and one:
        rows.append(("1,000 queues (4 publishers): >= 70% of one queue (4 publishers)", f"{100 * many / one:.0f}%", many >= 0.7 * one))
    return rows


def render(results, command, commit, measured):
    now = measured.strftime("%Y-%m-%d %H:%M UTC")
    loads = [r["load_before"] for r in results if "load_before" in r]
    load = f"{min(loads):.1f}-{max(loads):.1f} before the runs" if loads else "unknown"

    lines = [
        BEGIN,
        f"Measured {now} on {machine()}, Warren at commit `{commit}` (release build), "
        f"1-minute load average {load}. Command: `{command}`.",
        "",
        "Broker and load generator share the 2 cores, and other builds may have been running:",
        "treat single numbers as noisy (rerun the command to check) and the ratios, taken in the",
        "same run, as the result. Rates are messages per second over the window; consumed is",
        "egress (fan-out counts every copy). Latency is end to end (publish to consume) in",
        "microseconds; at flat out it is mostly queueing. CPU is in % of one core, the broker's and",
        "the load generator's; RSS is the broker's peak. Left = copies expected but not consumed",
        "by the end of the drain (a backlog still queued, or lost).",
        "",
        "| scenario | broker | published/s | consumed/s | latency p50 / p99 / p99.9 us | CPU % broker / client | RSS MiB | KiB per idle conn | left/errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [row(r) for r in results]
    checks = targets(by_label(results))
    if checks:
        lines += ["", "| target | measured | met |", "|---|---|---|"]
        lines += [f"| {t} | {m} | {'yes' if ok else '**no**'} |" for t, m, ok in checks]
    lines.append(END)
    return "\n".join(lines) + "\n"


def write(doc, block):
    text = open(doc).read() if os.path.exists(doc) else "# Benchmarks\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block.rstrip("\n") + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Side by side: Warren, RabbitMQ, Mosquitto\n\n" + block
    with open(doc, "w") as f:
        f.write(text)


def main():
    path, command, commit, doc = sys.argv[1:5]
    results = [json.loads(line) for line in open(path) if line.strip()]
    measured = datetime.datetime.fromtimestamp(os.path.getmtime(path), datetime.timezone.utc)
    block = render(results, command, commit, measured)
    if doc == "-":
        sys.stdout.write(block)
    else:
        write(doc, block)
        sys.stdout.write(block)


if __name__ == "__main__":
    main()
