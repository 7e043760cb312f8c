"""The site's URLs plus the relationships and operations pages, for tests that run before
``config/urls.py`` includes them (and unchanged once it does)."""

from django.urls import URLPattern, URLResolver, include, path

from config.urls import urlpatterns as site


def _has(namespace: str) -> bool:
    return any(getattr(p, "namespace", None) == namespace for p in site)


urlpatterns: list[URLPattern | URLResolver] = list(site)
if not _has("relationships_web"):
    urlpatterns.append(path("relationships/", include("relationships.web_urls")))
if not _has("ops"):
    urlpatterns.append(path("ops/", include("inbox.ops.urls")))
