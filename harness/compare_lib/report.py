"""harness/compare's output: report.md (tables and ratios to setup (a)),
report.json (every figure and command), PNG plots (latency CDFs,
throughput, CPU per message)."""
from __future__ import annotations

import json
import math
from pathlib import Path

PERCENTILES = ("p50", "p99", "p99.9")


def messages_of(mailgun: dict) -> int:
    return int(mailgun.get("messages_ok", 0))


def rate(row: dict) -> float:
    return float(row.get("mailgun", {}).get("messages_per_s", math.nan))


def latency_us(row: dict, p: str) -> float:
    lat = row.get("mailgun", {}).get("latency_ns", {})
    value = lat.get(p.replace(".", ""))  # p99.9 -> p999
    return float(value) / 1000 if value is not None and lat.get("count") else math.nan


def errors(row: dict) -> int:
    return int(row.get("mailgun", {}).get("error_total", 0))


def one_line(row: dict) -> str:
    return (f"{row['workload']:<9} {rate(row):>9.0f} msg/s  p50 {latency_us(row, 'p50'):>8.0f} us  "
            f"p99 {latency_us(row, 'p99'):>8.0f} us  machine {row['machine_cpu_us_per_msg']:>7.1f} us/msg  "
            f"server {row['server_cpu_us_per_msg']:>7.1f} us/msg  errors {errors(row)}")


def _fmt(v: float, digits=0) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:,.{digits}f}"


def _ratio(v: float, base: float) -> str:
    if any(isinstance(x, float) and math.isnan(x) for x in (v, base)) or not base:
        return "–"
    return f"{v / base:.2f}×"


def _index(rows):
    return {(r["setup"], r["store"], r["workload"]): r for r in rows}


def markdown(meta: dict, rows: list[dict]) -> str:
    lines = [f"# harness/compare — {meta['date']}", "",
             f"{meta['cores']} cores; servers on CPU {meta['server_cpu']}, clients on CPU {meta['client_cpu']}; "
             f"{meta['duration_s']:g} s per workload; DPDK poll mode (server and DPDK mailgun): {meta['poll']}.", "",
             f"Placement: (a)/(d) run every server thread on CPU {meta['server_cpu']} (taskset); (b)/(c) poll on "
             f"CPU {meta['server_cpu']} (EAL -l) and run their I/O worker (file writes, fsync) and log writer "
             f"on the other CPUs — CPU {meta['client_cpu']}, beside the client — never on the polling CPU. "
             "The DPDK mailgun of (c) polls on its CPU; in adaptive mode it sleeps when idle as the server "
             "does.", ""]
    lines += [f"- ({k}) {d}" for k, d in meta["setups"].items()]
    lines += [f"- note: {n}" for n in meta["notes"]]
    lines += ["", "msg/s: stored (or sunk) messages per second as mailgun counts them; latency: SMTP final "
              "dot → 250, POP3 RETR → last octet; machine CPU: all cores' non-idle time (/proc/stat) per "
              "message; server CPU: the server's process time per message for (a)/(d), the poll loop's "
              "busy cycles for (b)/(c).", ""]
    idx = _index(rows)
    setups = list(meta["setups"])
    keys = sorted({(r["store"], r["workload"]) for r in rows if r["workload"] != "*"},
                  key=lambda k: (k[0] != "sink", k[1].split("-")[0], int(k[1].split("-")[1])))
    header = "| store | workload | setup | msg/s | p50 µs | p99 µs | p99.9 µs | machine CPU µs/msg | " \
             "server CPU µs/msg | errors | msg/s ÷ (a) | msg per machine-CPU-s ÷ (a) |"
    lines += [header, "|" + "---|" * 12]
    for store, wl in keys:
        base = idx.get(("a", store, wl))
        for s in setups:
            r = idx.get((s, store, wl))
            if r is None:
                continue
            if "skipped" in r or "error" in r:
                lines.append(f"| {store} | {wl} | ({s}) | {r.get('skipped') or 'FAILED: ' + r['error'][:80]} "
                             "| | | | | | | | |")
                continue
            eff = base and 1 / r["machine_cpu_us_per_msg"] if r["machine_cpu_us_per_msg"] else math.nan
            eff_base = 1 / base["machine_cpu_us_per_msg"] if base and "error" not in base and \
                base.get("machine_cpu_us_per_msg") else math.nan
            lines.append(
                f"| {store} | {wl} | ({s}) | {_fmt(rate(r))} | {_fmt(latency_us(r, 'p50'))} | "
                f"{_fmt(latency_us(r, 'p99'))} | {_fmt(latency_us(r, 'p99.9'))} | "
                f"{_fmt(r['machine_cpu_us_per_msg'], 1)} | {_fmt(r['server_cpu_us_per_msg'], 1)} | {errors(r)} | "
                f"{_ratio(rate(r), rate(base)) if base and 'error' not in base else '–'} | "
                f"{_ratio(eff, eff_base) if base else '–'} |")
    failed = [r for r in rows if "error" in r]
    if failed:
        lines += ["", "## Failures", ""] + [f"- ({r['setup']}) {r['store']} {r['workload']}: {r['error']}"
                                             for r in failed]
    lines += ["", "Plots: latency_cdf_<store>_<workload>.png, throughput.png, cpu_per_message.png.", ""]
    return "\n".join(lines)


def plots(out: Path, meta: dict, rows: list[dict]) -> list[str]:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ["matplotlib missing: no plots (apt-get install python3-matplotlib)"]
    good = [r for r in rows if "mailgun" in r]
    made = []
    for store, wl in sorted({(r["store"], r["workload"]) for r in good}):
        fig, ax = plt.subplots(figsize=(6, 4))
        for r in [r for r in good if r["store"] == store and r["workload"] == wl]:
            cdf = r["mailgun"].get("latency_cdf") or []
            if cdf:
                ax.plot([p[0] / 1000 for p in cdf], [p[1] for p in cdf], label=f"({r['setup']})")
        ax.set_xscale("log")
        ax.set_xlabel("per-message latency (µs)")
        ax.set_ylabel("fraction of messages")
        ax.set_title(f"{wl}, {store}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        name = f"latency_cdf_{store}_{wl}.png"
        fig.tight_layout()
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        made.append(name)
    for metric, title, name, fn in (
            ("rate", "messages/s (higher is better)", "throughput.png", rate),
            ("cpu", "machine CPU µs per message (lower is better)", "cpu_per_message.png",
             lambda r: r["machine_cpu_us_per_msg"])):
        groups = sorted({(r["store"], r["workload"]) for r in good})
        setups = list(meta["setups"])
        fig, ax = plt.subplots(figsize=(max(6, len(groups) * 1.2), 4))
        width = 0.8 / max(1, len(setups))
        idx = _index(good)
        for i, s in enumerate(setups):
            values = [fn(idx[(s, st, wl)]) if (s, st, wl) in idx else 0 for st, wl in groups]
            ax.bar([g + i * width for g in range(len(groups))], values, width, label=f"({s})")
        ax.set_xticks([g + width * (len(setups) - 1) / 2 for g in range(len(groups))])
        ax.set_xticklabels([f"{wl}\n{st}" for st, wl in groups], fontsize=8)
        ax.set_title(title)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        made.append(name)
    return made


def junit(path: Path, rows: list[dict]):
    """One test case per measured run, for the test summary: a run fails when
    it could not be measured, counted errors, or moved no message."""
    from xml.sax.saxutils import quoteattr
    cases = []
    for r in rows:
        name = quoteattr(f"({r['setup']}) {r['store']} {r['workload']}")
        if "skipped" in r:
            cases.append(f'<testcase classname="compare" name={name}><skipped message={quoteattr(r["skipped"])}/>'
                         "</testcase>")
            continue
        problem = r.get("error") or (f"{errors(r)} errors counted by mailgun" if errors(r) else None) or \
            (None if r.get("messages") else "no message moved")
        body = f"<failure message={quoteattr(problem)}/>" if problem else ""
        cases.append(f'<testcase classname="compare" name={name}>{body}</testcase>')
    path.write_text('<?xml version="1.0"?>\n<testsuite name="compare">\n' + "\n".join(cases) + "\n</testsuite>\n")


def write(out: Path, meta: dict, rows: list[dict]):
    meta = dict(meta, plots=plots(out, meta, rows))
    (out / "report.json").write_text(json.dumps({"meta": meta, "runs": rows}, indent=1, default=str))
    (out / "report.md").write_text(markdown(meta, rows))
