"""Search spaces: parse, validate, encode, mutate, sample, hash. One module per space:
``nasfast.spaces.nb201``, ``nasfast.spaces.nb101``, ``nasfast.spaces.darts``."""
