"""Every URL of the project, and the ingest benchmark's reference view beside them."""

from django.urls import path

from bench.reference import receive_reference
from config.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    *project_urlpatterns,
    path("bench/reference/", receive_reference, name="bench-reference"),
]
