from rest_framework.routers import SimpleRouter

from .views import RelationshipViewSet

router = SimpleRouter()
router.register("relationships", RelationshipViewSet, basename="relationship")

urlpatterns = router.urls
