"""The Swagger UI of the schema (drf-spectacular's, its assets served by the app)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.views import redirect_to_login
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated


class SwaggerView(SpectacularSwaggerView):
    """The Swagger UI: a page for people, so a visitor who is not signed in is sent to the
    login page (and back), not shown an error document. Tokens authenticate it as the API."""

    def handle_exception(self, exc: Exception) -> Any:
        if isinstance(exc, (NotAuthenticated, AuthenticationFailed)):
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)
