from rest_framework.routers import DefaultRouter

from .views import ConversationViewSet, InboundEventViewSet

router = DefaultRouter()
router.register("conversations", ConversationViewSet, basename="conversation")
router.register("inbound-events", InboundEventViewSet, basename="inbound-event")

urlpatterns = router.urls
