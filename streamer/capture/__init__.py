"""Capture: resolve a broadcast, poll its HLS playlist, keep every segment and a timeline."""
