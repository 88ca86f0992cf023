"""The HTTP face of streamer: public VOD API, admin API, viewer page, media and operations.

``create_app(settings, ...)`` in :mod:`streamer.api.app` builds the FastAPI application.
"""
