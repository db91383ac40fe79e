"""The kept originals compressed at several zstd levels, the way DuckDB's zstd column
compression does it (one stream per vector of 2,048 strings, no dictionary): CPU seconds and
bytes per body. This is what chose the level DuckDB is built with (`.cargo/config.toml`).

Usage: pip install duckdb==2.0.0 zstandard
       python3 bench/zstd_levels.py DB [BODIES]     # DB filled by `ltiscope import`; 200,000
"""

import sys
import time

import duckdb
import zstandard


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
    c = duckdb.connect(sys.argv[1], read_only=True)
    bodies = [r[0].encode() for r in c.execute(f"SELECT body FROM events LIMIT {n}").fetchall()]
    raw = sum(map(len, bodies))
    print(f"{len(bodies)} bodies, {raw / len(bodies):.0f} bytes each on average")
    for level in [3, 2, 1, -1, -3]:
        cctx = zstandard.ZstdCompressor(level=level)
        best, out = None, 0
        for _ in range(2):
            out = 0
            t0 = time.process_time()
            for i in range(0, len(bodies), 2048):
                stream = cctx.compressobj()
                out += sum(len(stream.compress(b)) for b in bodies[i:i + 2048])
                out += len(stream.flush())
            s = time.process_time() - t0
            best = s if best is None else min(best, s)
        print(f"level {level:>2}: {best:6.2f} s CPU, {raw / best / 1e6:6.0f} MB/s, "
              f"{out / len(bodies):6.1f} bytes per body")


if __name__ == "__main__":
    main()
