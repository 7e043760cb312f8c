"""The operations pages (included at ``/ops/``)."""

from django.urls import path

from . import views

app_name = "ops"

urlpatterns = [
    path("", views.index, name="index"),
    path("events/<int:pk>/replay/", views.replay_event, name="replay_event"),
    path("channels/<int:pk>/replay/", views.replay_channel, name="replay_channel"),
]
