"""The oracles the tests check polyscan against, sharing only the layer definitions
(``polyscan.model``) with it: ``simulator`` (DESIGN sections 4 and 5 over explicit element
sets, with its own tile sequences and result type), ``stream`` (the DRAM address stream,
element by element, from the simulator's sets) and ``reference`` (numpy evaluation)."""
