"""The sample contacts and flows, installed as the package data `crmctl.sample_data`.

This directory is the only copy: setup.py maps it onto that package, and crmctl reads it
with importlib.resources (see crmctl/sample.py). Regenerate the contacts with generate.py.
"""
