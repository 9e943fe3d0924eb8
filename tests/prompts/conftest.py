"""The prompts' plans come from the explain engine: its fixtures (tests/explain/conftest.py) here too."""

from tests.explain.conftest import explain_engine as explain_engine
from tests.explain.conftest import explain_settings as explain_settings
from tests.explain.conftest import explain_url as explain_url
from tests.explain.conftest import explainer as explainer
