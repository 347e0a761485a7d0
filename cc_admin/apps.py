from django.apps import AppConfig


class CcAdminConfig(AppConfig):
    name = "cc_admin"
    verbose_name = "cc-rules admin"
