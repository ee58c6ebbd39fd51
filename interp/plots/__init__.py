"""frobnoscope.interp.plots.evaluation."""
