"""The WSGI entry point for production servers (e.g. `gunicorn config.wsgi`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from inbox.checks import refuse_insecure_start  # noqa: E402 - needs the app registry

refuse_insecure_start()
