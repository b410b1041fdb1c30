"""The spool's log (``ldai_otel.serve.spool.SegmentLog``) on a real directory: framing, group commit, damage, bounds.

The end-to-end guarantees (kills, restarts, the sink) are in ``test_serve_spool``;
these pin down the log's own rules, which those tests rely on.
"""

from __future__ import annotations

import errno
import os
import threading

import pytest

from ldai_otel.serve import spool as _spool
from ldai_otel.serve.spool import SegmentLog, SpoolFull, SpoolLocked, lock_directory


def reopen(directory, **options) -> SegmentLog:
    return SegmentLog(str(directory), 1 << 30, **options)


def test_records_come_back_in_order_across_files_and_a_restart_appends_to_a_new_file(tmp_path):
    log = SegmentLog(str(tmp_path), 1 << 30, file_bytes=300)
    log.start()
    payloads = [bytes([n]) * (40 + n) for n in range(20)]
    positions = [log.append(p) for p in payloads]
    assert [p.seq for p in positions] == list(range(20))
    assert len(log.files()) > 1  # rolled at 300 bytes
    assert [log.read(p) for p in positions] == payloads
    log.close()
    again = reopen(tmp_path)
    assert [payload for _, payload in again.replay()] == payloads
    again.start()
    position = again.append(b"after the restart")
    assert position.seq == 20 and position.file == 20  # a new file, named by its first sequence number
    again.close(remove_all=True)
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".log")]


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-3],  # a torn record
        lambda data: data + b"\xd5",  # a torn header
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),  # a flipped bit
        lambda data: data + b"garbage after the last record",  # a bad header
    ],
    ids=["torn-record", "torn-header", "flipped", "bad-header"],
)
def test_a_damaged_tail_ends_the_files_reading_counted_and_the_records_before_it_come_back(tmp_path, damage, caplog):
    log = SegmentLog(str(tmp_path), 1 << 30)
    log.start()
    for n in range(3):
        log.append(b"record %d" % n)
    log.close()
    (path,) = [tmp_path / name for name in os.listdir(tmp_path)]
    data = path.read_bytes()
    path.write_bytes(damage(data))
    again = reopen(tmp_path)
    payloads = [payload for _, payload in again.replay()]
    torn_last = data != damage(data)[: len(data)]  # the damage is inside the last record
    assert payloads == ([b"record 0", b"record 1"] if torn_last else [b"record 0", b"record 1", b"record 2"])
    assert again.corrupt_records == 1
    assert sum("event=spool_damaged" in r.getMessage() for r in caplog.records) == 1


def test_concurrent_writers_share_fsyncs_and_each_returns_durable(tmp_path):
    log = SegmentLog(str(tmp_path), 1 << 30)
    log.start()
    barrier = threading.Barrier(8)

    def write() -> None:
        barrier.wait()
        for _ in range(50):
            log.sync(log.append(b"x" * 1000).seq)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert log._synced == log._written == 399
    assert 0 < log.fsyncs <= 400
    log.close()


def test_the_interval_policy_acknowledges_at_once_and_syncs_in_the_background(tmp_path):
    log = SegmentLog(str(tmp_path), 1 << 30, fsync="interval")
    log.start()
    log.sync(log.append(b"record").seq)  # returns without an fsync of its own
    deadline = threading.Event()
    for _ in range(50):
        if log.fsyncs:
            break
        deadline.wait(0.1)
    assert log.fsyncs >= 1 and log._synced == 0
    log.close()


def test_the_byte_bound_and_a_full_disk_refuse_without_leaving_a_torn_record(tmp_path, monkeypatch):
    log = SegmentLog(str(tmp_path), 200)
    log.start()
    log.append(b"a" * 100)
    with pytest.raises(SpoolFull) as full:
        log.append(b"b" * 100)
    assert full.value.reason == "spool_full"

    def short_then_enospc(fd, data):
        os.write(fd, data[:10])  # part of the record reached the file
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_spool, "_write_all", short_then_enospc)
    with pytest.raises(SpoolFull) as disk:
        log.append(b"c" * 20)
    monkeypatch.undo()
    assert disk.value.reason == "disk_full"
    position = log.append(b"d" * 20)  # the next record starts where the refused one did
    log.close()
    assert [payload for _, payload in reopen(tmp_path).replay()] == [b"a" * 100, b"d" * 20]
    assert position.seq == 1


def test_the_lock_refuses_a_second_holder_and_names_the_first(tmp_path):
    fd = lock_directory(str(tmp_path))
    try:
        with pytest.raises(SpoolLocked) as locked:
            lock_directory(str(tmp_path))  # a second open file description: flock conflicts
        assert "in use by another ldai-otel serve (pid %d)" % os.getpid() in str(locked.value)
    finally:
        os.close(fd)
    os.close(lock_directory(str(tmp_path)))  # released with its descriptor
