"""A wheel carries copies of the script folders here; a checkout keeps them at its root."""

import os.path

_here = os.path.dirname(__file__)
if not os.path.isdir(os.path.join(_here, "versioning")):
    __path__.append(os.path.dirname(os.path.dirname(os.path.dirname(_here))))
