"""The project's shared core: vocabulary, domain model, statistics, gates, ids, rows and CLI failure.

``collector/``, ``validator/`` and ``dataset_card/`` all build on it; it imports none of them.
"""
