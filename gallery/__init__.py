"""Embeddings to decisions: enrolment, 1:1 and 1:N matching, and evaluation."""
