"""Tests of gallery/: metrics, search, store, protocol, report and the matching stages."""
