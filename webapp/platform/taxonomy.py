"""The fixed vocabularies residents choose from (alert categories, concern topics, channels)."""

# Alert categories residents subscribe to (the survey's "which updates").
CATEGORIES: dict[str, str] = {
    "prevention": "Crime prevention advice",
    "events": "Local events and meetings",
    "appeals": "Incident updates and appeals for information",
    "outcomes": "Successful outcomes and operations",
}

# "What matters most to you here": residents pick up to three.
CONCERN_TOPICS: dict[str, str] = {
    "asb": "Antisocial behaviour",
    "burglary": "Burglary",
    "vehicle": "Vehicle crime",
    "ebikes": "Dangerous e-bikes and e-scooters",
    "phone_theft": "Phone theft and robbery",
    "shoplifting": "Shoplifting",
    "drugs": "Drugs",
    "knife_crime": "Knife crime and violence",
    "vawg": "Violence against women and girls",
    "youth": "Young people's safety",
    "visibility": "Police visibility",
    "fraud": "Fraud and scams",
    "road_safety": "Road safety",
    "hate_crime": "Hate crime",
    "other": "Something else",
}
MAX_CONCERNS = 3
CONCERN_TEXT_MAX = 280

# How a resident wants email: each alert as it happens, one daily digest, or none.
EMAIL_FREQUENCIES: dict[str, str] = {
    "immediate": "Email me each update as it happens",
    "digest": ("One email a day with that day's alerts, ward news and meeting invitations "
               "(replies and urgent alerts still come at once)"),
    "off": "No emails",
}
MAX_EXTRA_WARDS = 2
