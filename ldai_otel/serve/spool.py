"""The durable spool of ``ldai-otel serve``: an append-only log of the export requests it acknowledged.

One record per accepted request: a header (magic, payload length, sequence
number, CRC32 of sequence and payload) and the request body as OTLP protobuf.
Records go to numbered files (named by the sequence number of their first
record) rolled at a size; a file is deleted as a whole once nothing in it is
needed any more (the delivery ledger, ``serve.ledger``, decides). A restart reads
the files in order through the same decoding path as the network.

Why a plain log and not a storage engine: the write path is one ``write`` and
a shared ``fsync`` per request (group commit), reads happen only at start and
for spilled traces, and deletion is per file; docs/serve-durability.md gives
the measurement against SQLite in WAL mode.

Durability (``fsync`` policy): ``always`` (the default) makes a record
durable before its request is acknowledged, with concurrent requests sharing
one ``fsync``; ``interval`` syncs once a second in the background (a process
kill loses nothing, a machine crash up to a second); ``never`` leaves it to
the kernel.

Damage never stops a start: a record whose header or checksum does not hold
ends the reading of its file (a torn tail after a crash), counted.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from typing import NamedTuple

_logger = logging.getLogger("ldai_otel.serve")

MAGIC = b"\xd5\x1d"
_HEADER = struct.Struct("<2sIQI")  # magic, payload length, sequence number, crc32(sequence + payload)
FSYNC_POLICIES = ("always", "interval", "never")
SUFFIX = ".log"
LOCK_NAME = "lock"


class SpoolFull(Exception):
    """A record did not fit: the spool's byte bound, or the disk, is full (retryable).

    Args:
        reason: ``spool_full`` or ``disk_full`` (a metric label).
    """

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class SpoolLocked(Exception):
    """Another process holds the state directory."""


class Position(NamedTuple):
    """Where a record is: its sequence number, file and offset."""

    seq: int
    file: int
    offset: int


def lock_directory(directory: str) -> int:
    """Creates ``directory`` and takes its lock; returns the lock's file descriptor (held until exit).

    Raises:
        SpoolLocked: Another process holds it.
    """
    os.makedirs(directory, exist_ok=True)
    fd = os.open(os.path.join(directory, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise SpoolLocked(
            "the state directory %s is in use by another ldai-otel serve (pid %s): give each instance its own"
            % (directory, holder)
        ) from exc
    os.ftruncate(fd, 0)
    os.pwrite(fd, b"%d\n" % os.getpid(), 0)
    return fd


def _write_all(fd: int, data: bytes) -> None:
    written = os.write(fd, data)
    while written < len(data):
        written += os.write(fd, data[written:])


def _fsync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SegmentLog:
    """Numbered append-only files of checksummed records, with group commit.

    Thread-safe: one lock guards appends and the file table; ``fsync`` runs
    outside it on a duplicate of the file descriptor, so appends go on meanwhile.

    Args:
        directory: Where the files are (created).
        max_bytes: Most bytes of all files together; an append past it raises :class:`SpoolFull`.
        file_bytes: A file is rolled once it holds this many bytes.
        fsync: One of :data:`FSYNC_POLICIES`.
        max_record_bytes: Longest payload read back (a longer length is damage).
    """

    def __init__(
        self,
        directory: str,
        max_bytes: int,
        file_bytes: int = 64 << 20,
        fsync: str = "always",
        max_record_bytes: int = 64 << 20,
    ):
        if fsync not in FSYNC_POLICIES:
            raise ValueError("fsync policy %r: one of %s" % (fsync, ", ".join(FSYNC_POLICIES)))
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        self._max_bytes = max_bytes
        self._file_bytes = file_bytes
        self._policy = fsync
        self._max_record = max_record_bytes
        # One lock guards the files table, the active file and the counters below.
        self._lock = threading.Lock()
        self._sync = threading.Condition(threading.Lock())  # the group commit's own state
        self._files: dict[int, int] = {}  # first sequence number -> bytes
        for name in os.listdir(directory):
            if name.endswith(SUFFIX) and name[: -len(SUFFIX)].isdigit():
                self._files[int(name[: -len(SUFFIX)])] = os.path.getsize(os.path.join(directory, name))
        self._fd = -1
        self._active = -1
        self._offset = 0
        self._next_seq = 0
        self._written = -1  # highest sequence number written
        self._synced = -1  # highest sequence number known durable
        self._syncing = False
        self.corrupt_records = 0
        self.fsyncs = 0
        self._stopping = threading.Event()
        self._syncer: threading.Thread | None = None

    @property
    def size(self) -> int:
        """Bytes in all files now."""
        return sum(self._files.values())

    @property
    def file_count(self) -> int:
        return len(self._files)

    @property
    def active(self) -> int:
        """The file being appended to (-1 before :meth:`start`)."""
        return self._active

    def files(self) -> list[int]:
        """The files, oldest first (their first sequence numbers)."""
        with self._lock:
            return sorted(self._files)

    def _path(self, file: int) -> str:
        return os.path.join(self.directory, "%020d%s" % (file, SUFFIX))

    def replay(self) -> Iterator[tuple[Position, bytes]]:
        """Every intact record of the files present at start, in order.

        A damaged record ends its file's reading (what follows cannot be framed
        reliably): counted in ``corrupt_records``, with one warning per start.
        """
        warned = False
        for file in sorted(self._files):
            try:
                records = list(self._read_file(file))
            except OSError as exc:  # unreadable: skipped like damage, the start goes on
                records = [(Position(-1, file, 0), b"", "unreadable: %s" % exc)]
            for position, payload, damage in records:
                if damage:
                    self.corrupt_records += 1
                    if not warned:
                        warned = True
                        _logger.warning(
                            "event=spool_damaged file=%s offset=%d detail=%r: the rest of that file is skipped",
                            os.path.basename(self._path(file)),
                            position.offset,
                            damage,
                        )
                    break
                self._next_seq = max(self._next_seq, position.seq + 1)
                yield position, payload

    def _read_file(self, file: int) -> Iterator[tuple[Position, bytes, str]]:
        with open(self._path(file), "rb") as stream:
            data = stream.read()
        offset = 0
        while offset < len(data):
            header = data[offset : offset + _HEADER.size]
            if len(header) < _HEADER.size:
                yield Position(-1, file, offset), b"", "torn header"
                return
            magic, length, seq, crc = _HEADER.unpack(header)
            if magic != MAGIC or length > self._max_record:
                yield Position(-1, file, offset), b"", "bad header"
                return
            payload = data[offset + _HEADER.size : offset + _HEADER.size + length]
            if len(payload) < length:
                yield Position(seq, file, offset), b"", "torn record"
                return
            if zlib.crc32(payload, zlib.crc32(struct.pack("<Q", seq))) != crc:
                yield Position(seq, file, offset), b"", "checksum mismatch"
                return
            yield Position(seq, file, offset), payload, ""
            offset += _HEADER.size + length

    def read(self, position: Position) -> bytes | None:
        """The payload at ``position``; None when it is gone or damaged."""
        try:
            with open(self._path(position.file), "rb") as stream:
                stream.seek(position.offset)
                header = stream.read(_HEADER.size)
                if len(header) < _HEADER.size:
                    return None
                magic, length, seq, crc = _HEADER.unpack(header)
                if magic != MAGIC or seq != position.seq or length > self._max_record:
                    return None
                payload = stream.read(length)
        except OSError:
            return None
        if len(payload) < length or zlib.crc32(payload, zlib.crc32(struct.pack("<Q", seq))) != crc:
            return None
        return payload

    def start(self) -> None:
        """Opens a new file to append to (after :meth:`replay`); old files are never appended to."""
        with self._lock:
            self._open_locked()
        if self._policy == "interval":
            self._syncer = threading.Thread(target=self._sync_every_second, name="ldai-otel-spool-sync", daemon=True)
            self._syncer.start()

    def _open_locked(self) -> None:
        self._active = self._next_seq
        self._fd = os.open(self._path(self._active), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._offset = 0
        self._files[self._active] = 0
        _fsync_directory(self.directory)  # the new name survives a crash

    def append(self, payload: bytes) -> Position:
        """Writes one record (not yet durable: see :meth:`sync`).

        Raises:
            SpoolFull: Past the byte bound, or the disk refused the write (undone).
        """
        with self._lock:
            size = _HEADER.size + len(payload)
            if self.size + size > self._max_bytes:
                raise SpoolFull("spool_full", "the spool holds %d bytes, at --spool-max-bytes" % self.size)
            if self._offset and self._offset + size > self._file_bytes:
                self._roll_locked()
            seq = self._next_seq
            crc = zlib.crc32(payload, zlib.crc32(struct.pack("<Q", seq)))
            record = _HEADER.pack(MAGIC, len(payload), seq, crc) + payload
            try:
                _write_all(self._fd, record)
            except OSError as exc:
                os.ftruncate(self._fd, self._offset)  # no torn record left behind
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise SpoolFull("disk_full", "the state directory's disk is full") from exc
                raise
            position = Position(seq, self._active, self._offset)
            self._next_seq += 1
            self._offset += size
            self._files[self._active] = self._offset
            self._written = seq
            return position

    def _roll_locked(self) -> None:
        os.fsync(self._fd)  # what the old file holds is durable before it is left
        os.close(self._fd)
        with self._sync:
            self._synced = max(self._synced, self._written)
        self._open_locked()

    def sync(self, seq: int) -> None:
        """Returns once record ``seq`` is durable as the policy says (group commit under ``always``)."""
        if self._policy != "always":
            return
        with self._sync:
            while self._synced < seq:
                if self._syncing:
                    self._sync.wait()
                    continue
                self._syncing = True
                try:
                    self._sync.release()
                    try:
                        self._fsync_now()
                    finally:
                        self._sync.acquire()
                finally:
                    self._syncing = False
                    self._sync.notify_all()

    def _fsync_now(self) -> None:
        with self._lock:
            if self._fd < 0:
                return
            fd, target = os.dup(self._fd), self._written
        try:
            os.fsync(fd)  # everything written before the dup, and possibly more
        finally:
            os.close(fd)
        with self._sync:
            self._synced = max(self._synced, target)
            self.fsyncs += 1

    def _sync_every_second(self) -> None:
        while not self._stopping.wait(1.0):
            try:
                if self._synced < self._written:
                    self._fsync_now()
            except OSError:
                _logger.exception("ldai-otel serve: syncing the spool failed")

    def delete(self, file: int) -> None:
        """Deletes a file that is not the active one."""
        with self._lock:
            if file == self._active or file not in self._files:
                return
            del self._files[file]
        try:
            os.unlink(self._path(file))
        except FileNotFoundError:
            pass

    def close(self, remove_all: bool = False) -> None:
        """Syncs and closes the active file; ``remove_all`` deletes every file (nothing left to keep)."""
        self._stopping.set()
        with self._lock:
            if self._fd >= 0:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = -1
                with self._sync:  # a late sync() returns instead of waiting for a closed file
                    self._synced = max(self._synced, self._written)
                    self._sync.notify_all()
            files = list(self._files) if remove_all else []
            for file in files:
                del self._files[file]
        for file in files:
            try:
                os.unlink(self._path(file))
            except FileNotFoundError:
                pass
        if files:
            _fsync_directory(self.directory)
