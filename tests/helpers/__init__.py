"""Helpers shared by the test modules: plain functions and data, no fixtures (those live in tests/conftest.py).

A test module imports from here, never from another test module or from conftest.py;
tests/test_test_layout.py checks it.
"""
