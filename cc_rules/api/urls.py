"""/api/v1/ (API.md)."""

from django.urls import path

from . import views

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="token"),
    path("me/", views.MeView.as_view(), name="me"),
    path("me/effective-rules/", views.MeEffectiveRulesView.as_view(), name="me-effective-rules"),
    path("me/login/", views.MeLoginView.as_view(), name="me-login"),
    path("me/logout/", views.MeLogoutView.as_view(), name="me-logout"),
    path(
        "me/channels/<str:channel>/status/",
        views.MeChannelStatusView.as_view(),
        name="me-channel-status",
    ),
    path("me/dnd/", views.MeDndView.as_view(), name="me-dnd"),
    path("me/forwarding/", views.MeForwardingView.as_view(), name="me-forwarding"),
    path("agents/", views.AgentsView.as_view(), name="agents"),
    path("agents/<str:username>/", views.AgentDetailView.as_view(), name="agent-detail"),
    path(
        "agents/<str:username>/channels/<str:channel>/status/",
        views.AgentChannelStatusView.as_view(),
        name="agent-channel-status",
    ),
]
