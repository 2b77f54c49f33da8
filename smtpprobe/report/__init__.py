"""Renderers for scenario results: a table for people, JSON (schema 1) and JUnit XML for CI."""
