"""The Django admin for cc-rules (issue 2, item 5; issue 6, items 2 and 5).

- ``config``: channels, roles, reason codes, workbins, contacts.
- ``rules``: rule rows at every scope and the configuration's change history.
- ``agents``: agents, their overrides, effective rules and the decision simulator.
- ``ledger``: live state and the status history, read-only for everyone.
- ``teams``: teams of agents and the supervisors who see and act on them.
- ``tokens``: API tokens, listed and revoked by admins.

Superusers change the configuration; supervisors and compliance (view permissions only,
``cc_rules.permissions_setup``) see everything read-only, rule-change history included.
"""

from django.contrib import admin
from django.urls import reverse_lazy

from . import agents, config, ledger, rules, teams, tokens

admin.site.site_header = "cc-rules administration"
admin.site.site_title = "cc-rules admin"
admin.site.index_title = "Rules, agents and audit"
admin.site.index_template = "cc_admin/admin_index.html"  # links to the dashboards
admin.site.site_url = reverse_lazy("dashboard:time-in-status")  # "View site": the dashboards

__all__ = ["agents", "config", "ledger", "rules", "teams", "tokens"]
