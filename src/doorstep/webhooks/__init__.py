"""Webhooks: an account's endpoints receive its lead events (``lead.created``,
``lead.updated``, ``lead.status_changed``) as Standard Webhooks 1.0 deliveries, signed,
retried on a fixed schedule, every attempt logged, sent only to public addresses.

``service`` manages endpoints and deliveries (and ``post_signed`` for one-off POSTs),
``tasks`` fans lead events out and delivers, ``net`` sends (the SSRF rule), ``signing``
signs, ``pages`` is the Developer tab's part."""
