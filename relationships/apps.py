from django.apps import AppConfig


class RelationshipsConfig(AppConfig):
    name = "relationships"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the relationship appliers with the inbox pipeline; the core never imports us.
        from . import services  # noqa: F401
