from django.apps import AppConfig


class RelationshipsConfig(AppConfig):
    name = "relationships"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from inbox.connectors.events import RelationshipDecomposed, RelationshipUpserted
        from inbox.inbound.appliers import register
        from inbox.models import OutboundCommand
        from inbox.outbound import register_handler

        from . import decisions, services

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
        # Replies on enmeshed need an active relationship with every recipient.
        from inbox.choices import Platform
        from inbox.services.sending import register_conversation_rule

        register_conversation_rule(Platform.ENMESHED, decisions.reply_rule)
        # Polls ask the Connector again about the relationships the inbox holds as pending.
        from inbox.services.polling import register_cursor_hint

        register_cursor_hint(decisions.pending_hint)
        # Decisions leave through the outbound queue; this app carries them out.
        register_handler(
            OutboundCommand.Kind.DECIDE,
            perform=decisions.perform_decision,
            failed=decisions.decision_failed,
        )
