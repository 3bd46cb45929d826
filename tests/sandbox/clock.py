"""The sandbox clock: real time, shifted by an offset or frozen.

Services read it for waits and for the ``received_at`` of the requests
they record, so tests can move the authority's time without sleeping::

    sb.set_clock(offset=3600)                   # one hour ahead
    sb.set_clock(frozen='2025-01-01T10:00:00Z') # stopped at that instant
    sb.set_clock(advance=5)                     # 5 s later (frozen or not)
    sb.set_clock()                              # real time again
    sb.clock()      # {'now': iso, 'timestamp': s, 'offset': s, 'frozen': iso}

``sb.reset()`` puts it back to real time.
"""
import datetime
import threading
import time

__all__ = ['SandboxClock', 'iso', 'parse_time']


def iso(timestamp):
    "ISO 8601 UTC text of an epoch timestamp"
    return datetime.datetime.fromtimestamp(timestamp,
        datetime.timezone.utc).isoformat()


def parse_time(value):
    "Epoch seconds of an ISO 8601 text (naive = UTC) or of a number"
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime.datetime):
        moment = value
    else:
        moment = datetime.datetime.fromisoformat(
            str(value).replace('Z', '+00:00'))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


class SandboxClock:
    "Thread-safe: real time + offset, or a frozen instant"

    def __init__(self):
        self.lock = threading.Lock()
        self.offset = 0.0
        self.frozen = None

    def now(self):
        "Epoch seconds on the sandbox clock"
        with self.lock:
            if self.frozen is not None:
                return self.frozen
            return time.time() + self.offset

    def set(self, offset=None, frozen=None, advance=None):
        """Set ``offset`` (seconds from real time) or ``frozen`` (ISO time
        or epoch seconds); ``advance`` moves the clock forward; nothing =
        real time."""
        with self.lock:
            if frozen is not None:
                self.frozen, self.offset = parse_time(frozen), 0.0
            elif offset is not None:
                self.frozen, self.offset = None, float(offset)
            elif advance is None:
                self.frozen, self.offset = None, 0.0
            if advance is not None:
                if self.frozen is not None:
                    self.frozen += float(advance)
                else:
                    self.offset += float(advance)
        return self.describe()

    def reset(self):
        self.set()

    def describe(self):
        now = self.now()
        with self.lock:
            return {'now': iso(now), 'timestamp': now,
                'offset': self.offset,
                'frozen': None if self.frozen is None else iso(self.frozen)}
