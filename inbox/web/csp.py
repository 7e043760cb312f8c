"""A Content-Security-Policy for the inbox's pages: scripts and styles only from our own files
(no inline ones, no ``eval``), images from us or ``data:`` previews, never framed.

The admin is left alone: its pages use inline scripts of their own.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
# Paths with a policy of their own (attachments are sandboxed) or none to keep (the admin's).
EXEMPT_PREFIXES = ("/admin/", "/api/", "/webhooks/")


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith(EXEMPT_PREFIXES):
            response.headers.setdefault("Content-Security-Policy", POLICY)
        return response
