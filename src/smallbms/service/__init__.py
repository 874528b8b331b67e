"""The running device: real-time loop, storage, HTTP API and pages."""
