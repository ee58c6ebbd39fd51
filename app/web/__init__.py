"""The exploration app (Streamlit): `frob app WORKSPACE`; `main` is the file streamlit runs."""
