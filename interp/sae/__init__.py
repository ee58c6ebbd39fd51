"""frobnoscope.interp.sae."""
