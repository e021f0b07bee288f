"""Grading: a recording's features through the item's active model into a stored proposal;
the model registry; learning from the clinicians' confirmed grades."""
