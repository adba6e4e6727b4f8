"""The project's shared core: vocabulary, domain model, statistics, gates, ids, rows, CLI failure and
the check before reading a small file (``smallfile``).

``collector/``, ``validator/`` and ``dataset_card/`` all build on it; it imports none of them.
"""
