"""Summarise a py-spy collapsed-stack file (BENCH_PYSPY=<file> python bench/bench_<x>.py): where the samples are.

    python bench/pyspy_top.py <file> [--top 25] [--filter modemd]
Prints self time per function and inclusive time per modemd/aiohttp/sqlite function.
"""
from __future__ import annotations

import argparse
import collections


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--filter", default="", help="only inclusive rows whose frame contains this")
    args = ap.parse_args()
    self_time, inclusive, total = collections.Counter(), collections.Counter(), 0
    for line in open(args.file):
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        self_time[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n
    print(f"{total} samples")
    print("-- self --")
    for f, n in self_time.most_common(args.top):
        print(f"{100 * n / total:5.1f}%  {f}")
    print("-- inclusive --")
    rows = [(f, n) for f, n in inclusive.most_common() if args.filter in f][:args.top]
    for f, n in rows:
        print(f"{100 * n / total:5.1f}%  {f}")


if __name__ == "__main__":
    main()
