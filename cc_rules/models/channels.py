"""Channels, workbins and contacts."""

from django.db import models

from cc_rules.choices import ChannelCode, ContactPointKind


class Channel(models.Model):
    """One of the eight ways to talk (DOMAIN.md). The code is the primary key, so a foreign key
    to a channel *is* its code (``state.channel_id == "voice"``) and needs no join.

    ``retains_content`` is False for ``im`` (R5): its text never reaches the database.
    ``visible_by_default`` is the global visibility (R1) a role inherits when it sets none.
    """

    code = models.CharField(primary_key=True, max_length=16, choices=ChannelCode.choices)
    name = models.CharField(max_length=64)
    retains_content = models.BooleanField(default=True)
    visible_by_default = models.BooleanField(
        default=False, help_text="Visible to roles that do not choose their own channels (R1)."
    )

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Workbin(models.Model):
    """A named holding bin for e-mails and workitems; moving one there ends its handling (R8)."""

    name = models.SlugField(max_length=64, unique=True)
    label = models.CharField(max_length=128, blank=True)
    channels = models.ManyToManyField(
        Channel, limit_choices_to={"code__in": ["email", "workitem"]}, blank=True
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.label or self.name


class Contact(models.Model):
    """A customer the company knows, with every phone number and e-mail address on file (R10)."""

    name = models.CharField(max_length=200, db_index=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class ContactPoint(models.Model):
    """One phone number (E.164) or e-mail address of a contact."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="points")
    kind = models.CharField(max_length=8, choices=ContactPointKind.choices)
    value = models.CharField(max_length=254)

    class Meta:
        ordering = ["contact", "kind", "id"]
        constraints = [
            models.UniqueConstraint(fields=["contact", "kind", "value"], name="contact_point_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.value}"
