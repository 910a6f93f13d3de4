"""The Lead Responder: workflows that answer a lead within seconds (definition.py, the JSON
form; templates.py, their messages; service.py, matching and storing; tasks.py, the steps;
mail.py and sms.py, delivery)."""
