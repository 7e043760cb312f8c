from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "inbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from inbox.connectors import events
        from inbox.inbound.appliers import register

        from . import checks, services

        register(events.MessageUpserted, services.apply_message_upserted)
        register(events.StatusChanged, services.apply_status_changed)
        register(events.ConversationChanged, services.apply_conversation_changed)
        register(events.ParticipantChanged, services.apply_participant_changed)
        register(events.ProfileChanged, services.apply_profile_changed)
        register(events.Typing, services.apply_typing)
        checks.register_all()
