"""The ``smallbms run`` configuration's tables as pydantic models (built on
:mod:`smallbms.schema`, like scenario files): the ``[run]`` table (:mod:`.run`) and the
integration tables (:mod:`.integrations`).

The service reads the whole file with :func:`smallbms.service.config.load_config`; each
integration imports its own table's model from here. May import: :mod:`smallbms.schema`,
:mod:`smallbms.errors`, the core's types; never the service or an integration.
"""
