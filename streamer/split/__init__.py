"""Split: one frame-exact VOD per session from a broadcast's recording (DESIGN §2.3).

``plan`` maps a session's window through the timeline, ``cutter`` runs ffmpeg, ``session``
ties plan, cut, thumbnail and record together, ``chapters`` writes YouTube chapter lines.
"""

from __future__ import annotations

from streamer.split.plan import SessionPlan, plan_session
from streamer.split.session import Outputs, SplitResult, split_session, sweep_split_temps

__all__ = [
    "Outputs",
    "SessionPlan",
    "SplitResult",
    "plan_session",
    "split_session",
    "sweep_split_temps",
]
