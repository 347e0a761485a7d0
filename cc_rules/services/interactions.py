"""The interaction services, by area: one import for callers that use several of them.

- ``offers``: offers and routing (R4, R9), accept, reject, offer expiry;
- ``handling``: end (R8, R14), mark done (R12, R13), close (R12);
- ``wrap_up``: leaving and extending after-call work (R13, R14, R15);
- ``outbound``: party action (R10), click-to-contact (R11), consultation and conference (R6).
"""

from .handling import interaction_close, interaction_done, interaction_end
from .offers import interaction_accept, interaction_reject, offer_expire, offer_inbound
from .outbound import assert_agent, start_assist, start_outbound
from .wrap_up import leave_wrap_up, wrap_up_extend

__all__ = [
    "assert_agent",
    "interaction_accept",
    "interaction_close",
    "interaction_done",
    "interaction_end",
    "interaction_reject",
    "leave_wrap_up",
    "offer_expire",
    "offer_inbound",
    "start_assist",
    "start_outbound",
    "wrap_up_extend",
]
