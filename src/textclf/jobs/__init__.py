"""One function per CLI verb: typed options in, a result out, nothing printed that the CLI should
print. Layers only look down: cli -> jobs -> classifier / models / evaluation / analysis / audit /
serving -> data, text, training -> config, errors, fileio."""
