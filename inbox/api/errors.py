"""One shape for every error the API answers::

    {"code": "invalid", "detail": "text: This field is required.", "fields": {"text": ["…"]}}

``code`` is stable and machine-readable, ``detail`` is for a person, ``fields`` names what was
wrong with the input (empty unless it is a validation error). Views raise exceptions (DRF's, or
:class:`Conflict`); the handler below shapes them, so no view builds an error body itself.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler


class Conflict(APIException):
    """The request is valid but not possible now (a state the object is in, a platform that
    cannot do it): 409, ``detail`` says why."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "Not possible now."
    default_code = "conflict"


class BadRequest(APIException):
    """Invalid as a whole rather than in one field (e.g. the platform refused it as invalid)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Invalid request."
    default_code = "invalid"


class BadGateway(APIException):
    """The platform did not answer, or answered something we cannot use: try again later."""

    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "The platform did not answer."
    default_code = "platform_unavailable"


def invalid(field: str, message: str) -> ValidationError:
    """A validation error naming one field (raise it)."""
    return ValidationError({field: [message]})


def body(code: str, detail: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"code": code, "detail": detail, "fields": fields or {}}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Any:
    response = drf_exception_handler(exc, context)
    if response is None:  # not an API error: a server error, handled (and logged) by Django
        return None
    if isinstance(exc, ValidationError):
        fields = _fields(exc.detail)
        first = next(iter(fields.items()), ("", ["Invalid input."]))
        detail = f"{first[0]}: {first[1][0]}" if first[0] else first[1][0]
        response.data = body("invalid", detail, fields)
    elif isinstance(exc, APIException):
        code = exc.get_codes()
        response.data = body(code if isinstance(code, str) else exc.default_code, str(exc.detail))
    else:  # Http404 and Django's PermissionDenied, which DRF translated above
        response.data = body(
            "not_found" if response.status_code == 404 else "permission_denied",
            str(response.data.get("detail", "")),
        )
    return response


def _fields(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Validation errors by field, nested ones dotted (``items.0.text``); errors of the whole
    input under DRF's ``non_field_errors``."""
    if isinstance(detail, dict):
        pairs = [(_join(prefix, name), value) for name, value in detail.items()]
    elif isinstance(detail, list) and any(isinstance(item, (dict, list)) for item in detail):
        pairs = [(_join(prefix, index), item) for index, item in enumerate(detail)]
    else:
        messages = detail if isinstance(detail, list) else [detail]
        return {prefix or api_settings.NON_FIELD_ERRORS_KEY: [str(m) for m in messages]}
    return {key: value for name, item in pairs for key, value in _fields(item, name).items()}


def _join(prefix: str, name: Any) -> str:
    return f"{prefix}.{name}" if prefix else str(name)


class ErrorSerializer(serializers.Serializer):
    """The schema of every error answer."""

    code = serializers.CharField(help_text="Stable, machine-readable: invalid, not_found, …")
    detail = serializers.CharField(help_text="What went wrong, for a person.")
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Per input field (dotted for nested ones), what is wrong with it.",
    )


def not_found(request: HttpRequest, exception: Exception | None = None) -> Any:
    """Django's 404 for a URL no view answers: JSON for programs, the site's page for people."""
    if request.path.startswith(("/api/", "/webhooks/")):  # where programs call
        return JsonResponse(body("not_found", "No such endpoint."), status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def server_error(request: HttpRequest) -> Any:
    if request.path.startswith(("/api/", "/webhooks/")):
        return JsonResponse(body("server_error", "Something went wrong on our side."), status=500)
    from django.views.defaults import server_error as page

    return page(request)
