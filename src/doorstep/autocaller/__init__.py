"""The autocaller: a new lead's office rings its negotiators, the one who answers hears who the
lead is and presses 1, then Doorstep dials the lead showing the office's number ("negotiator
first": the lead only ever hears a live person). Also "Call this lead", which rings the
signed-in negotiator's own phone first.

settings.py   an office's autocaller settings (checked, E.164)
provider.py   the provider interface: Twilio Programmable Voice, or log only
service.py    a call's life: start it, take the provider's reports, record the outcome
callbacks.py  Twilio's webhooks (TwiML and status callbacks), signatures checked
tasks.py      the job that starts an automatic call, and the lead.created subscriber
pages.py      "Call this lead" and the office's settings in the dashboard
reports.py    per office: leads called, connected, times, outcomes
"""
