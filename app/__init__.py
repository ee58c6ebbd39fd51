"""The `frob` command line and the Streamlit app."""
