"""API permissions. Which rows a user may see is decided in one place, the model QuerySets'
``visible_to`` (channel membership); this module adds the endpoint-level checks."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class IsStaff(BasePermission):
    """Raw platform traffic is for staff only."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)
