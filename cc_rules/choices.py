"""The closed vocabularies of the domain (DOMAIN.md), as Django TextChoices.

The engine (``cc_rules.engine``) uses the same string values without importing Django.
"""

from django.db import models


class ChannelCode(models.TextChoices):
    VOICE = "voice", "Voice"
    EMAIL = "email", "E-mail"
    CHAT = "chat", "Chat"
    FACEBOOK = "facebook", "Facebook"
    TWITTER = "twitter", "Twitter"
    WORKITEM = "workitem", "Workitem (fax, PDF…)"
    IM = "im", "Instant message (internal)"
    COBROWSE = "cobrowse", "Co-browse"


class Status(models.TextChoices):
    LOGGED_OFF = "logged_off", "Logged off"
    READY = "ready", "Ready"
    NOT_READY = "not_ready", "Not ready"
    AFTER_CALL_WORK = "after_call_work", "After-call work"


class RequestableStatus(models.TextChoices):
    """What an agent or supervisor may ask for; ACW is only entered by the system."""

    READY = "ready", "Ready"
    NOT_READY = "not_ready", "Not ready"
    LOGGED_OFF = "logged_off", "Logged off"


class Cause(models.TextChoices):
    AGENT = "agent", "Agent"
    PENDING_RELEASED = "pending_released", "Pending status released"
    NOT_RELEASED = "not_released", "Pending status dropped (work ended by no release event)"
    AFTER_DONE = "after_done", "Status after mark done"
    WRAP_UP_TIMER = "wrap_up_timer", "Wrap-up timer"
    SUPERVISOR = "supervisor", "Supervisor"
    SYSTEM = "system", "System"


class Event(models.TextChoices):
    STATUS = "status", "Status"
    DND = "dnd", "Do not disturb"
    PENDING = "pending", "Pending status"


class EndHow(models.TextChoices):
    HANGUP = "hangup", "Hang-up"
    CHAT_ENDED = "chat_ended", "Chat ended"
    SENT = "sent", "Sent"
    WORKBIN = "workbin", "Moved to a workbin"


class Scope(models.TextChoices):
    GLOBAL = "global", "Global"
    ROLE = "role", "Role"
    AGENT = "agent", "Agent"


class InteractionState(models.TextChoices):
    OFFERED = "offered", "Offered"
    ACTIVE = "active", "Active"
    ENDED = "ended", "Ended"
    DONE = "done", "Done"
    CLOSED = "closed", "Closed"
    REJECTED = "rejected", "Rejected"
    MISSED = "missed", "Missed"


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"


class Kind(models.TextChoices):
    NORMAL = "normal", "Normal"
    CONSULTATION = "consultation", "Consultation"
    CONFERENCE = "conference", "Conference"


class ContactPointKind(models.TextChoices):
    PHONE = "phone", "Phone"
    EMAIL = "email", "E-mail"


OPEN_STATES = (InteractionState.OFFERED, InteractionState.ACTIVE)
