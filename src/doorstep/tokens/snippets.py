"""Copy-paste help on the Developer tab: for a chosen token, what a web agency pastes into a
site (the embed line, a plain HTML form), a terminal (curl) or Gravity Forms' webhook
settings. Every key is shown once, when it is made, and stored only as a hash: the snippets
carry the key on the page shown right after its creation, and say where it goes afterwards."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from html import escape

from doorstep.models import ApiToken

SECRET_PLACEHOLDER = "YOUR_SECRET_TOKEN"
PUBLISHABLE_PLACEHOLDER = "YOUR_PUBLISHABLE_KEY"


@dataclass(frozen=True)
class Snippet:
    id: str
    title: str
    intro: str
    code: str
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class GravityField:
    key: str
    value: str


def snippets(
    base: str, token: ApiToken, slug: str | None = None, key: str | None = None
) -> list[Snippet]:
    """``key``: the token's key, known only in the response that created it."""
    if key is None:
        key = PUBLISHABLE_PLACEHOLDER if token.publishable else SECRET_PLACEHOLDER
    out: list[Snippet] = []
    if token.publishable:
        out.append(embed(base, key, slug))
        out.append(html_form(base, key))
    out += [curl_json(base, key), curl_form(base, key), gravity_forms(base)]
    return out


def embed(base: str, key: str, slug: str | None) -> Snippet:
    line = f'<script src="{base}/embed.js" data-key="{key}" async></script>'
    notes = [
        'Add data-mode="inline" to place the form in your page itself rather than in a '
        "frame (your page's origin must be one of this token's origins).",
        'Add data-office="<office id>" to send every valuation to one office, and '
        'data-target="#some-element" to put the form inside that element.',
        "Your site's Content-Security-Policy, if it has one, must allow "
        f"script-src and frame-src {base} (and connect-src for inline).",
    ]
    if slug:
        notes.append(
            f"Or link to the hosted page: {base}/value/{slug} "
            f"(per office: {base}/value/{slug}/<office id>)."
        )
    return Snippet(
        "embed",
        "Instant valuation page: the embed line",
        "Paste where the valuation form should appear. It opens your valuation page in a "
        "frame that grows with its content.",
        line,
        notes,
    )


def html_form(base: str, key: str) -> Snippet:
    action = f"{base}/api/v103/leads"
    code = f"""<form id="doorstep-form" action="{escape(action)}" method="post">
  <input type="hidden" name="type" value="vendor">
  <input type="hidden" name="meta[Page]" value="Contact us">
  <p><label for="df-first">First name</label>
     <input id="df-first" name="first_name" required maxlength="50" autocomplete="given-name"></p>
  <p><label for="df-last">Last name</label>
     <input id="df-last" name="last_name" required maxlength="50" autocomplete="family-name"></p>
  <p><label for="df-email">Email</label>
     <input id="df-email" name="email" type="email" required autocomplete="email"></p>
  <p><label for="df-phone">Phone</label>
     <input id="df-phone" name="phone" type="tel" required autocomplete="tel"></p>
  <p><label for="df-postcode">Postcode</label>
     <input id="df-postcode" name="postcode" required maxlength="10" autocomplete="postal-code"></p>
  <p><label for="df-message">Message</label>
     <textarea id="df-message" name="message" maxlength="255"></textarea></p>
  <p><input id="df-consent" name="gdpr_checkbox" type="checkbox" required>
     <label for="df-consent">You may contact me about my enquiry.</label></p>
  <p><button type="submit">Send</button></p>
  <p id="doorstep-form-status" role="status"></p>
</form>
<script>
document.getElementById("doorstep-form").addEventListener("submit", function (event) {{
  event.preventDefault();
  var form = event.target, status = document.getElementById("doorstep-form-status");
  status.textContent = "Sending…";
  fetch(form.action, {{
    method: "POST",
    headers: {{ "X-API-KEY": "{key}" }},
    body: new FormData(form)
  }}).then(function (r) {{
    return r.json().then(function (body) {{
      status.textContent = r.ok ? "Thank you: we will be in touch shortly." : body.message;
      if (r.ok) form.reset();
    }});
  }}).catch(function () {{ status.textContent = "Please try again."; }});
}});
</script>"""
    return Snippet(
        "html-form",
        "A plain HTML form",
        "Any form on your site can send its leads: name the fields as Doorstep does. The few "
        "lines of script send it with the key (a form alone cannot set the X-API-KEY header) "
        "and show the answer.",
        code,
        [
            "A ticked checkbox sends on, which is read as true; objects use brackets: "
            "meta[Property ID], appointment_availability[hours][], questionnaire[Selling?].",
            "Change type to sale, let, landlord or mortgage_request as the form needs.",
        ],
    )


EXAMPLE = {
    "type": "vendor",
    "first_name": "Marla",
    "last_name": "Singer",
    "email": "marla@example.com",
    "phone": "07986 000000",
    "postcode": "DE1 1JX",
    "gdpr_checkbox": True,
    "meta": {"Page": "Contact us"},
}


def curl_json(base: str, key: str) -> Snippet:
    body = json.dumps(EXAMPLE, indent=2)
    code = (
        f"curl {base}/api/v103/leads \\\n"
        f"  -H 'X-API-KEY: {key}' \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        "  -H 'Idempotency-Key: enquiry-1234' \\\n"
        f"  -d {shlex.quote(body)}"
    )
    return Snippet(
        "curl-json",
        "curl: JSON",
        "Create a lead from a terminal or a server. The same Idempotency-Key makes a retry "
        "safe (the first answer is replayed, nothing is created twice).",
        code,
        [f"Look up addresses: curl -H 'X-API-KEY: {key}' '{base}/api/v103/addresses?"
         "postcode=DE1%201JX'"],
    )  # fmt: skip


def curl_form(base: str, key: str) -> Snippet:
    fields = [
        ("type", "vendor"),
        ("first_name", "Marla"),
        ("last_name", "Singer"),
        ("email", "marla@example.com"),
        ("phone", "07986 000000"),
        ("postcode", "DE1 1JX"),
        ("gdpr_checkbox", "on"),
        ("meta[Page]", "Contact us"),
        ("questionnaire[Selling?]", "Yes"),
    ]
    lines = [f"curl {base}/api/v103/leads/valuation \\", f"  -H 'X-API-KEY: {key}' \\"]
    lines += [f"  --data-urlencode {shlex.quote(f'{k}={v}')} \\" for k, v in fields]
    return Snippet(
        "curl-form",
        "curl: a form body",
        "What a form plugin sends: application/x-www-form-urlencoded, every value a string. "
        "This one asks for an instant valuation.",
        "\n".join(lines).rstrip(" \\"),
    )


GRAVITY_FIELDS = [
    GravityField("type", "vendor (or a field whose value is sale, let, vendor, landlord)"),
    GravityField("first_name", "Name (First)"),
    GravityField("last_name", "Name (Last)"),
    GravityField("email", "Email"),
    GravityField("phone", "Phone"),
    GravityField("postcode", "Address (ZIP / Postal Code)"),
    GravityField("address", "Address (Street Address)"),
    GravityField("message", "Paragraph Text"),
    GravityField("gdpr_checkbox", "Consent"),
    GravityField("property_bedrooms", "Number field (digits)"),
    GravityField("meta[Form]", "{form_title}"),
    GravityField("questionnaire[Are you selling?]", "Radio Buttons"),
    GravityField("host", "{embed_url}"),
]


def gravity_forms(base: str) -> Snippet:
    key = SECRET_PLACEHOLDER  # a server sends the webhook: never a publishable key
    rows = "\n".join(f"  {f.key:<34} {f.value}" for f in GRAVITY_FIELDS)
    code = f"""Request URL:     {base}/api/v103/leads
                 ({base}/api/v103/leads/valuation for an instant valuation)
Request Method:  POST
Request Format:  FORM
Request Headers: X-API-KEY        {key}
                 Idempotency-Key  gf-{{entry_id}}
Request Body:    Select Fields
  Key                                Value
{rows}"""
    return Snippet(
        "gravity-forms",
        "Gravity Forms: webhook set-up",
        "Forms → your form → Settings → Webhooks → Add New. The webhook is sent by your "
        "WordPress server, not the visitor's browser: use a secret token (create one above; "
        "it is shown once).",
        code,
        [
            "Format FORM sends every value as text, as Doorstep expects: digits for numbers, "
            "on (a ticked checkbox), true/false or 1/0 for consent.",
            "Idempotency-Key gf-{entry_id}: when Gravity Forms retries a webhook, Doorstep "
            "replays its first answer and creates no second lead.",
            "Keys in brackets fill the lead's objects: meta[...] for your own fields, "
            "questionnaire[question] for answers.",
        ],
    )
