"""Identities: the caller's own profile, public keys, and the identity view privacy rule."""
