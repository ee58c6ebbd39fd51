"""Activation capture, probes, SAEs, attribution: see the issues that build them."""
