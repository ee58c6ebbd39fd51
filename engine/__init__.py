"""frobnoscope.engine."""
