from rest_framework.routers import SimpleRouter

from .views import RelationshipTemplateViewSet, RelationshipViewSet

router = SimpleRouter()
router.register("relationships", RelationshipViewSet, basename="relationship")
router.register(
    "relationship-templates", RelationshipTemplateViewSet, basename="relationship-template"
)

urlpatterns = router.urls
