"""The words the demo data is made of: names, products, ticket titles, comment bodies, weights."""

from __future__ import annotations

FIRST_NAMES = (
    "Ana", "Ben", "Chloe", "Dev", "Elif", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Liam",
    "Mei", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Viktor", "Wen", "Yara", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Alvarez", "Brown", "Chen", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Jensen",
    "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Petrov", "Rossi", "Silva", "Tanaka", "Novak",
)  # fmt: skip
DOMAINS = ("example.com", "example.org", "acme.test", "globex.test", "initech.test")
PRODUCTS = (
    "billing portal", "mobile app", "web dashboard", "public API", "invoice export", "SSO login",
    "notification emails", "reporting module", "data import", "team settings",
)  # fmt: skip
PLANS = ("Starter", "Team", "Business", "Enterprise")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "the weekend")
ACTIONS = (
    "uploading a file",
    "saving changes",
    "opening a report",
    "switching accounts",
    "paying an invoice",
)
# (title template, topic tag)
TITLES = (
    ("Refund not received for order #{n}", "refund"),
    ("Requesting a refund for the {plan} plan", "refund"),
    ("Charged twice for the {plan} subscription", "billing"),
    ("Invoice #{n} shows the wrong VAT number", "billing"),
    ("Cannot log in to the {product}", "login"),
    ("Password reset email never arrives", "login"),
    ("The {product} crashes when {action}", "bug"),
    ("Error 500 in the {product} since {day}", "bug"),
    ("The {product} is very slow since {day}", "performance"),
    ("Export to CSV times out in the {product}", "performance"),
    ("How do I add a user to my team?", "how-to"),
    ("How do I change the billing address?", "how-to"),
    ("Feature request: dark mode for the {product}", "feature-request"),
    ("Feature request: webhooks for the {product}", "feature-request"),
    ("Please delete my account and data", "privacy"),
    ("Upgrade from {plan} to Enterprise", "sales"),
)  # fmt: skip
EXTRA_TAGS = ("urgent-customer", "vip", "mobile", "web", "api", "enterprise", "regression", "follow-up")
OPENINGS = (
    "Hi team,", "Hello,", "Good morning,", "Hi there,", "Dear support,", "Hey,",
)  # fmt: skip
DETAILS = (
    "Since yesterday the page keeps loading forever and then shows an error.",
    "I already cleared my browser cache and tried a different browser.",
    "My colleague sees the same problem on her account.",
    "We were charged on the 3rd but the payment does not show in the billing history.",
    "The refund was promised two weeks ago and has not arrived on my card.",
    "This blocks our month-end reporting, so it is quite urgent for us.",
    "I attached a screenshot of the error message.",
    "It worked fine last week, nothing changed on our side.",
    "The order number is in the subject line.",
    "We are on the {plan} plan with about 40 seats.",
    "It happens only on the mobile app, the website works.",
    "Could you tell me whether this is a known issue?",
)  # fmt: skip
CLOSINGS = (
    "Thanks!",
    "Best regards.",
    "Thank you for your help.",
    "Cheers.",
    "Looking forward to your reply.",
)
COMMENT_BODIES = (
    "Thanks for reaching out, we are looking into it.",
    "Could you send us the exact time when this happened?",
    "I can reproduce this on our side and have escalated it to engineering.",
    "The refund has been issued and should reach your card within 5 business days.",
    "Any update on this?",
    "It works again now, thank you.",
    "Still happening for me this morning.",
    "We deployed a fix; please try again and let us know.",
    "Internal: customer is on an annual contract, handle with priority.",
    "Internal: linked to the incident from last Tuesday.",
    "Closing this ticket as resolved. Reply to reopen it.",
    "Here is the screenshot you asked for.",
)  # fmt: skip
STATUS_OLD = (("closed", 70), ("resolved", 25), ("open", 3), ("in_progress", 2))
STATUS_RECENT = (("open", 45), ("in_progress", 30), ("resolved", 20), ("closed", 5))
PRIORITIES = (("low", 20), ("normal", 50), ("high", 22), ("urgent", 8))
