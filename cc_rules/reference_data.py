"""Rows every installation has: the eight channels (DOMAIN.md) and the rules-version counter.

Used by the data migration (with historical models) and by the test set-up, which must put
them back after a transactional test flushed every table.
"""

CHANNELS = [
    ("voice", "Voice", True),
    ("email", "E-mail", True),
    ("chat", "Chat", True),
    ("facebook", "Facebook", True),
    ("twitter", "Twitter", True),
    ("workitem", "Workitem (fax, PDF…)", True),
    ("im", "Instant message (internal)", False),  # R5: IM content is never stored
    ("cobrowse", "Co-browse", True),
]


def ensure_reference_data(channel_model, version_model) -> None:
    existing = set(channel_model.objects.values_list("code", flat=True))
    channel_model.objects.bulk_create(
        [
            channel_model(code=code, name=name, retains_content=retains)
            for code, name, retains in CHANNELS
            if code not in existing
        ]
    )
    version_model.objects.get_or_create(pk=1)
