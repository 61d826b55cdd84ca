"""Turns locust's CSV statistics and the nodes' memory into the load benchmark's Markdown summary.

Usage: summary.py RUN.json   (written by bench/load/run.sh; prints the Markdown)

RUN.json: {"csv_prefix", "users", "minutes", "binary", "started", "machine", "load_before",
"photos": [bytes...], "nodes": [{"name", "url", "rss_kb", "hwm_kb", "log_errors": [...]}],
"cpu_seconds": {process: seconds used during the run}, "locust_exit", "metrics": [each node's
GET /metrics text, scraped after the load]}.

Targets (issue 18): no errors; p99 < 300 ms for pages, < 50 ms for the list APIs, < 2 s for photo
uploads. Percentiles are locust's: exact below 100 ms, rounded to 10 ms below 1 s and to 100 ms above.
"""

import csv
import json
import os
import sys

TARGETS = {"page": 300, "list API": 50, "photo upload": 2000}
LIST_APIS = {"GET /api/v1/referrals", "GET /api/v1/worklist"}
UPLOADS = {"POST /api/v1/referrals/{id}/photos", "POST /p/{token}/photos"}


def kind(method, name):
    route = name.split(" [")[0]
    if route in UPLOADS:
        return "photo upload"
    if route in LIST_APIS:
        return "list API"
    if method == "GET" and not route.split(" ", 1)[-1].startswith("/api/"):
        return "page"
    return "other"


def ms(value):
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "–"
    return f"{v:.0f}" if v >= 10 else f"{v:.1f}"


def percentile(values, q):
    """Nearest-rank percentile of a non-empty list."""
    v = sorted(values)
    return v[max(0, min(len(v) - 1, int(round(q / 100 * len(v) + 0.5)) - 1))]


def per_node(path):
    """Per node: requests, failures and exact p99 per kind, from the request log."""
    try:
        rows = list(csv.reader(open(path)))
    except OSError:
        return {}, []
    nodes = {}
    for start, method, name, ms_, status, failed, node in rows:
        n = nodes.setdefault(node, {"requests": 0, "failures": 0, "kinds": {}})
        n["requests"] += 1
        n["failures"] += int(failed)
        n["kinds"].setdefault(kind(method, name), []).append(float(ms_))
    t0 = min((float(r[0]) for r in rows), default=0)
    slowest = sorted(rows, key=lambda r: -float(r[3]))[:5]
    return nodes, [(float(r[0]) - t0, r[6], r[2], float(r[3]), r[4]) for r in slowest]


def pg_activity(path):
    try:
        rows = [l.rstrip("\n").split("\t") for l in open(path) if l.strip()]
    except OSError:
        return None
    rows = [r for r in rows if len(r) >= 4]
    if not rows:
        return None
    waiting, busy = {}, {}
    for r in rows:
        for q in (r[4].split(" | ") if len(r) > 4 and r[4] else []):
            waiting[q] = waiting.get(q, 0) + 1
        for w in (r[5].split(" | ") if len(r) > 5 and r[5] else []):
            busy[w] = busy.get(w, 0) + 1
    return {
        "samples": len(rows),
        "max_sessions": max(int(r[1]) for r in rows),
        "max_active": max(int(r[2]) for r in rows),
        "max_waiting": max(int(r[3]) for r in rows),
        "samples_waiting": sum(1 for r in rows if int(r[3]) > 0),
        "top_waiting": sorted(waiting.items(), key=lambda kv: -kv[1])[:3],
        "busy": sorted(busy.items(), key=lambda kv: -kv[1])[:6],
    }


STAGES = ["memory_wait", "thread_wait", "processing", "blobs", "record"]


def histograms(paths, name, value_of):
    """Sums a Prometheus histogram over the nodes' /metrics texts: {key: {"count", "sum",
    "buckets": [(upper bound, cumulative count)]}}, the key being value_of(the series' labels) and
    series whose key is None left out."""
    out = {}
    for path in paths:
        try:
            text = open(path).read()
        except OSError:
            continue
        for line in text.splitlines():
            if not line.startswith(name + "_"):
                continue
            series, _, number = line.rpartition(" ")
            labels = dict(kv.split("=", 1) for kv in series[series.index("{") + 1:series.rindex("}")].split(",")) if "{" in series else {}
            labels = {k: v.strip('"') for k, v in labels.items()}
            key = value_of(labels)
            if key is None:
                continue
            h = out.setdefault(key, {"count": 0.0, "sum": 0.0, "buckets": {}})
            if series.startswith(name + "_bucket"):
                le = float(labels["le"]) if labels["le"] != "+Inf" else float("inf")
                h["buckets"][le] = h["buckets"].get(le, 0.0) + float(number)
            elif series.startswith(name + "_count"):
                h["count"] += float(number)
            elif series.startswith(name + "_sum"):
                h["sum"] += float(number)
    for h in out.values():
        h["buckets"] = sorted(h["buckets"].items())
    return out


def histogram_quantile(h, q):
    """Prometheus's estimate: linear within the bucket that holds the q-th observation (seconds)."""
    rank = q * h["count"]
    lower, below = 0.0, 0.0
    for upper, cumulative in h["buckets"]:
        if cumulative >= rank:
            if upper == float("inf"):
                return lower
            return lower + (upper - lower) * ((rank - below) / max(cumulative - below, 1e-9))
        lower, below = upper, cumulative
    return lower


def stage_table(run, p):
    paths = run.get("metrics") or []
    stages = histograms(paths, "telederm_photo_intake_stage_seconds", lambda l: l.get("stage") if l.get("stage") in STAGES else None)
    routes = histograms(paths, "telederm_http_request_duration_seconds",
                        lambda l: l.get("route") if f"{l.get('method')} {l.get('route')}" in UPLOADS else None)
    if not stages:
        return
    p("Where the uploads' time went, as the nodes timed it (`telederm_photo_intake_stage_seconds` and the upload "
      "routes' `telederm_http_request_duration_seconds`, both nodes; p50 and p99 are estimated within the "
      "histogram's buckets, the mean is exact; ms):")
    p("")
    p("| stage | photos | mean | p50 | p99 |")
    p("|---|---|---|---|---|")
    rows = [(s, stages[s]) for s in STAGES if s in stages] + [(f"whole request on the server: `POST {r}`", h) for r, h in sorted(routes.items())]
    for name, h in rows:
        if h["count"]:
            p(f"| {name} | {h['count']:.0f} | {ms(1000 * h['sum'] / h['count'])} | {ms(1000 * histogram_quantile(h, 0.5))} | "
              f"{ms(1000 * histogram_quantile(h, 0.99))} |")
    p("")
    p("(The whole request includes reading the photo's body, the referral and permission checks and the answer; "
      "what the load generator measured beyond it is time on the wire and in its own queue.)")
    p("")


def main():
    run = json.load(open(sys.argv[1]))
    prefix = run["csv_prefix"]
    rows = list(csv.DictReader(open(f"{prefix}_stats.csv")))
    failures = list(csv.DictReader(open(f"{prefix}_failures.csv")))
    total = next((r for r in rows if r["Name"] == "Aggregated"), None)
    endpoints = [r for r in rows if r["Name"] != "Aggregated"]
    order = {"page": 0, "list API": 1, "photo upload": 2, "other": 3}
    endpoints.sort(key=lambda r: (order[kind(r["Type"], r["Name"])], r["Name"]))

    out = []
    p = out.append
    p("# Mixed load on two nodes (issue 18)")
    p("")
    p(f"- run: {run['started']}, {run['users']} users for {run['minutes']} min against two nodes "
      f"(`telederm demo` and `telederm serve`, one PostgreSQL database and one S3 bucket), locust {run.get('locust_version', '')} headless on the same machine")
    debug = "/debug/" in run["binary"]
    p(f"- binary: `{run['binary']}`" + (" (**a debug build**: its latencies say little about a release build's)" if debug else ""))
    p(f"- machine: {run['machine']}; load average before the run: {run['load_before']}")
    sizes = run.get("photos", [])
    if sizes:
        p(f"- photos: {len(sizes)} generated 12 MP JPEGs (4000x3000, q92), {min(sizes) / 1e6:.1f}-{max(sizes) / 1e6:.1f} MB, "
          "every one accepted by the photo gate before the run")
    if total:
        reqs, fails = int(total["Request Count"]), int(total["Failure Count"])
        p(f"- requests: {reqs} at **{float(total['Requests/s']):.1f} requests/s**, failures: **{fails}**")
    p("")
    p("Times in ms. Kinds and targets (p99): page < 300 ms, list API < 50 ms, photo upload < 2000 ms; "
      "others have no target.")
    p("")
    p("| endpoint | kind | requests | failures | req/s | p50 | p95 | p99 | max | p99 target met |")
    p("|---|---|---|---|---|---|---|---|---|---|")
    missed = []
    for r in endpoints:
        k = kind(r["Type"], r["Name"])
        target = TARGETS.get(k)
        p99 = float(r["99%"]) if r["99%"] not in ("", "N/A") else None
        if target is None or p99 is None:
            met = "–"
        elif p99 < target:
            met = "yes"
        else:
            met = "NO"
            missed.append(f"{r['Type']} {r['Name'].split(' ', 1)[-1]} ({k}): p99 {ms(p99)} ms")
        name = r["Name"] if r["Name"].startswith(r["Type"] + " ") else f"{r['Type']} {r['Name']}"
        p(f"| `{name}` | {k} | {r['Request Count']} | {r['Failure Count']} | {float(r['Requests/s']):.2f} | "
          f"{ms(r['50%'])} | {ms(r['95%'])} | {ms(r['99%'])} | {ms(r['Max Response Time'])} | {met} |")
    p("")
    if failures:
        p("Failures (endpoint, status and error code, count):")
        p("")
        p("| endpoint | error | count |")
        p("|---|---|---|")
        for f in sorted(failures, key=lambda f: -int(f["Occurrences"])):
            p(f"| `{f['Name']}` | {f['Error']} | {f['Occurrences']} |")
        p("")
    p("| node | address | RSS after seeding (MiB) | peak RSS, VmHWM (MiB) | log lines at ERROR | at WARN |")
    p("|---|---|---|---|---|---|")
    for n in run["nodes"]:
        p(f"| {n['name']} | {n['url']} | {n['rss_kb'] / 1024:.0f} | {n['hwm_kb'] / 1024:.0f} | {len(n['log_errors'])} | "
          f"{n.get('log_warnings', 0)} |")
    p("")
    cpu = run.get("cpu_seconds")
    if cpu:
        seconds = run["minutes"] * 60
        p(f"CPU time used during the run (user + system, s; the machine has {os.cpu_count()} cores x {seconds} s = "
          f"{os.cpu_count() * seconds} core-seconds):")
        p("")
        p("| process | CPU s | share of the cores |")
        p("|---|---|---|")
        for name, used in cpu.items():
            p(f"| {name} | {used:.0f} | {100 * used / (os.cpu_count() * seconds):.0f}% |")
        p("")
    for n in run["nodes"]:
        for line in n["log_errors"][:5]:
            p(f"- {n['name']} log: `{line[:300]}`")
    if any(n["log_errors"] for n in run["nodes"]):
        p("")
    nodes, slowest = per_node(run.get("requests_log", ""))
    if nodes:
        p("Per node (exact nearest-rank p99 from the request log, ms):")
        p("")
        p("| node | requests | failures | pages p99 | list APIs p99 | photo uploads p99 |")
        p("|---|---|---|---|---|---|")
        for node, n in sorted(nodes.items()):
            cells = [ms(percentile(n["kinds"][k], 99)) if n["kinds"].get(k) else "–" for k in ("page", "list API", "photo upload")]
            p(f"| {node} | {n['requests']} | {n['failures']} | " + " | ".join(cells) + " |")
        p("")
        p("Slowest requests (seconds after the first request, node, endpoint, ms, status): "
          + "; ".join(f"+{t:.0f} s {node} `{name}` {ms(v)} ({status})" for t, node, name, v, status in slowest) + ".")
        p("")
    stage_table(run, p)
    pg = pg_activity(run.get("pg_activity", ""))
    if pg:
        p(f"PostgreSQL, sampled each second ({pg['samples']} samples): at most {pg['max_sessions']} sessions of the "
          f"database, {pg['max_active']} busy at once, {pg['max_waiting']} waiting on a lock at once; some session "
          f"waited on a lock in {pg['samples_waiting']} samples.")
        for q, n in pg["top_waiting"]:
            p(f"- waiting on a lock in {n} session-samples: `{q}`")
        if pg["busy"]:
            p("- busy sessions by state and wait (session-samples): "
              + ", ".join(f"`{w}` {n}" for w, n in pg["busy"]))
        p("")
    p("Targets:")
    p("")
    fails = int(total["Failure Count"]) if total else 0
    p(f"- no errors: {'yes' if fails == 0 else f'NO ({fails} failed requests)'}")
    for k, target in TARGETS.items():
        rows_k = [r for r in endpoints if kind(r["Type"], r["Name"]) == k]
        worst = max((float(r["99%"]) for r in rows_k if r["99%"] not in ("", "N/A")), default=None)
        if worst is None:
            p(f"- {k}s p99 < {target} ms: no requests")
        else:
            p(f"- {k}s p99 < {target} ms: {'yes' if worst < target else 'NO'} (worst p99 {ms(worst)} ms)")
    if missed:
        p("")
        p("Missed p99 targets: " + "; ".join(missed) + ".")
    print("\n".join(out))


if __name__ == "__main__":
    main()
