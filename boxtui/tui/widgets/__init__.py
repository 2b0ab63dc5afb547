"""Reusable widgets of the boxtui app."""
