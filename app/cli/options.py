"""Help texts of command-line options that several commands share."""

# help texts are rich markup: a backslash keeps "[distributed]" from being read as a tag
RAY_HELP = ("address (HOST:PORT) of a running Ray cluster: run the blocks there on --workers actors "
            "(needs frobnoscope\\[distributed])")
