"""Sensors: the Redis queue sensor and the run-failure backstop."""
