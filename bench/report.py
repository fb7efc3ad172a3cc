"""Every benchmark at a size that fits in about 10 minutes in all, written up in docs/benchmarks.md.

    .venv/bin/python bench/report.py [--budget-s 600] [--out docs/benchmarks.md]

Each benchmark runs as its own process, as one would run it by hand (the commands are in
the page), on the bench servers (`scripts/infra.py up --profile bench`, ports moved by
TEST_PORT_SHIFT). The page gets the machine (cores, CPU model, load), each run's figures
and ratios as printed (every figure beside the ceiling measured in the same run), and two
plots drawn with matplotlib: the month-end's throughput per stage with its ratio to the
ceiling, and the gateway's latency percentiles (closed and open loop). A benchmark that
would start after the budget is spent is listed as not run; one that fails is shown with
the end of its output.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (name, arguments, what it measures, timeout in seconds); the sizes fit the budget on 2 cores.
RUNS = (
    ("month_end", ["--households", "2000", "--timeout-s", "300"],
     "the 22nd end to end through the whole stack", 360),
    ("gateway_load", ["--accounts", "2000", "--duration", "4", "--rounds", "2", "--rate", "1000"],
     "the account summary through the gateway, against a bare handler; closed then open loop", 420),
    ("notify", ["--events", "5000"], "payment events turned into emails through SMTP", 180),
    ("identity_lookup", ["--members", "5000", "--duration", "4", "--rounds", "2"],
     "identity's member lookup", 180),
    ("autopay", ["--mandates", "20000"], "payments' own autopay run (draft, file, settle, relay)", 240),
    ("backbone", ["--events", "50000", "--rounds", "1"], "the outbox relay and idempotent consumer", 180),
)
JSON_FIGURES = {"month_end", "gateway_load"}  # these also write their figures as JSON


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return {"cores": str(os.cpu_count()), "cpu": model, "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()}",
            "load average at the start (1, 5, 15 min)": load}


def run_one(name: str, args: list[str], timeout_s: float, workdir: Path) -> dict:
    cmd = [sys.executable, f"bench/{name}.py", *args]
    figures_path = workdir / f"{name}.json"
    if name in JSON_FIGURES:
        cmd += ["--json", str(figures_path)]
    print(f"[report] {' '.join(cmd[1:])}", flush=True)
    started = time.monotonic()
    try:
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
        output, status = done.stdout + done.stderr, done.returncode
    except subprocess.TimeoutExpired as exc:
        output = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        output, status = output + f"\n(stopped after {timeout_s:.0f} s)", -1
    seconds = time.monotonic() - started
    figures = json.loads(figures_path.read_text()) if figures_path.exists() else None
    print(f"[report] {name}: exit {status} in {seconds:.0f} s", flush=True)
    shown = " ".join(["bench/" + name + ".py", *args])
    return {"name": name, "command": f".venv/bin/python {shown}", "status": status,
            "seconds": seconds, "output": output, "figures": figures}


def figure_lines(output: str) -> list[str]:
    """What the page keeps of a run's output: its figures, without progress lines."""
    skip = ("[infra]", "seeded ", "seeding ")
    return [line.rstrip() for line in output.splitlines()
            if line.strip() and not line.lstrip().startswith(skip)
            and "\x1b[" not in line]  # a service's coloured log lines are not figures


def plot_month_end(figures: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = figures["stages"]
    names = [s["stage"] for s in stages]
    fig, (rate_ax, ratio_ax) = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    rate_ax.barh(names, [s["rate"] for s in stages], color="#2f6f9f")
    rate_ax.set_xlabel("items per second")
    rate_ax.invert_yaxis()
    ratio_ax.barh(names, [s["ratio"] for s in stages], color="#b0562f")
    ratio_ax.set_xlabel("ratio to the raw ceiling measured in the same run")
    fig.suptitle(f"Month-end, {figures['n']:,} households: throughput per stage "
                 f"(wall {figures['wall_s']:.0f} s)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_gateway(figures: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    loops = [loop for loop in ("closed", "open") if loop in figures]
    fig, axes = plt.subplots(1, len(loops), figsize=(6 * len(loops), 4.5), squeeze=False)
    for ax, loop in zip(axes[0], loops):
        med = figures[loop]["median"]
        targets = list(med)
        x = range(len(targets))
        width = 0.38
        ax.bar([i - width / 2 for i in x], [med[t]["p50_ms"] for t in targets], width, label="p50")
        ax.bar([i + width / 2 for i in x], [med[t]["p99_ms"] for t in targets], width, label="p99")
        ax.set_xticks(list(x), targets)
        ax.set_ylabel("ms (median of rounds)")
        ax.set_yscale("log")
        title = "closed loop" if loop == "closed" else "open loop, 1,000 requests/s offered"
        ax.set_title(f"{title}\n" + ", ".join(f"{t} {med[t]['rps']:.0f}/s" for t in targets), fontsize=9)
        ax.legend()
    fig.suptitle("Gateway account summary: latency percentiles")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_page(out: Path, info: dict[str, str], results: list[dict], skipped: list[str],
               plots: dict[str, str], total_s: float) -> None:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmarks",
        "",
        f"Written by `bench/report.py` ({when}, {total_s / 60:.1f} minutes in all). Each benchmark",
        "ran once at the small size shown, on the bench servers, with every process of it on",
        "this one machine. Figures move between runs with the machine's other work: read each",
        "against the ceiling measured in the same run (the ratio), not as an absolute.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in info.items()],
        "",
    ]
    for r in results:
        lines += [f"## {r['name']}", "", f"`{r['command']}` (exit {r['status']}, "
                  f"{r['seconds']:.0f} s)", ""]
        if r["name"] in plots:
            lines += [f"![{r['name']}]({plots[r['name']]})", ""]
        kept = figure_lines(r["output"]) if r["status"] == 0 else r["output"].splitlines()[-40:]
        lines += ["```", *kept[-80:], "```", ""]
    if skipped:
        lines += ["## Not run within the budget", "", *[f"- {s}" for s in skipped], ""]
    out.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-s", type=float, default=600)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--only", nargs="*", help="run only these benchmarks")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from scripts import infra
    infra.up("bench")
    info = machine()
    started = time.monotonic()
    results, skipped = [], []
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        for name, bench_args, what, timeout_s in RUNS:
            if args.only and name not in args.only:
                continue
            left = args.budget_s - (time.monotonic() - started)
            if left < 60:
                skipped.append(f"`bench/{name}.py` ({what}): the budget was spent")
                continue
            results.append(run_one(name, bench_args, min(timeout_s, left), Path(tmp)))
    plots: dict[str, str] = {}
    image_dir = args.out.parent / "benchmarks"
    image_dir.mkdir(parents=True, exist_ok=True)
    for r in results:
        if r["figures"] is None:
            continue
        path = image_dir / f"{r['name']}.png"
        (plot_month_end if r["name"] == "month_end" else plot_gateway)(r["figures"], path)
        plots[r["name"]] = f"benchmarks/{path.name}"
    write_page(args.out, info, results, skipped, plots, time.monotonic() - started)
    print(f"[report] wrote {args.out} and {len(plots)} plot(s) in {image_dir}")


if __name__ == "__main__":
    main()
