"""End-to-end tests: ``judgekit eval`` in a subprocess against the local OpenAI-compatible server.

The fixtures ``openai_server`` / ``openai_env`` / ``no_openai_env`` come from ``tests/conftest.py``;
helpers live in ``e2e_support.py`` (this directory is on ``sys.path`` for its test modules).
"""
