"""The outside world, simulated: a deterministic synthetic stream (``synth``) and a fake X API v2
server (``xapi``), both building their tweets from the shared ``people``, ``tweets``, ``clock``
and ``v2_json`` modules.
"""
