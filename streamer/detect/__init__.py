"""Boundary detection: suggested cuts from what the recording shows and sounds like.

``signals`` runs ffmpeg over the windows around scheduled boundaries, ``breaks`` turns the
signals into breaks (slate, silence, applause, black) and change points, ``suggest`` picks a
start and end per session with a confidence; operator marks always win.
"""

from streamer.detect.breaks import Break, Signal
from streamer.detect.suggest import (
    Analysis,
    Edge,
    Mark,
    Settings,
    Suggestion,
    analyse_windows,
    suggest_sessions,
    windows_for,
)

__all__ = [
    "Analysis",
    "Break",
    "Edge",
    "Mark",
    "Settings",
    "Signal",
    "Suggestion",
    "analyse_windows",
    "suggest_sessions",
    "windows_for",
]
