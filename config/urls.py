from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from inbox.api.docs import SwaggerView
from inbox.live.stream import live_events
from inbox.webhooks import receive_webhook

urlpatterns = [
    path("", include("inbox.web.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("relationships/", include("relationships.web_urls")),
    path("ops/", include("inbox.ops.urls")),
    path("live/", live_events, name="live"),
    path("admin/", admin.site.urls),
    path("webhooks/<str:platform>/<uuid:key>/", receive_webhook, name="webhook"),
    path("api/v1/", include("inbox.api.urls")),
    path("api/v1/", include("relationships.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SwaggerView.as_view(url_name="schema"), name="api-docs"),
]

handler404 = "inbox.api.errors.not_found"
handler500 = "inbox.api.errors.server_error"
