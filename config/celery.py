"""The Celery app: tasks are discovered in the installed apps; the schedule lives here."""

import os

from celery import Celery
from celery.signals import beat_init, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("switchboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _schedule(sender: Celery, **_: object) -> None:
    from django.conf import settings

    sender.add_periodic_task(
        settings.INBOUND_SWEEP_INTERVAL_SECONDS,
        sender.signature("inbox.tasks.sweep_inbound_events"),
        name="sweep inbound events",
    )
    sender.add_periodic_task(
        settings.INBOUND_PRUNE_INTERVAL_SECONDS,
        sender.signature("inbox.tasks.prune_inbound_events"),
        name="prune inbound events",
    )


@worker_init.connect
@beat_init.connect
def _refuse_insecure_start(**_: object) -> None:
    from inbox.checks import refuse_insecure_start

    refuse_insecure_start()
