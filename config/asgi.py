"""The ASGI entry point for production servers (e.g. `uvicorn config.asgi:application`)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_asgi_application()

from inbox.checks import refuse_insecure_start  # noqa: E402 - needs the app registry

refuse_insecure_start()
