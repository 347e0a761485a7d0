from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_groups(sender, **kwargs) -> None:
    """The product's groups (agent, supervisor, compliance, router) exist after every migrate."""
    from .permissions_setup import ensure_groups

    ensure_groups()


class CcRulesConfig(AppConfig):
    name = "cc_rules"
    verbose_name = "Contact-center rules"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, signals  # noqa: F401  (system checks; rules-version bumps)
        from .services import deactivation, tokens

        deactivation.connect()  # deactivating an agent or user logs them off (the service)
        tokens.connect()  # a password change or a deactivation revokes the user's API tokens

        # Connected after django.contrib.auth's own handler, so the permissions exist.
        post_migrate.connect(_ensure_groups, sender=self)
