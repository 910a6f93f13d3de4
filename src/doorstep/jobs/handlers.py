"""Imports every feature's job handlers, so that a worker knows every kind."""

from doorstep.autocaller import tasks as autocaller  # noqa: F401
from doorstep.leads import events  # noqa: F401
from doorstep.responder import service, tasks  # noqa: F401
from doorstep.webhooks import tasks as webhooks  # noqa: F401
