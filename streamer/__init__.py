"""streamer: follow live broadcasts, record them, cut and publish one VOD per session."""

__version__ = "0.1.0"
