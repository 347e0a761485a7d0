"""The rule matrix: one scope's rules as a table an admin reads in their own words (issue 16/3).

Used on the role page, the agent page (the agent's overrides) and the "Global defaults" page
(``/admin/cc_rules/rule/global/``). Rows are the eight channels, columns the concepts (sees,
cap, wrap-up, status after the timer, status after done, extend, mark done required, release
events); below them the settings for the whole scope. Nothing is typed as JSON: every cell is
a select, a number or a checkbox, and every cell can *inherit*, with a grey hint saying what it
would inherit now and from where ("inherit: 30 s (global)"; on an agent page "role's value: …").

Saving writes the same ``Rule`` rows as the raw rule admin, through the model (``full_clean``
then ``save``/``delete``), so django-simple-history keeps every change and ``cc_rules.signals``
bumps the rules version. Only cells whose value differs from what the page read write anything,
and of their rows only those whose value changes: a save with nothing changed writes nothing.

After-call work (the "Wrap-up" cell, R14) maps onto three rule keys:

==============  ==================================================================
off             ``acw_enabled`` false; the ``acw_seconds`` row at this scope is deleted
timed N s       ``acw_enabled`` true, ``acw_seconds`` N
until done      ``acw_enabled`` true, ``acw_seconds`` null; "After done" must then be
                Ready or Not ready (explicit or inherited), else the cell is refused
manual          ``acw_enabled`` true, ``acw_seconds`` null, ``after_done`` manual
                (written at this scope; an explicit other "After done" is refused)
inherit         neither ``acw_enabled`` nor ``acw_seconds`` has a row at this scope
==============  ==================================================================

Read back, a scope with either row shows the mode of the values in force at this scope (its
rows, the rest inherited): not enabled → off; a timer → timed; no timer → until done when the
status after done is Ready or Not ready, else manual.

Inherit ("no row at this scope"), field by field:

- one-value cells (cap, status after the timer, extend, mark done, pending on/off, total cap,
  reason required, offer timeout, missed offer, click-to-contact, consult slot, ACW after
  assist): the row is deleted. "unlimited" and "never" are the value null, not inherit.
- wrap-up: both ``acw_enabled`` and ``acw_seconds`` rows are deleted; ``after_done`` belongs to
  the "After done" cell and stays.
- after done: ``after_done`` and ``after_done_reason`` rows are deleted. "Not ready" with "no
  reason" writes a null reason only where a reason would otherwise be inherited.
- set-valued rules (release events, blocking pairs, dialable number types) are replaced whole
  by a more specific scope (DECISIONS.md): inherit deletes the row; "as ticked" writes exactly
  the ticked boxes, none ticked being the empty set. While inherit is chosen the boxes show the
  inherited set; changing a box without choosing "as ticked" is refused (the page's script
  switches the select as one clicks).
- visible channels (R1, role page): inherit is an empty ``Role.visible_channels`` (the channels
  visible by default apply); "only the ticked channels" needs at least one. The agent page
  shows the role's channels read-only; the global page edits ``Channel.visible_by_default``.
- release events are one set per scope; the table shows, per channel, the end events it can
  produce (voice: hang-up; chat, Facebook, Twitter, co-browse: chat ended; e-mail and
  workitem: sent, workbin; IM none). A box changed on one row changes the event for all.

On the agent page only rules with ``RuleDef.agent_scope`` are offered. A read-only user sees
the matrix disabled, and a POST without change permission is refused (403) before any form is
read. A concurrent edit of the same scope (another admin saved in between) is refused once with
a message; saving again applies this page's table.
"""

from .form import RuleMatrixForm
from .scope import ScopeRules, Target

__all__ = ["RuleMatrixForm", "ScopeRules", "Target"]
