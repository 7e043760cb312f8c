from django.apps import AppConfig


class RelationshipsConfig(AppConfig):
    name = "relationships"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from inbox.connectors.events import RelationshipDecomposed, RelationshipUpserted
        from inbox.inbound.appliers import register

        from . import services

        # The inbox core never imports this app: its appliers plug in here.
        register(
            RelationshipUpserted,
            services.apply_relationships_upserted,
            locks=services.relationship_locks,
        )
        register(
            RelationshipDecomposed,
            services.apply_relationships_decomposed,
            locks=services.relationship_locks,
        )
