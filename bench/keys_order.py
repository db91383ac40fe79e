#!/usr/bin/env python3
"""How fast DuckDB's primary-key index takes 128-bit event keys in the order they come (hashes,
spread over all of it) and sorted within each transaction, as an import into an empty store
appends them (BENCHMARKS.md, "Keys in order").

A million random keys go into a fresh `event_keys (event_key HUGEINT PRIMARY KEY)` on one
DuckDB thread, in transactions of 245,760 (an import's), each transaction's keys as they come
or sorted; both alternate ROUNDS times. The keys travel as text through an Arrow table and are
cast in the insert, the same work in both.

    pip install duckdb==2.0.0 pyarrow
    python3 bench/keys_order.py [ROUNDS]
"""
import os
import random
import sys
import tempfile
import time

import duckdb
import pyarrow as pa

N = 1_000_000
PER_TRANSACTION = 245_760


def load(keys, in_order):
    with tempfile.TemporaryDirectory() as d:
        c = duckdb.connect(os.path.join(d, "keys.duckdb"))
        c.execute("SET threads = 1")
        c.execute("CREATE TABLE event_keys (event_key HUGEINT PRIMARY KEY)")
        seconds = 0.0
        for start in range(0, N, PER_TRANSACTION):
            part = keys[start:start + PER_TRANSACTION]
            if in_order:
                part = sorted(part)
            staged = pa.table({"k": pa.array([str(k) for k in part])})
            began = time.perf_counter()
            c.execute("BEGIN")
            c.execute("INSERT INTO event_keys SELECT CAST(k AS HUGEINT) FROM staged")
            c.execute("COMMIT")
            seconds += time.perf_counter() - began
        c.close()
        return seconds


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    rng = random.Random(1)
    keys = [rng.getrandbits(128) - (1 << 127) for _ in range(N)]
    for _ in range(rounds):
        for label, in_order in (("as they come", False), ("sorted", True)):
            print(f"{label:<14} {load(keys, in_order):6.2f} s")


if __name__ == "__main__":
    main()
