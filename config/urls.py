from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from inbox.webhooks import receive_webhook

urlpatterns = [
    # Until the inbox pages exist, the admin is the place to look around.
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("webhooks/<str:platform>/<uuid:key>/", receive_webhook, name="webhook"),
    path("api/v1/", include("inbox.api.urls")),
    path("api/v1/", include("relationships.api.urls")),
]
