from django.contrib import admin
from django.urls import include, path

from inbox.webhooks import receive_webhook

urlpatterns = [
    path("admin/", admin.site.urls),
    path("webhooks/<str:platform>/<uuid:key>/", receive_webhook, name="webhook"),
    path("api/v1/", include("inbox.api.urls")),
    path("api/v1/", include("relationships.api.urls")),
]
