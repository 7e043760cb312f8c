"""The OpenAPI schema's view of every operation: its own answers, plus the error answers every
operation of its kind can give, all in the one error shape (:mod:`.errors`).

Declaring them here rather than on each view keeps the schema complete as routes are added: a
client (and schemathesis in CI) can rely on every status code it may meet being documented.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiResponse
from rest_framework.permissions import AllowAny

from .errors import ErrorSerializer
from .permissions import IsStaff

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class AutoSchema(openapi.AutoSchema):
    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        for code, description in self._error_answers().items():
            declared = responses.get(code)
            if declared is not None and "content" in declared:
                continue  # the view declared its own body for it
            error = OpenApiResponse(ErrorSerializer, declared["description"] if declared else "")
            responses[code] = self._get_response_for_code(error, code, direction=direction)
            responses[code]["description"] = (declared or {}).get("description") or description
        # Error bodies the view declared without a schema are the common shape too.
        for code, declared in list(responses.items()):
            if code >= "400" and "content" not in declared:
                error = OpenApiResponse(ErrorSerializer, declared.get("description", ""))
                responses[code] = self._get_response_for_code(error, code, direction=direction)
        return dict(sorted(responses.items()))

    def _error_answers(self) -> dict[str, str]:
        answers: dict[str, str] = {}
        permissions = self.view.get_permissions()
        writes = self.method not in SAFE_METHODS
        if not all(isinstance(permission, AllowAny) for permission in permissions):
            answers["401"] = "Not authenticated (no or an unknown token)."
        if any(isinstance(permission, IsStaff) for permission in permissions):
            answers["403"] = "Staff only."
        elif writes:
            answers["403"] = "A session without its CSRF token."
        if "{" in self.path:
            answers["404"] = "Not found, or on a channel the user is not a member of."
        if writes or self._has_query_parameters():
            answers["400"] = "Invalid input: `fields` names what is wrong."
        if writes:
            answers["429"] = "Too many writes: `Retry-After` says when to try again."
        return answers

    def _has_query_parameters(self) -> bool:
        return any(parameter.get("in") == "query" for parameter in self._get_parameters())
