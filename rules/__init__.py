"""Rule modules. Each module registers its checks with azbdiag.engine.rule; the engine imports
every module here. Keep a rule's facts, its decision and its fix close together."""
