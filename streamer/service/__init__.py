"""The wiring above ``api/`` and ``pipeline/``: ``run`` and ``demo`` (an application's main)."""
