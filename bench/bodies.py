"""Realistic create-lead bodies: the same deterministic sequence is sent to both servers.

The mix makes every part of Doorstep's create path do real work:
* people: most leads are new people, a pool of returning people repeats email and phone (so
  groups form, and several creates for one person can be in flight at once), a few share only
  a phone number;
* postcodes: real unit postcodes (``data/postcodes.csv``, sampled from ONS NSPL May 2025) in
  districts the demo offices cover and in districts they do not (nearest-coverage routing),
  unit postcodes whose coordinates are not imported (sector precision), bare outward codes,
  lower-case and unspaced spellings, and sale/let leads without any postcode (default office);
* optional fields: message, meta, questionnaire, availability, utm tags, property details.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

POSTCODES_CSV = Path(__file__).parent / "data" / "postcodes.csv"

FIRST = [
    "Marla",
    "Tyler",
    "Robert",
    "Jane",
    "Amira",
    "Oliver",
    "Priya",
    "Tom",
    "Grace",
    "Kwame",
    "Siobhan",
    "Wei",
    "Fatima",
    "Callum",
    "Elena",
    "Hamza",
    "Isla",
    "Noah",
    "Chloe",
    "Arjun",
    "Megan",
    "Dylan",
    "Zara",
    "Owen",
    "Freya",
    "Luca",
    "Niamh",
    "Rhys",
    "Aisha",
    "Ben",
]
LAST = [
    "Singer",
    "Durden",
    "Paulson",
    "Smith",
    "Khan",
    "Jones",
    "Patel",
    "Brown",
    "Taylor",
    "Mensah",
    "O'Neill",
    "Zhang",
    "Ali",
    "Campbell",
    "Rossi",
    "Hussain",
    "Murray",
    "Evans",
    "Wright",
    "Sharma",
    "Hughes",
    "Thomas",
    "Begum",
    "Davies",
    "Walsh",
]
SOURCES = ("rightmove", "zoopla", "onthemarket", "homepage", "RightMove", "facebook", None)
TYPES = (("sale", 40), ("let", 20), ("vendor", 20), ("landlord", 10), ("mortgage_request", 10))
PROPERTY_TYPES = ("detached", "semi-detached", "terraced", "flat-maisonette")
LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


def load_postcodes() -> list[str]:
    with POSTCODES_CSV.open(encoding="utf-8") as f:
        return [row["postcode"] for row in csv.DictReader(f)]


def _phone(rng: random.Random) -> str:
    n = rng.randrange(900000, 999999)
    return rng.choice((f"07700 {n}", f"07700{n}", f"+44 7700 {n}", f"01623 {n}"))


class BodyMaker:
    """Deterministic for a seed: both servers of a round get exactly the same bodies."""

    def __init__(self, seed: int, tag: str, returning: int = 400) -> None:
        self.rng = random.Random(seed)
        self.tag = tag  # makes "new" people new in every run
        self.postcodes = load_postcodes()
        self.people = [self._person(i, "r") for i in range(returning)]
        self.n = 0

    def _person(self, i: int, kind: str) -> dict[str, str]:
        rng = self.rng
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first}.{last}.{kind}{i}.{self.tag}@example.com".replace("'", "").lower()
        return {"first_name": first, "last_name": last, "email": email, "phone": _phone(rng)}

    def _postcode(self) -> str | None:
        rng = self.rng
        pc = rng.choice(self.postcodes)
        r = rng.random()
        if r < 0.55:
            return pc
        if r < 0.70:
            # Same sector, a unit whose coordinates were not imported: sector precision.
            return pc[:-2] + rng.choice(LETTERS) + rng.choice(LETTERS)
        if r < 0.80:
            return pc.replace(" ", "").lower()
        if r < 0.90:
            return pc.split(" ")[0]  # a bare outward code: district routing
        return None

    def body(self) -> dict[str, Any]:
        rng = self.rng
        self.n += 1
        r = rng.random()
        # A returning person on one request in ten (issue 14), a new one otherwise; a few new
        # people share a returning one's phone (grouped by phone).
        if r < 0.10:
            person = rng.choice(self.people)
            if rng.random() < 0.2:  # matched case-insensitively
                person = {**person, "email": person["email"].capitalize()}
        elif r < 0.12:
            person = {**self._person(self.n, "p"), "phone": rng.choice(self.people)["phone"]}
        else:
            person = self._person(self.n, "n")
        lead_type = rng.choices([t for t, _ in TYPES], [w for _, w in TYPES])[0]
        body: dict[str, Any] = {"type": lead_type, **person}
        pc = self._postcode()
        if lead_type in ("sale", "let"):
            if pc:
                body["advert_postcode"] = pc
                body["advert_address"] = f"{rng.randrange(1, 200)} High Street"
                body["advert_url"] = f"https://portal.example.com/p/{rng.randrange(10**7)}"
            if rng.random() < 0.3:
                body["postcode"] = self._postcode()
        else:
            body["postcode"] = pc or rng.choice(self.postcodes)
            body["address"] = f"{rng.randrange(1, 200)} Mill Lane"
        if rng.random() < 0.1:
            body["type"] = body["type"].upper()
        if (source := rng.choice(SOURCES)) is not None:
            body["source"] = source
        if rng.random() < 0.6:
            body["message"] = "I would like to arrange a viewing, please call after 5pm."
        if rng.random() < 0.5:
            body["meta"] = {"Property ID": str(rng.randrange(10**6)), "Virtual Tour": "true"}
        if rng.random() < 0.3:
            body["questionnaire"] = [["Do you have a property to sell?", rng.choice("YN")]]
        if rng.random() < 0.3:
            body["appointment_availability"] = {"hours": ["2026-01-01T08:00:00.000Z"]}
        if rng.random() < 0.4:
            body["utm_source"], body["utm_campaign"] = "google", "spring"
        if rng.random() < 0.3:
            body["property_type"] = rng.choice(PROPERTY_TYPES)
            body["property_bedrooms"] = rng.randrange(0, 6)
        if rng.random() < 0.5:
            body["gdpr_checkbox"] = True
        return body
