from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "inbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The inbox's own appliers register with the pipeline on import.
        from . import services  # noqa: F401
