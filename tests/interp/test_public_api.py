"""`frobnoscope.interp` exports its public API lazily: every listed name resolves, and to the object its module defines."""

import importlib
import subprocess
import sys

import frobnoscope.interp as interp


def test_every_exported_name_is_the_object_its_module_defines():
    for name in interp.__all__:
        module = importlib.import_module(interp._MODULE_OF[name])
        assert getattr(interp, name) is getattr(module, name), name


def test_importing_a_maths_module_does_not_load_captum():
    code = "import sys, frobnoscope.interp.probes.ridge; print('captum' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
