"""How to store serve's spool: the plain segment log (``ldai_otel.serve.spool``) against SQLite in WAL mode.

Run from the repository root (well under a minute)::

    python benchmarks/spool_storage.py
    python benchmarks/spool_storage.py --requests 2000 --threads 4 --dir /mnt/volume

Both store the same export requests (512 spans each, the serve benchmark's
workload) durably before returning, as serve must before it acknowledges:

- log: one record (header, CRC32, payload) appended per request, ``fsync``
  shared by concurrent writers (group commit, ``--fsync always``); freeing is
  deleting whole files.
- sqlite: one row per request in a WAL database with ``synchronous=FULL``, one
  transaction per request (SQLite serializes writers; each commit syncs the
  WAL); freeing is a ``DELETE`` of the oldest rows plus checkpoints.

Printed per store: requests/s (wall), CPU-seconds per 1,000 requests (user +
system of this process), and the cost of freeing what was written.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from serve_bench import build_requests  # noqa: E402

from ldai_otel.serve.spool import SegmentLog  # noqa: E402


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


def _run(threads: int, bodies: list[bytes], write) -> tuple[float, float]:
    queue = list(bodies)
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                if not queue:
                    return
                body = queue.pop()
            write(body)

    cpu0, wall0 = _cpu(), time.perf_counter()
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - wall0, _cpu() - cpu0


def log_store(directory: str, bodies: list[bytes], threads: int) -> dict:
    log = SegmentLog(os.path.join(directory, "log"), 1 << 40, 64 << 20, "always")
    log.start()

    def write(body: bytes) -> None:
        log.sync(log.append(body).seq)

    wall, cpu = _run(threads, bodies, write)
    cpu0, wall0 = _cpu(), time.perf_counter()
    log._roll_locked()  # noqa: SLF001 - close the files written, as a delivery would find them
    for file in log.files():
        log.delete(file)
    free = time.perf_counter() - wall0, _cpu() - cpu0
    fsyncs = log.fsyncs
    log.close(remove_all=True)
    return {"wall": wall, "cpu": cpu, "free_wall": free[0], "free_cpu": free[1], "syncs": fsyncs}


def sqlite_store(directory: str, bodies: list[bytes], threads: int) -> dict:
    path = os.path.join(directory, "spool.db")
    setup = sqlite3.connect(path)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE records (seq INTEGER PRIMARY KEY, body BLOB)")
    setup.close()
    local = threading.local()

    def write(body: bytes) -> None:
        if not hasattr(local, "db"):
            local.db = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
            local.db.execute("PRAGMA synchronous=FULL")
        local.db.execute("BEGIN IMMEDIATE")
        local.db.execute("INSERT INTO records (body) VALUES (?)", (body,))
        local.db.execute("COMMIT")

    wall, cpu = _run(threads, bodies, write)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=FULL")
    cpu0, wall0 = _cpu(), time.perf_counter()
    db.execute("DELETE FROM records")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    free = time.perf_counter() - wall0, _cpu() - cpu0
    db.close()
    return {"wall": wall, "cpu": cpu, "free_wall": free[0], "free_cpu": free[1], "syncs": len(bodies)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--threads", type=int, default=4, help="concurrent writers (serve's receiver threads)")
    parser.add_argument("--dir", default=None, help="where to write (default: the system's temporary directory)")
    args = parser.parse_args(argv)
    bodies, _ = build_requests(args.requests * 512)
    size = sum(len(b) for b in bodies)
    print("%d requests of 512 spans, %.1f MiB, %d writer thread(s)" % (len(bodies), size / 2**20, args.threads))
    for name, store in (("log", log_store), ("sqlite-wal", sqlite_store)):
        directory = tempfile.mkdtemp(prefix="ldai-spool-bench-", dir=args.dir)
        try:
            r = store(directory, bodies, args.threads)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        print(
            "%s: %.0f requests/s, %.2f CPU-s per 1,000 requests (%.0f MiB/s), %d syncs; freeing all: %.3fs wall, "
            "%.3f CPU-s"
            % (
                name,
                len(bodies) / r["wall"],
                1000 * r["cpu"] / len(bodies),
                size / 2**20 / r["wall"],
                r["syncs"],
                r["free_wall"],
                r["free_cpu"],
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
