from django.urls import path
from rest_framework.routers import DefaultRouter

from .attachments import AttachmentDownloadView
from .views import ConversationViewSet, InboundEventViewSet, MessageViewSet

router = DefaultRouter()
router.register("conversations", ConversationViewSet, basename="conversation")
router.register("inbound-events", InboundEventViewSet, basename="inbound-event")
router.register("messages", MessageViewSet, basename="message")

urlpatterns = router.urls
urlpatterns.append(
    path(
        "attachments/<int:pk>/download/",
        AttachmentDownloadView.as_view(),
        name="attachment-download",
    )
)
