"""Telephony: an account's provider (Twilio, or log only) for texts and, with the
autocaller, calls."""
