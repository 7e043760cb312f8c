"""Fakes of the platforms the inbox talks to: real local servers, as strict as the real ones."""
