"""Screens and dialogs of the boxtui app."""
