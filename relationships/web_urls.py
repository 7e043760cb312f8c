"""The relationships pages (included at ``/relationships/``)."""

from django.urls import path

from . import web

app_name = "relationships_web"

urlpatterns = [
    path("", web.relationship_list, name="list"),
    path("<int:pk>/card/", web.relationship_card, name="card"),
    # One route for every decision: the view knows them (an unknown one answers 404).
    path("<int:pk>/<slug:decision>/", web.decide, name="decide"),
    path("templates/", web.template_list, name="templates"),
    path("templates/<int:pk>/", web.template_detail, name="template"),
    path("templates/<int:pk>/qr.png", web.template_qr, name="template_qr"),
]
