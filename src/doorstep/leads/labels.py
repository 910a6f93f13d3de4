"""How lead sources are named to people (the API keeps the lower-case codes)."""

SOURCE_NAMES = {
    "rightmove": "Rightmove",
    "rightmove_valuation": "Rightmove valuation",
    "zoopla": "Zoopla",
    "zoopla_valuation": "Zoopla valuation",
    "onthemarket": "OnTheMarket",
    "gumtree": "Gumtree",
    "s1": "S1 Homes",
    "lettingweb": "LettingWeb",
    "propertypal": "PropertyPal",
    "propertynews": "PropertyNews",
    "ivt": "Instant valuation",
    "homepage": "Homepage",
}


def source_name(value: str | None) -> str:
    if not value:
        return "—"
    return SOURCE_NAMES.get(value, value.replace("_", " ").capitalize())


PROPERTY_TYPE_NAMES = {
    "detached": "Detached",
    "semi-detached": "Semi-detached",
    "terraced": "Terraced",
    "flat-maisonette": "Flat or maisonette",
}


def property_type_name(value: str | None) -> str:
    if not value:
        return "—"
    return PROPERTY_TYPE_NAMES.get(value, value.replace("_", " ").replace("-", " ").capitalize())
