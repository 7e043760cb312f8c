"""The WSGI entry point of the ingest benchmark: the production one, on ``bench.settings``."""

import os

# Chosen before config.wsgi runs, whose setdefault then keeps it.
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"

from config.wsgi import application

__all__ = ["application"]
