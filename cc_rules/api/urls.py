"""/api/v1/ (API.md)."""

from django.urls import path

from . import (
    config_views,
    contact_views,
    decision_views,
    im_views,
    message_views,
    supervisor_views,
    token_views,
    views,
)
from . import interaction_views as iv

urlpatterns = [
    path("auth/token/", token_views.TokenView.as_view(), name="token"),
    path("auth/tokens/", token_views.TokenListView.as_view(), name="tokens"),
    path("auth/tokens/<int:pk>/", token_views.TokenDetailView.as_view(), name="token-detail"),
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
    path(
        "agents/<str:username>/logout/",
        supervisor_views.AgentLogoutView.as_view(),
        name="agent-logout",
    ),
    path("agents/<str:username>/dnd/", supervisor_views.AgentDndView.as_view(), name="agent-dnd"),
    path(
        "agents/<str:username>/channels/<str:channel>/wrap-up/extend/",
        supervisor_views.AgentWrapUpExtendView.as_view(),
        name="agent-wrap-up-extend",
    ),
    path(
        "agents/<str:username>/channels/<str:channel>/wrap-up/end/",
        supervisor_views.AgentWrapUpEndView.as_view(),
        name="agent-wrap-up-end",
    ),
    path("interactions/", iv.InteractionsView.as_view(), name="interactions"),
    path("interactions/<int:pk>/", iv.InteractionDetailView.as_view(), name="interaction-detail"),
    path("interactions/<int:pk>/accept/", iv.AcceptView.as_view(), name="interaction-accept"),
    path("interactions/<int:pk>/reject/", iv.RejectView.as_view(), name="interaction-reject"),
    path("interactions/<int:pk>/end/", iv.EndView.as_view(), name="interaction-end"),
    path("interactions/<int:pk>/done/", iv.DoneView.as_view(), name="interaction-done"),
    path("interactions/<int:pk>/close/", iv.CloseView.as_view(), name="interaction-close"),
    path(
        "interactions/<int:pk>/wrap-up/extend/",
        iv.ExtendView.as_view(),
        name="interaction-wrap-up-extend",
    ),
    path("interactions/<int:pk>/consult/", iv.ConsultView.as_view(), name="interaction-consult"),
    path(
        "interactions/<int:pk>/conference/",
        iv.ConferenceView.as_view(),
        name="interaction-conference",
    ),
    path(
        "interactions/<int:pk>/messages/",
        message_views.MessagesView.as_view(),
        name="interaction-messages",
    ),
    path("contacts/", contact_views.ContactsView.as_view(), name="contacts"),
    path("contacts/<int:pk>/", contact_views.ContactDetailView.as_view(), name="contact-detail"),
    path("decisions/offer/", decision_views.DecisionOfferView.as_view(), name="decision-offer"),
    path("im/", im_views.ImSendView.as_view(), name="im-send"),
    path("im/inbox/", im_views.ImInboxView.as_view(), name="im-inbox"),
    path("im/inbox/ack/", im_views.ImAckView.as_view(), name="im-inbox-ack"),
    path("config/warnings/", config_views.ConfigWarningsView.as_view(), name="config-warnings"),
]
