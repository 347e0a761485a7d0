"""Contact points (phone numbers, e-mail addresses) found in a chat message (R11).

Phone numbers are found with Google's ``phonenumbers`` matcher (region from
``CC_PHONE_REGION`` for numbers without a country code) and returned in E.164; e-mail
addresses are found by Django's own ``EmailValidator`` over the words of the message.
"""

from __future__ import annotations

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

_email = EmailValidator()
_TRIM = "<>()[]{}\"',;:!?."


def contact_points_in(text: str) -> list[dict[str, str]]:
    """Every phone number and e-mail address in ``text``, in order, without duplicates."""
    found: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for match in phonenumbers.PhoneNumberMatcher(text, settings.CC_PHONE_REGION):
        value = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        if ("phone", value) not in seen:
            seen.add(("phone", value))
            found.append({"kind": "phone", "value": value})
    for word in text.split():
        word = word.strip(_TRIM)
        if "@" not in word or len(word) > 254:
            continue
        try:
            _email(word)
        except ValidationError:
            continue
        value = word.lower()
        if ("email", value) not in seen:
            seen.add(("email", value))
            found.append({"kind": "email", "value": value})
    return found
