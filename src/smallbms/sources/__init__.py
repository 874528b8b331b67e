"""Battery sources: where readings come from (scripted points, the twin, hardware)."""
