"""The project's settings, plus the reference view's URL: what the ingest benchmark serves."""

from config.settings import *  # noqa: F403 - the same settings, one override

ROOT_URLCONF = "bench.urls"
WSGI_APPLICATION = "bench.wsgi.application"
