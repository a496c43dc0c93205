"""Training: the schema of the settings (:mod:`.config`), the datasets (:mod:`.data` and the modules it
gathers), the engine (:mod:`.trainer` with :mod:`.optim`, :mod:`.evaluation`, :mod:`.observe`), its events
and its checkpoints. No Qt."""
