"""`frob study`: the whole pipeline from one YAML file (`schema`), planned as stages in a workspace (`plan`), run
resumably (`runner`), with built-in studies (`builtin`) and a summary of what was found (`summary`)."""
