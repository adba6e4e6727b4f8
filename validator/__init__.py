"""eco-validate: the gate every submission passes before it enters the dataset.

Public API for the other tools: ``validator.check.check_document`` (a document in memory),
``validator.check.check_file`` (one file, with its measurement hashes and the parsed submission) and
``validator.run.report_for`` (the checks that need several files, and the report).
"""
