"""The Celery app: tasks are discovered in the installed apps; the schedule lives here."""

import os
import sys

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
        settings.OUTBOUND_SWEEP_INTERVAL_SECONDS,
        sender.signature("inbox.tasks.sweep_outbound_commands"),
        name="sweep outbound commands",
    )
    sender.add_periodic_task(
        settings.INBOUND_PRUNE_INTERVAL_SECONDS,
        sender.signature("inbox.tasks.prune_inbound_events"),
        name="prune inbound events",
    )
    sender.add_periodic_task(
        settings.POLL_SCHEDULE_SECONDS,
        sender.signature("inbox.tasks.poll_channels"),
        name="poll channels",
    )
    sender.add_periodic_task(
        settings.DOWNLOAD_SWEEP_INTERVAL_SECONDS,
        sender.signature("inbox.tasks.download_attachments"),
        name="download attachments",
    )
    sender.add_periodic_task(
        settings.UPLOAD_SWEEP_INTERVAL_SECONDS,
        sender.signature("inbox.tasks.prune_uploads"),
        name="prune uploads",
    )


@worker_init.connect
@beat_init.connect
def _refuse_insecure_start(**_: object) -> None:
    import django
    from django.core.exceptions import ImproperlyConfigured

    django.setup()  # whichever runs first: Celery's own Django set-up or this

    from inbox.checks import refuse_insecure_start

    try:
        refuse_insecure_start()
    except ImproperlyConfigured as exc:
        # Celery logs and swallows exceptions of signal handlers; an exit it lets through.
        # By now Celery has redirected the standard streams into its logging, which beat
        # drops on the way out: say why on the real stderr.
        print(exc, file=sys.__stderr__)
        raise SystemExit(1) from exc
