"""The time zone names the API accepts: IANA zones, never the host's own ``localtime``."""

from __future__ import annotations

import functools
import zoneinfo

# ``zoneinfo.available_timezones()`` lists every file under the zone directories, and a host's
# /usr/share/zoneinfo also holds ``localtime`` (a link to whatever zone that machine is set to) and
# ``posixrules``: a calendar or an agent in "localtime" would change meaning with the server it runs on.
_NOT_ZONES = frozenset({"localtime", "posixrules"})


@functools.cache
def time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones() - _NOT_ZONES)


def is_time_zone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone (``Europe/Berlin``, ``UTC``)."""
    return name in time_zones()
