"""The dg defs folder of this repository's project: one RivetExports component per config."""
