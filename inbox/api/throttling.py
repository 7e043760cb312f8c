"""Throttling of the API's writes, per user (per address when anonymous).

Reads are not throttled: they are cheap, paginated and what every client does most. Writes queue
work for the platforms, whose own limits are far lower than ours. The rate is the setting
``API_WRITE_RATE`` ("600/minute"; empty: no limit), read at each request so that it can be
changed without a restart of the class (and in tests).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class WriteThrottle(SimpleRateThrottle):
    scope = "writes"

    def get_rate(self) -> str | None:
        return getattr(settings, "API_WRITE_RATE", "") or None

    def allow_request(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view: Any) -> str:
        user = request.user
        ident = user.pk if user and user.is_authenticated else self.get_ident(request)
        return f"throttle_{self.scope}_{ident}"
