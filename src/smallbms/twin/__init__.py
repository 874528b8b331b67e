"""The digital twin (SPEC 16): a vectorised physical model of the batteries, chargers and loads."""
