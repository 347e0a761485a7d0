"""The eight channels of DOMAIN.md and the rules-version counter always exist."""

from django.db import migrations

from cc_rules.reference_data import ensure_reference_data


def forwards(apps, schema_editor):
    ensure_reference_data(
        apps.get_model("cc_rules", "Channel"), apps.get_model("cc_rules", "RulesVersion")
    )


class Migration(migrations.Migration):
    dependencies = [("cc_rules", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
