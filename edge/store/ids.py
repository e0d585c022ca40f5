"""Time-ordered ids (UUIDv7, RFC 9562) for captures, images, goats and scale weights.

Ids sort in the order they were made, so the newest capture is the largest id, and the
cloud can merge rows from several Pis without a counter. Python 3.11 has no uuid7.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections import OrderedDict
from datetime import UTC, datetime, timedelta

from edge.store.errors import InvalidIdError

_RAND_BITS = 74  # 12 bits rand_a + 62 bits rand_b
_RAND_MAX = (1 << _RAND_BITS) - 1

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_lock = threading.Lock()
# The random part of the last id made for each recent millisecond, so that any id, for the
# clock or for a given time, comes after every earlier one with the same timestamp.
_last_rand: OrderedDict[int, int] = OrderedDict()
_REMEMBERED_MS = 256
_last_clock_ms = -1


def _random_start() -> int:
    # At most half the range: counting up from here cannot overflow (2**73 ids in one ms).
    return int.from_bytes(os.urandom(10)) & (_RAND_MAX >> 1)


def _unix_ms(now: datetime | None) -> int:
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise InvalidIdError(f"time {now.isoformat()} has no timezone; ids need an exact moment (use UTC)")
    # Integer arithmetic: float timestamps can round 12:00:00.123 down to .122.
    return (now - _EPOCH) // timedelta(milliseconds=1)


def new_id(now: datetime | None = None) -> str:
    """A UUIDv7 string; with `now`, its timestamp is `now` (to the millisecond).

    Ids made in the same millisecond are still increasing: the random part of the previous
    id plus one (RFC 9562 6.2, method 2). Without `now`, a clock that steps back (a Pi
    without a real-time clock before NTP syncs) keeps the last timestamp rather than make
    an id smaller than one already handed out.
    """
    global _last_clock_ms
    ms = _unix_ms(now)
    if not 0 <= ms < (1 << 48):
        raise InvalidIdError(f"time {now} is outside what a UUIDv7 can hold")
    with _lock:
        if now is None:
            ms = max(ms, _last_clock_ms)
            _last_clock_ms = ms
        previous = _last_rand.get(ms)
        rand = _random_start() if previous is None else previous + 1
        _last_rand[ms] = rand
        _last_rand.move_to_end(ms)
        if len(_last_rand) > _REMEMBERED_MS:
            _last_rand.popitem(last=False)
    rand_a = rand >> 62
    rand_b = rand & ((1 << 62) - 1)
    value = (ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return str(uuid.UUID(int=value))


def parse_id(id_: str, what: str = "id") -> uuid.UUID:
    """The UUID of a UUIDv7 string, or InvalidIdError naming what it was meant to be."""
    try:
        parsed = uuid.UUID(str(id_))
    except ValueError:
        raise InvalidIdError(f"{what} {id_!r} is not a UUID") from None
    if parsed.version != 7 or parsed.variant != uuid.RFC_4122:
        raise InvalidIdError(f"{what} {id_!r} is not a UUIDv7 (version {parsed.version})")
    if str(parsed) != str(id_):
        # Only the canonical lowercase form, because ids also name folders on disk.
        raise InvalidIdError(f"{what} {id_!r} is not in canonical form ({parsed})")
    return parsed


def id_timestamp(id_: str) -> datetime:
    """When the id was made (UTC, millisecond precision)."""
    ms = parse_id(id_).int >> 80
    return _EPOCH + timedelta(milliseconds=ms)
