from django.urls import path

from . import views

app_name = "inbox"

urlpatterns = [
    path("", views.inbox, name="index"),
    path("c/<int:pk>/", views.conversation, name="conversation"),
    path("c/<int:pk>/messages/", views.messages, name="messages"),
    path("c/<int:pk>/typing/", views.typing, name="typing"),
    path("c/<int:pk>/reply/", views.reply, name="reply"),
    path("c/<int:pk>/unread/", views.mark_unread, name="mark-unread"),
    path("c/<int:pk>/close/", views.close, name="close"),
    path("c/<int:pk>/start/", views.start, name="start"),
    path("c/<int:pk>/composing/", views.composing, name="composing"),
    path("m/<int:pk>/retry/", views.retry, name="retry"),
]
