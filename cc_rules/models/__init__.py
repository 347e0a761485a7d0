"""The data, one home per fact (ARCHITECTURE.md)."""

from .agents import Agent, AgentChannelState
from .channels import Channel, Contact, ContactPoint, Workbin
from .history import IdempotencyRecord, StatusChange
from .interactions import Interaction, Message
from .jobs import AuditJob
from .rules import ReasonCode, Role, Rule, RulesVersion
from .teams import Team
from .tokens import ApiToken

__all__ = [
    "Agent",
    "AgentChannelState",
    "ApiToken",
    "AuditJob",
    "Channel",
    "Contact",
    "ContactPoint",
    "IdempotencyRecord",
    "Interaction",
    "Message",
    "ReasonCode",
    "Role",
    "Rule",
    "RulesVersion",
    "StatusChange",
    "Team",
    "Workbin",
]
