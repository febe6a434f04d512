#!/usr/bin/env python3
"""Compare hrt's CPU throughput with llama.cpp's on the same GGUF model.

Runs hrt's bench program (build/bench/bench_cpu, or --hrt-bench PATH) and
bench/llamacpp_cpu.py with the same prompt length P, generated tokens G,
repetitions R and threads T.  Both print one JSON object of the shape

  {"engine":..., "version":..., "model":..., "threads":T, "prompt_tokens":P,
   "gen_tokens":G, "pp_tps":[R floats], "tg_tps":[R floats]}

In the default --mode alternate the engines take turns: R rounds, each
running every engine once with --reps 1 (the order flips every round), so
slow drifts of the machine (thermal, noisy neighbours) hit both engines
alike.  --mode sequential runs each engine once with --reps R instead.
Each invocation does its own model load and warm-up.

Prints a markdown table (median and min-max of prompt and decode tok/s, and
the hrt/llama.cpp ratio of the medians) and writes
bench/results/cpu-<YYYY-MM-DD>.json (or --out) with the raw outputs, the
machine (CPU model, cores, kernel), the date and the exact command lines.

Usage:
  python3 bench/cpu_vs_llamacpp.py [--model models/smollm2-135m-instruct-q4_1.gguf]
      [--threads 2] [--prompt 128] [--gen 256] [--reps 5]
      [--hrt-bench build/bench/bench_cpu] [--only hrt|llama.cpp]
      [--mode alternate|sequential] [--out FILE | --no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, ".."))
# hrt at its default precision (16-bit activations) and at llama.cpp's
# (8-bit activations), and llama.cpp itself.
ENGINES = ("hrt", "hrt-int8", "llama.cpp")


def machine_info() -> dict:
    """CPU model, core counts and kernel release of this machine."""
    cpu_model, cores = None, set()
    phys = core = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, val = line.partition(":")
                key, val = key.strip(), val.strip()
                if key == "model name" and cpu_model is None:
                    cpu_model = val
                elif key == "physical id":
                    phys = val
                elif key == "core id":
                    core = val
                elif not key:  # blank line ends one processor block
                    if core is not None:
                        cores.add((phys, core))
                    phys = core = None
        if core is not None:
            cores.add((phys, core))
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = None
    return {
        "cpu_model": cpu_model or platform.processor() or "unknown",
        "logical_cpus": os.cpu_count(),
        "physical_cores": len(cores) or None,
        "usable_cpus": usable,
        "uname_r": platform.release(),
        "uname": " ".join(platform.uname()),
        # Load at the time of the run: other work on the box skews the numbers.
        "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def engine_cmd(engine: str, args, reps: int) -> list[str]:
    common = ["--model", args.model, "--threads", str(args.threads),
              "--prompt", str(args.prompt), "--gen", str(args.gen),
              "--reps", str(reps)]
    if engine == "hrt":
        return [args.hrt_bench, *common, "--json"]
    if engine == "hrt-int8":
        return [args.hrt_bench, *common, "--precision", "int8", "--json"]
    return [args.python, os.path.join(HERE, "llamacpp_cpu.py"), *common]


def parse_json_output(stdout: str) -> dict:
    """The last line of stdout that is a JSON object (tolerates log noise)."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                return obj
    # Maybe pretty-printed over several lines.
    start = stdout.find("{")
    if start >= 0:
        return json.loads(stdout[start:stdout.rfind("}") + 1])
    raise ValueError("no JSON object in output")


def run_engine(engine: str, args, reps: int) -> dict:
    """Run one invocation; return a record with the parsed JSON or an error."""
    cmd = engine_cmd(engine, args, reps)
    rec = {"engine": engine, "cmd": shlex.join(cmd)}
    print(f"# running: {rec['cmd']}", file=sys.stderr, flush=True)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=args.timeout, cwd=REPO)
    except (OSError, subprocess.TimeoutExpired) as e:
        rec["error"] = f"{type(e).__name__}: {e}"
        return rec
    rec["rc"] = p.returncode
    if p.stderr.strip():
        rec["stderr_tail"] = p.stderr.strip()[-2000:]
    if p.returncode != 0:
        rec["error"] = f"exit status {p.returncode}"
        return rec
    try:
        out = parse_json_output(p.stdout)
        for key in ("pp_tps", "tg_tps"):
            if not isinstance(out.get(key), list) or not out[key]:
                raise ValueError(f"missing or empty '{key}'")
        for key, want in (("prompt_tokens", args.prompt), ("gen_tokens", args.gen)):
            if out.get(key) not in (None, want):
                raise ValueError(f"'{key}' is {out.get(key)}, expected {want}")
        if out.get("threads") not in (None, args.threads):
            # Keep the data but flag it: the comparison is then not like for like.
            rec["warning"] = f"engine reports threads={out.get('threads')}"
            print(f"warning: {engine} {rec['warning']}, asked for {args.threads}",
                  file=sys.stderr)
    except ValueError as e:
        rec["error"] = f"bad output: {e}"
        rec["stdout_tail"] = p.stdout[-2000:]
        return rec
    rec["output"] = out
    return rec


def summarize(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values),
            "max": max(values), "n": len(values)}


def fmt(s: dict | None) -> str:
    if not s:
        return "n/a"
    return f"{s['median']:.1f} ({s['min']:.1f}–{s['max']:.1f})"


def main() -> int:
    ap = argparse.ArgumentParser(description="hrt vs llama.cpp CPU throughput")
    ap.add_argument("--model", default=os.path.join(
        REPO, "models", "smollm2-135m-instruct-q4_1.gguf"))
    ap.add_argument("--threads", "-t", type=int, default=2)
    ap.add_argument("--prompt", "-p", type=int, default=128)
    ap.add_argument("--gen", "-g", type=int, default=256)
    ap.add_argument("--reps", "-r", type=int, default=5)
    ap.add_argument("--hrt-bench", default=os.path.join(REPO, "build", "bench", "bench_cpu"))
    ap.add_argument("--only", choices=ENGINES, help="run a single engine")
    ap.add_argument("--mode", choices=("alternate", "sequential"), default="alternate")
    ap.add_argument("--python", default=sys.executable,
                    help="interpreter for llamacpp_cpu.py")
    ap.add_argument("--timeout", type=float, default=1800,
                    help="seconds allowed per engine invocation")
    ap.add_argument("--out", help="results file (default bench/results/cpu-<date>.json)")
    ap.add_argument("--no-write", action="store_true", help="do not write a results file")
    args = ap.parse_args()
    args.model = os.path.abspath(args.model)
    args.hrt_bench = os.path.abspath(args.hrt_bench)

    engines = [args.only] if args.only else list(ENGINES)
    if any(e.startswith("hrt") for e in engines) and not os.access(args.hrt_bench, os.X_OK):
        print(f"error: hrt bench binary not found or not executable: {args.hrt_bench}"
              " (build it, pass --hrt-bench, or use --only llama.cpp)", file=sys.stderr)
        return 2
    if not os.path.isfile(args.model):
        print(f"error: model not found: {args.model}", file=sys.stderr)
        return 2

    now = dt.datetime.now().astimezone()
    machine = machine_info()  # before the runs, so loadavg reflects other work
    runs: list[dict] = []
    if args.mode == "alternate":
        for r in range(args.reps):
            order = engines if r % 2 == 0 else engines[::-1]
            for e in order:
                runs.append(run_engine(e, args, 1))
    else:
        for e in engines:
            runs.append(run_engine(e, args, args.reps))

    # Merge the per-invocation samples per engine.
    summary, failed = {}, []
    for e in engines:
        ok = [x["output"] for x in runs if x["engine"] == e and "output" in x]
        bad = [x for x in runs if x["engine"] == e and "output" not in x]
        for x in bad:
            failed.append(e)
            print(f"warning: {e} run failed: {x.get('error')}\n"
                  f"{x.get('stderr_tail', '')[-500:]}", file=sys.stderr)
        if not ok:
            continue
        pp = [v for o in ok for v in o["pp_tps"]]
        tg = [v for o in ok for v in o["tg_tps"]]
        summary[e] = {"version": ok[0].get("version"), "pp_tps": pp, "tg_tps": tg,
                      "pp": summarize(pp), "tg": summarize(tg)}

    # Markdown table.
    ref = summary.get("llama.cpp")
    lines = [
        f"CPU: {machine['cpu_model']}, threads={args.threads}, "
        f"pp{args.prompt} / tg{args.gen}, reps={args.reps}, mode={args.mode}",
        "",
        "| engine | prompt tok/s (median, min–max) | decode tok/s (median, min–max) "
        "| ratio hrt/llama.cpp |",
        "|---|---|---|---|",
    ]
    for e in engines:
        s = summary.get(e)
        ratio = ""
        if e.startswith("hrt") and s and ref:
            ratio = (f"pp {s['pp']['median'] / ref['pp']['median']:.2f}× · "
                     f"tg {s['tg']['median'] / ref['tg']['median']:.2f}×")
        elif e == "llama.cpp":
            ratio = "1.00× (reference)"
        lines.append(f"| {e} | {fmt(s and s['pp'])} | {fmt(s and s['tg'])} | {ratio} |")
    table = "\n".join(lines)
    print(table)

    if not args.no_write:
        out_path = args.out or os.path.join(
            REPO, "bench", "results", f"cpu-{now.date().isoformat()}.json")
        os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
        result = {
            "date": now.isoformat(timespec="seconds"),
            "command": shlex.join([sys.executable, *sys.argv]),
            "cwd": os.getcwd(),
            "machine": machine,
            "params": {"model": args.model, "threads": args.threads,
                       "prompt_tokens": args.prompt, "gen_tokens": args.gen,
                       "reps": args.reps, "mode": args.mode, "engines": engines},
            "summary": summary,
            "runs": runs,  # every invocation: command line, raw JSON output
            "table_markdown": table,
        }
        with open(out_path, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2, ensure_ascii=False)
            f.write("\n")
        print(f"\nwrote {out_path}", file=sys.stderr)

    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
