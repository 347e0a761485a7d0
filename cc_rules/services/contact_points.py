"""Contact points read from the database for R10 party action and R11 click-to-contact.

The decisions (what is a contact point, how a typed number is normalised, whether the agent may
use it) are the engine's (``cc_rules.engine.contact_points``); this module only feeds it the
region (``CC_DEFAULT_REGION``), the contact's points on file and the contact's own messages.
"""

from __future__ import annotations

from django.conf import settings

from cc_rules.choices import Kind
from cc_rules.engine import contact_points as engine
from cc_rules.engine.contact_points import Point
from cc_rules.models import Contact, Interaction, Message


def points_in(text: str) -> list[Point]:
    """Every phone number and e-mail address in ``text`` (R11), read in ``CC_DEFAULT_REGION``."""
    return engine.points_in(text, settings.CC_DEFAULT_REGION)


def normalise(kind: str, value: str) -> Point | None:
    """``value`` as the engine compares it (E.164, lower-cased e-mail), or None if invalid."""
    return engine.normalise(kind, value, settings.CC_DEFAULT_REGION)


def on_file(contact: Contact, kind: str) -> list[tuple[str, Point | None]]:
    """The contact's ``kind`` points on file, in order, each with its normalised form."""
    values = contact.points.filter(kind=kind).values_list("value", flat=True)
    return [(value, normalise(kind, value)) for value in values]


def transcript_of(interaction: Interaction) -> int:
    """The id of the interaction whose messages ``interaction`` shows: a conference shares its
    parent's transcript; a consultation and a normal interaction keep their own."""
    if interaction.kind == Kind.CONFERENCE and interaction.parent_id:
        return interaction.parent_id
    return interaction.pk


def written_by_contact(interaction: Interaction) -> list[tuple[str, Point | None]]:
    """Every point in the messages the contact wrote (author None: posted by the router) in
    ``interaction``'s transcript; never the agents' own messages (DECISIONS.md, "Combinations")."""
    texts = Message.objects.filter(
        interaction_id=transcript_of(interaction), author__isnull=True
    ).values_list("text", flat=True)
    return [(p.value, p) for text in texts for p in points_in(text)]
