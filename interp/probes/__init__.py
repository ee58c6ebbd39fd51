"""frobnoscope.interp.probes."""
