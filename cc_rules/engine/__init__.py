"""The engine: plain Python decisions over frozen dataclasses. No Django import here.

``rulebook`` defines every configurable rule, ``resolve`` computes an agent's effective rules
from rule rows (most specific scope wins, per field), ``decide`` answers the questions the
services ask (may this agent take work? what does this status request do? where does ACW end?),
and ``reasons`` holds the stable machine-readable codes.
"""
