from django.apps import AppConfig


class CcRulesConfig(AppConfig):
    name = "cc_rules"
    verbose_name = "Contact-center rules"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (rules-version bumps)
