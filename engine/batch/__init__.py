"""Batch extraction and grading of a manifest of videos (``aqa batch``).

The driver (``engine.batch.driver``) reads the manifest, turns each row into a ``Task``
(``engine.batch.task``), hands the tasks to a runner — Ray (``engine.batch.ray_runner``), one task
per video, or a local process pool (``engine.batch.local``) when Ray is not installed — and
writes each outcome to ``results.jsonl`` (``engine.batch.results``) and, with ``--store``, to the
database. Workers only read videos and the content-addressed cache; the database stays with the
driver.
"""
