"""Writes of the prescriptions app (see prescriptions.services.keys)."""
