from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "inbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from inbox.choices import Platform
        from inbox.connectors import events
        from inbox.inbound.appliers import register

        from . import checks, services

        register(
            events.ConversationChanged,
            services.apply_conversations_changed,
            locks=services.conversation_locks,
        )
        register(
            events.ParticipantChanged,
            services.apply_participants_changed,
            locks=services.participant_locks,
        )
        register(events.ProfileChanged, services.apply_profiles_changed)
        register(
            events.MessageUpserted, services.apply_messages_upserted, locks=services.message_locks
        )
        register(events.StatusChanged, services.apply_statuses_changed, locks=services.status_locks)
        register(events.Typing, services.apply_typing)

        from inbox.models import OutboundCommand
        from inbox.outbound import register_handler
        from inbox.services import lifecycle, read_state, sending, typing

        Kind = OutboundCommand.Kind
        register_handler(Kind.SEND, perform=sending.perform_send, failed=sending.send_failed)
        register_handler(
            Kind.READ, perform=read_state.perform_receipt, failed=read_state.receipt_failed
        )
        register_handler(Kind.TYPING, perform=typing.perform_typing, failed=typing.typing_failed)
        register_handler(
            Kind.CLOSE, perform=lifecycle.perform_close, failed=lifecycle.lifecycle_failed
        )
        register_handler(
            Kind.OPEN, perform=lifecycle.perform_open, failed=lifecycle.lifecycle_failed
        )
        sending.register_conversation_rule(Platform.SCALAR, sending.direct_chats_only)

        from inbox.services.listening import comapi_gap_hint
        from inbox.services.polling import register_cursor_hint

        register_cursor_hint(comapi_gap_hint)
        checks.register_all()
