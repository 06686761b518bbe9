"""monitor: an event-sourced service that alerts when political actors change their stance."""

__version__ = "0.1.0"
