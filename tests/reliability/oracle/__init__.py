"""Test tooling (no product module imports it). The reliability campaign: fault schedules for
the twin, a ground-truth recorder and an invariant
checker that decides from SPEC 5-7 alone whether the outputs ever left the safe state.

- :mod:`.truth`: what the twin really did at every BMS tick (recorded beside a run);
- :mod:`.invariants`: the checker (an oracle written from the spec, independent of the core);
- :mod:`.faults`: random, seeded fault schedules covering every event action of SPEC 17;
- :mod:`.campaign`: long twin runs of the manual's system examples with those faults, checked;
- :mod:`.toml_out`: writes a campaign run back out as a scenario file.
"""
