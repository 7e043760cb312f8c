"""Who may see what. Every API queryset is narrowed here, in one place."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from inbox.models import Channel


def visible_channels(user: Any) -> QuerySet[Channel]:
    return Channel.objects.visible_to(user)


class IsStaff(BasePermission):
    """Raw platform traffic is for staff only."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)
