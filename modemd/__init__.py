"""modemd: send SMS and one-time passcodes from your own SIM over AT commands."""

__version__ = "0.1.0"
