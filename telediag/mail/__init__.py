"""E-mail both ways: notifications to people (rules over findings and ticket events, sent through
SMTP from a durable outbox) and support mail in (an SMTP listener whose messages become tickets or
comments). :func:`telediag.mail.services.mail_services` builds the Twisted services.
"""
