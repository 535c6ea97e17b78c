"""Record which config keys each workflow script reads (only when ``TRIAL_RECORD_CONFIG_READS``
names a folder; ``tests/workflow/test_stale_results.py`` puts this folder on ``PYTHONPATH``).

A job's script gets the whole config as ``snakemake.config``; here that mapping is replaced, in
the job's own process, by one that notes every section and every key within a section that is
looked up, and writes them at exit to ``<folder>/<rule>.<pid>.json`` as paths such as
``["analysis", "alpha"]`` (``"*"``: every key of that mapping was listed), with the job's params
and the config it was given.
"""

import os

FOLDER = os.environ.get("TRIAL_RECORD_CONFIG_READS")

if FOLDER:
    import atexit
    import json

    from snakemake import script

    READS: set[tuple[str, ...]] = set()
    DEPTH = 2  # a section and one key within it

    class Recorder(dict):
        """A config mapping that notes each key looked up below ``path``."""

        def __init__(self, data, path=()):
            super().__init__(data)
            self.path = path

        def _note(self, key, value):
            path = (*self.path, str(key))
            if isinstance(value, dict) and len(path) < DEPTH:
                return Recorder(value, path)
            READS.add(path)
            return value

        def __getitem__(self, key):
            return self._note(key, super().__getitem__(key))

        def get(self, key, default=None):
            return self._note(key, super().get(key, default))

        def __contains__(self, key):
            READS.add((*self.path, str(key)))
            return super().__contains__(key)

        def _all(self):
            READS.add((*self.path, "*"))

        def __iter__(self):
            self._all()
            return super().__iter__()

        def keys(self):
            self._all()
            return super().keys()

        def items(self):
            self._all()
            return super().items()

        def values(self):
            self._all()
            return super().values()

        def __reduce__(self):
            self._all()
            return dict, (dict(super().items()),)

        def __deepcopy__(self, memo):
            import copy

            self._all()
            return copy.deepcopy(dict(super().items()), memo)

    def _config(self):
        wrapped = self.__dict__.get("_recorded_config")
        if wrapped is None:
            wrapped = self.__dict__["_recorded_config"] = Recorder(self.__dict__["config"])
        return wrapped

    def _set_config(self, value):
        self.__dict__["config"] = value

    script.Snakemake.config = property(_config, _set_config)

    def _write():
        job = script.Snakemake.__dict__.get("_job")
        if job is None:
            return
        record = {
            "reads": sorted(READS),
            "params": dict(job.params.items()),
            "config": job.__dict__["config"],
        }
        path = os.path.join(FOLDER, f"{job.rule}.{os.getpid()}.json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(record, handle, default=str)

    def _setstate(self, state):
        self.__dict__.update(state)
        script.Snakemake._job = self

    script.Snakemake.__setstate__ = _setstate
    atexit.register(_write)
