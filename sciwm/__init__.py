"""sciwm: scientific world models — learned surrogate simulators for time-dependent PDEs."""

from sciwm.errors import SciwmError

__version__ = "0.1.0"
__all__ = ["SciwmError", "__version__"]
