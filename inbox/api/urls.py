from django.urls import path
from rest_framework.routers import DefaultRouter

from .attachments import AttachmentDownloadView
from .channels import ChannelViewSet
from .inbound_events import InboundEventViewSet
from .search import SearchView
from .uploads import UploadViewSet
from .views import ConversationViewSet, MessageViewSet

router = DefaultRouter()
router.register("channels", ChannelViewSet, basename="channel")
router.register("conversations", ConversationViewSet, basename="conversation")
router.register("inbound-events", InboundEventViewSet, basename="inbound-event")
router.register("messages", MessageViewSet, basename="message")
router.register("uploads", UploadViewSet, basename="upload")

urlpatterns = router.urls
urlpatterns.append(
    path(
        "attachments/<int:pk>/download/",
        AttachmentDownloadView.as_view(),
        name="attachment-download",
    )
)
urlpatterns.append(path("search/", SearchView.as_view(), name="search"))
