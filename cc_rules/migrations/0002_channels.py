"""The eight channels of DOMAIN.md and the rules-version counter always exist."""

from django.db import migrations

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


def forwards(apps, schema_editor):
    Channel = apps.get_model("cc_rules", "Channel")
    for code, name, retains in CHANNELS:
        Channel.objects.update_or_create(
            code=code, defaults={"name": name, "retains_content": retains}
        )
    apps.get_model("cc_rules", "RulesVersion").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("cc_rules", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
